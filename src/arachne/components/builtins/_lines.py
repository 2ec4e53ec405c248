"""Lines of a file or pipe read by a daemon thread, so a slow pipe never blocks the loop.

The thread reads with ``os.read`` on a descriptor of its own, not through Python's buffered
``sys.stdin``: a daemon thread blocked inside a buffered reader aborts the interpreter at exit.
A named pipe (FIFO) is opened by the thread too, since opening one waits for a writer; every
wait of the thread (for a writer, for data) ends soon after :meth:`LineReader.close`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import select
import stat
import threading
from collections.abc import Iterator
from typing import IO, Final

__all__ = [
    "END",
    "POLL",
    "LineReader",
    "TooLong",
    "Truncated",
    "is_fifo",
    "wait_for_reader",
    "waits_for_data",
    "write_all",
]

END: Final = object()
"""Placed in the queue after the last line."""

CHUNK: Final = 1 << 16
"""Bytes asked of one ``os.read``."""

POLL: Final = 0.1
"""Seconds a thread waits on a pipe before it looks again whether it was closed."""

RELEASE_TRIES: Final = 100
"""Attempts (a millisecond apart) to let go of a thread about to wait for a FIFO's writer."""


class TooLong:
    """Stands for a line longer than the limit; the line itself was dropped unread."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


class Truncated:
    """Stands for a last line without a newline: the input was cut off, the line not used."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


Item = bytes | TooLong | Truncated | BaseException | object


def is_fifo(path: str) -> bool:
    """Say whether ``path`` names a named pipe (False if there is nothing there)."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def waits_for_data(fd: int) -> bool:
    """Say whether reading ``fd`` can wait for ever (a pipe, a terminal), and ``select`` works."""
    return os.name == "posix" and not stat.S_ISREG(os.fstat(fd).st_mode)


def wait_for_reader(path: str, closed: threading.Event) -> int | None:
    """Open the FIFO at ``path`` for writing once it has a reader; None if ``closed`` first.

    A blocking open would wait in the kernel, past any stop; this one looks every
    :data:`POLL` seconds. The descriptor is non-blocking: write it with :func:`write_all`.
    """
    while not closed.is_set():
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
        closed.wait(POLL)
    return None


def write_all(fd: int, data: bytes, closed: threading.Event) -> bool:
    """Write ``data`` to the non-blocking ``fd`` as the reader makes room; False if ``closed``."""
    view = memoryview(data)
    while view:
        if closed.is_set():
            return False
        if not select.select([], [fd], [], POLL)[1]:
            continue
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue
    return True


class LineReader:
    """Reads lines into a bounded queue in a daemon thread; :meth:`take` never blocks.

    The source is a descriptor the reader owns (it closes it when done), the path of a named
    pipe (opened by the thread, as opening one waits for a writer), or a text stream without
    a descriptor (a ``StringIO`` standing in for stdin), read line by line and encoded. The
    queue holds at most ``depth`` lines, so a fast file waits for its consumer; a line longer
    than ``max_line`` bytes becomes a :class:`TooLong`, and a last line without a newline a
    :class:`Truncated`. A read error is handed over in order, then :data:`END`.
    """

    def __init__(
        self,
        source: int | str | IO[str],
        *,
        name: str,
        max_line: int,
        encoding: str = "utf-8",
        depth: int = 128,
    ) -> None:
        self._source = source
        self._max = max_line
        self._encoding = encoding
        self._queue: queue.Queue[Item] = queue.Queue(depth)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._opening = False  # the thread is in (or about to enter) the FIFO's open
        self._opened = threading.Event()  # the thread is out of it
        self._release: int | None = None  # a writer end held open so that open returns
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def take(self, limit: int) -> list[Item]:
        """Return up to ``limit`` items that are ready (possibly none), without waiting."""
        items: list[Item] = []
        get = self._queue.get_nowait
        try:
            while len(items) < limit:
                items.append(get())
        except queue.Empty:
            pass
        return items

    def close(self) -> None:
        """Stop reading: the thread ends within :data:`POLL` seconds and closes what it opened.

        A thread still waiting for a FIFO's writer is let go by opening the writer end here,
        held until the thread is out of ``open`` so that it cannot miss it.
        """
        self._closed.set()
        for _ in range(RELEASE_TRIES):
            with self._lock:
                if not self._opening or self._release is not None:
                    break
                try:
                    self._release = os.open(str(self._source), os.O_WRONLY | os.O_NONBLOCK)
                    break
                except OSError as exc:
                    if exc.errno != errno.ENXIO:
                        break  # no write permission: it waits for a writer, a daemon thread
            # ENXIO: the thread is not inside open yet (a window of microseconds).
            self._opened.wait(0.001)
        self.take(1 << 30)  # unblock a put waiting for room

    def _run(self) -> None:
        source: int | str | IO[str] | None = self._source
        try:
            if isinstance(source, str):
                source = self._open_fifo(source)
            self._split(self._chunks(source))
        except BaseException as exc:  # handed to the consumer, which reports it
            self._put(exc)
        finally:
            if isinstance(source, int):
                with contextlib.suppress(OSError):
                    os.close(source)
            self._put(END)

    def _open_fifo(self, path: str) -> int | None:
        """Open the FIFO at ``path`` for reading, which waits for a writer; None if closed."""
        with self._lock:
            if self._closed.is_set():
                return None
            self._opening = True
        try:
            return os.open(path, os.O_RDONLY)
        finally:
            with self._lock:
                self._opening = False
                release, self._release = self._release, None
            self._opened.set()
            if release is not None:
                os.close(release)

    def _chunks(self, source: int | IO[str] | None) -> Iterator[bytes]:
        wait = isinstance(source, int) and waits_for_data(source)
        while not self._closed.is_set():
            if source is None:
                return
            if isinstance(source, int):
                if wait and not select.select([source], [], [], POLL)[0]:
                    continue  # nothing yet: look at the closed flag again
                chunk = os.read(source, CHUNK)
            else:
                chunk = source.readline(CHUNK).encode(self._encoding, "surrogateescape")
            if not chunk:
                return
            yield chunk

    def _split(self, chunks: Iterator[bytes]) -> None:
        pending = bytearray()
        dropped = 0  # bytes of an overlong line being skipped
        for chunk in chunks:
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                if dropped:
                    self._put(TooLong(dropped + end - start))
                    dropped = 0
                elif len(pending) + end - start > self._max:
                    self._put(TooLong(len(pending) + end - start))
                else:
                    self._put(bytes(pending + chunk[start:end]))
                pending.clear()
                start = end + 1
            rest = len(chunk) - start
            if dropped or len(pending) + rest > self._max:
                dropped += len(pending) + rest
                pending.clear()
            else:
                pending += chunk[start:]
        if dropped:
            self._put(TooLong(dropped))
        elif pending.strip():  # trailing blanks are only blank
            self._put(Truncated(len(pending)))

    def _put(self, item: Item) -> None:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            return
