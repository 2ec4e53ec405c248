"""Isolate workers: processes that run component code, and the framing to talk to them.

A ``Worker`` starts ``_worker.py`` by path in a process of its own (``python -I``: no user
site, no environment), with an empty environment and only its three standard streams; the
worker confines itself (``_confine``) before it runs any component code. It
sends requests and reads replies as frames (a 4-byte big-endian length, then UTF-8 JSON)
over its stdin and stdout; a reader thread resolves each request's future by id. A worker
that dies (a crash, ``SIGKILL``, a CPU limit) fails every request it had not answered with
``WorkerCrashed``, naming the signal; nothing it was doing reaches the runtime's process.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any, Final

from arachne.components.code._js import RUNTIME
from arachne.components.expressions._harness import LOCKDOWN

__all__ = ["MAX_FRAME", "WORKER", "Worker", "WorkerCrashed"]

MAX_FRAME: Final = 16 << 20
"""Bytes of one frame, either way: a larger request is refused before it is sent."""

WORKER: Final = Path(__file__).with_name("_worker.py")
"""The worker script, run by path so that it imports nothing of the runtime."""


class WorkerCrashed(RuntimeError):
    """The worker died before it answered (its exit status or signal is named)."""


class Worker:
    """One isolate worker process; :meth:`request` returns a future of its reply.

    Requests are written by a writer thread of the worker's own and replies read by a reader
    thread, so a caller (the event loop) never blocks on the worker's pipes. Whatever the
    worker writes is suspect: a reply that is not a frame of an object with a known ``id``
    ends the worker, and every request it had not answered fails.
    """

    def __init__(self, *, address_space: int | None = None) -> None:
        """Start the worker and send it ``hello`` (the trusted scripts and the address space).

        This does not wait: requests queue behind ``hello`` and the worker answers in order.
        The worker dies with the thread that starts it (``PR_SET_PDEATHSIG``): start it from
        a thread that outlives it (the pool keeps one for that).
        :attr:`hello` is the future of its reply (its pid, engines and confinement report).
        """
        self._proc = subprocess.Popen(  # noqa: S603  # our own script, by path
            [sys.executable, "-I", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,  # a Ctrl-C at the terminal is the runtime's to handle
            env={},
        )
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()
        self._dead: WorkerCrashed | None = None
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.progress = time.monotonic()
        """When the worker last answered (or started): a watchdog's sign that it works."""
        self._reader = threading.Thread(
            target=self._read_replies, name=f"arachne-isolate-{self.pid}", daemon=True
        )
        self._writer = threading.Thread(
            target=self._write_requests, name=f"arachne-isolate-{self.pid}-in", daemon=True
        )
        self._reader.start()
        self._writer.start()
        self.hello: Future[Any] = self.request(
            "hello", lockdown=LOCKDOWN, runtime=RUNTIME, addressSpace=address_space
        )

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self._proc.pid

    @property
    def alive(self) -> bool:
        """Whether the worker still answers (it has not died or been closed)."""
        return self._dead is None

    @property
    def waiting(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._pending)

    def request(self, op: str, **fields: Any) -> Future[Any]:
        """Send ``{"op": op, **fields}``; the future holds its ``result`` (or the error).

        Never blocks on the worker. A request over :data:`MAX_FRAME` raises ``ValueError``.
        """
        future: Future[Any] = Future()
        with self._lock:
            request_id = next(self._ids)
        body = json.dumps({"id": request_id, "op": op, **fields}, separators=(",", ":"))
        data = body.encode("utf-8")
        if len(data) > MAX_FRAME:
            raise ValueError(f"a request of {len(data):,} bytes is over {MAX_FRAME:,}")
        with self._lock:
            if self._dead is not None:
                future.set_exception(self._dead)
                return future
            self._pending[request_id] = future
        self._outbox.put(struct.pack(">I", len(data)) + data)
        return future

    def kill(self) -> None:
        """End the worker at once (``SIGKILL``): its unanswered requests fail."""
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()

    def close(self, timeout: float = 5.0) -> None:
        """End the worker: its input closes (it exits), killed if it does not in time."""
        self._outbox.put(None)  # the writer closes the worker's input after what is queued
        self._writer.join(timeout)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout)
        stdout = self._proc.stdout
        if stdout is not None:
            stdout.close()

    def _write_requests(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None  # noqa: S101  # opened as a pipe
        try:
            while (frame := self._outbox.get()) is not None:
                stdin.write(frame)
                stdin.flush()
        except OSError:
            pass  # it died: the reader fails what is pending as it sees the end
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def _read_replies(self) -> None:
        stdout = self._proc.stdout
        assert stdout is not None  # noqa: S101  # opened as a pipe
        error: WorkerCrashed | None = None
        try:
            while (reply := _read_frame(stdout)) is not None:
                request_id = reply.get("id") if isinstance(reply, dict) else None
                if not isinstance(request_id, int):
                    raise ValueError("a reply that is not an object with an int id")
                with self._lock:
                    future = self._pending.pop(request_id, None)
                if future is None:
                    raise ValueError(f"a reply to request {request_id}, which is not waiting")
                self.progress = time.monotonic()
                if reply.get("ok") is True:
                    future.set_result(reply.get("result"))
                else:
                    future.set_exception(RuntimeError(str(reply.get("error"))[:1000]))
        except Exception as exc:  # anything the worker sent that is not a reply
            error = WorkerCrashed(
                f"worker {self.pid} sent a broken reply ({type(exc).__name__}: {exc}); it was ended"
            )
            self._proc.kill()
        finally:
            self._fail(error or self._ended())
            self._outbox.put(None)  # the writer ends too

    def _ended(self) -> WorkerCrashed:
        code = self._proc.wait()
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
            return WorkerCrashed(f"worker {self.pid} was ended by {name}")
        return WorkerCrashed(f"worker {self.pid} exited with status {code}")

    def _fail(self, error: WorkerCrashed) -> None:
        with self._lock:
            self._dead = error
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(error)

    def __repr__(self) -> str:
        return f"Worker(pid={self.pid}, alive={self.alive})"


def _read_frame(stream: IO[bytes]) -> Any:
    """Return the next frame's JSON, or ``None`` at the end of the stream."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise ValueError(f"a frame of {size:,} bytes is over {MAX_FRAME:,}")
    body = stream.read(size)
    if len(body) < size:
        return None
    return json.loads(body.decode("utf-8"))
