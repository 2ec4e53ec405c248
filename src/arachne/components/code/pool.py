"""The isolate pool: worker processes shared by code component instances, and the instances.

At most ``size`` workers run (``ISOLATE_POOL_SIZE``); each code node's instance is placed on
the least-loaded one and stays there (its context lives in that worker), a new worker being
started while fewer than ``size`` run. A warm spare is kept started, so a replacement does not
wait for a process to start. A worker that dies takes its instances' unanswered calls with it
(each fails with ``WorkerCrashed``); each instance is loaded again, with the state the runtime
mirrors, on a live worker at its next call.

An :class:`Instance` gathers the calls made on the event loop in one turn into a batch, one
frame each way, with up to two batches in flight. A batch that takes far longer than its
time limits allow (a stopped or wedged worker) has its worker killed by a watchdog.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final

from arachne.components.code.isolates import MAX_FRAME, Worker, WorkerCrashed
from arachne.components.code.outcome import CodeError, Outcome, read_outcome

__all__ = ["DEFAULT_POOL_SIZE", "MAX_BATCH", "PIPELINE", "Instance", "IsolatePool"]

DEFAULT_POOL_SIZE: Final = 10
"""Workers the pool starts at most (the Runtime Service's ``ISOLATE_POOL_SIZE``)."""

MAX_BATCH: Final = 64
"""Calls one frame carries at most."""

PIPELINE: Final = 2
"""Batches of one instance in flight at once."""

_BATCH_BYTES: Final = MAX_FRAME // 4
"""Characters of values one frame carries at most (quoted in a frame, they may double)."""

_GRACE: Final = 10.0
"""Wall seconds a batch may take beyond twice its CPU time limits before its worker is killed."""


class IsolatePool:
    """Up to ``size`` worker processes, each confined to ``address_space`` bytes."""

    def __init__(
        self, size: int = DEFAULT_POOL_SIZE, *, address_space: int | None = 2 << 30
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(
                f"ISOLATE_POOL_SIZE must be a whole number of at least 1, got {size!r}"
            )
        self.size = size
        self.address_space = address_space
        self._lock = threading.Lock()
        self._load: dict[Worker, int] = {}
        self._spare: Worker | None = None
        self._closed = False
        self._ids = itertools.count(1)
        # A worker dies with the thread that started it (PR_SET_PDEATHSIG), so every worker is
        # started from this one thread, which lives as long as the pool.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="arachne-isolate-spawner")

    @property
    def workers(self) -> list[Worker]:
        """The live workers, for inspection and tests."""
        with self._lock:
            return [worker for worker in self._load if worker.alive]

    def place(self) -> Worker:
        """Return the worker a new (or reloaded) instance should live on, counting it there."""
        with self._lock:
            if self._closed:
                raise CodeError("the isolate pool is closed")
            dead = [w for w in self._load if not w.alive]
            for worker in dead:
                del self._load[worker]
            quiet = min(self._load, key=self._load.__getitem__, default=None)
            if quiet is None or (self._load[quiet] > 0 and len(self._load) < self.size):
                quiet = self._spare if self._spare is not None and self._spare.alive else None
                if self._spare is not None and quiet is None:
                    dead.append(self._spare)
                if quiet is None:
                    quiet = self._start()
                self._spare = self._start()
                self._load[quiet] = 0
            self._load[quiet] += 1
        for worker in dead:
            worker.close(timeout=1.0)  # its pipes and reader thread (the process has ended)
        return quiet

    def leave(self, worker: Worker) -> None:
        """Count one instance less on ``worker``."""
        with self._lock:
            if worker in self._load:
                self._load[worker] -= 1

    def instance_id(self) -> str:
        """Return a new id for an instance (unique within this pool)."""
        return f"i{next(self._ids)}"

    def close(self) -> None:
        """End every worker; later placements are refused."""
        with self._lock:
            self._closed = True
            workers = list(self._load)
            if self._spare is not None:
                workers.append(self._spare)
            self._load.clear()
            self._spare = None
        for worker in workers:
            worker.close()
        self._spawner.shutdown(wait=False)

    def _start(self) -> Worker:
        return self._spawner.submit(Worker, address_space=self.address_space).result()

    def __repr__(self) -> str:
        return f"IsolatePool(size={self.size}, workers={len(self.workers)})"


_Item = tuple[str, str, "asyncio.Future[Outcome]"]
"""One call waiting to cross: port, the value as JSON text, and the future of its outcome."""


class _Batch:
    """Calls sent in one frame, and the number of the first (the instance's own count)."""

    __slots__ = ("first", "items")

    def __init__(self, first: int, items: list[_Item]) -> None:
        self.first = first
        self.items = items


class _Watchdog:
    """Kills a worker that answers nothing for ``deadline`` seconds while a batch waits.

    A worker serving other instances' long batches answers them, which counts: it is killed
    only when it has answered nobody for the whole time.
    """

    __slots__ = ("_deadline", "_handle", "_loop", "_worker")

    def __init__(self, loop: asyncio.AbstractEventLoop, worker: Worker, deadline: float) -> None:
        self._loop, self._worker, self._deadline = loop, worker, deadline
        self._handle = loop.call_later(deadline, self._check)

    def _check(self) -> None:
        quiet = time.monotonic() - self._worker.progress
        if quiet >= self._deadline:
            self._worker.kill()
        else:
            self._handle = self._loop.call_later(self._deadline - quiet, self._check)

    def cancel(self) -> None:
        """Stop watching: the batch landed."""
        self._handle.cancel()


class Instance:
    """One code node's instance in the pool: its calls batched, its state mirrored.

    ``spec`` is the ``load`` payload (kind, source, limits, meta); ``state`` is the dict the
    runtime keeps (the node's ``context.state``): every committed change is applied to it, and
    it is what a reload starts from. Use it from one event loop.

    Up to :data:`PIPELINE` batches are in flight, so the worker runs one while the runtime
    handles the replies to the one before. Calls are numbered; a worker that cuts a reply
    short runs nothing of the batches sent behind it, and once every batch in flight has
    landed, what was not run goes first into the next batch, in its order.
    """

    def __init__(self, pool: IsolatePool, spec: dict[str, Any], state: dict[str, Any]) -> None:
        self._pool = pool
        self._spec = spec
        self._state = state
        self._name = str(spec["meta"].get("component", "code component"))
        self._budget = spec["limits"]["timeMs"] / 1000
        self._id = pool.instance_id()
        self._worker: Worker | None = None
        self._queue: deque[_Item] = deque()
        self._inflight: list[_Batch] = []
        self._sent = 0  # the number the next call sent gets
        self._done = 0  # calls the worker has answered (the number of the next it will run)
        self._held: list[_Item] = []  # calls not run, sent again once nothing is in flight
        self._resync = False  # a reply was cut short or the worker died: wait for the rest
        self._scheduled = False
        self._closed = False
        self._limits = spec["limits"]
        self._sizes = {key: len(key) + len(json.dumps(value)) for key, value in state.items()}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def worker(self) -> Worker | None:
        """The worker the instance lives on now (``None`` before it is loaded)."""
        return self._worker

    async def open(self) -> Outcome:
        """Load the instance (running ``initialize``); a source that cannot load raises."""
        self._loop = asyncio.get_running_loop()
        reply = await asyncio.wrap_future(self._load())
        if not reply["loaded"]:
            raise CodeError(f"{self._name}: {reply['error']}")
        return self._read(reply["outcome"])

    def call(self, port: str, value: object) -> asyncio.Future[Outcome]:
        """Queue one ``process(ctx, port, value)``; the future holds its outcome."""
        loop = self._loop
        assert loop is not None, "open() the instance first"  # noqa: S101
        future: asyncio.Future[Outcome] = loop.create_future()
        try:
            text = json.dumps(value, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            future.set_exception(
                CodeError(f"{self._name}: the input value cannot cross as JSON ({exc})")
            )
            return future
        if len(text) > _BATCH_BYTES:
            future.set_exception(
                CodeError(f"{self._name}: an input value of {len(text):,} bytes is too large")
            )
            return future
        self._queue.append((port, text, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._send)
        return future

    async def close(self) -> Outcome | None:
        """Run ``cleanup`` and drop the instance; ``None`` if it was never loaded or is lost.

        Calls still queued fail; nothing is sent (or loaded again) after this.
        """
        self._closed = True
        while self._queue:
            _, _, future = self._queue.popleft()
            if not future.done():
                future.set_exception(CodeError(f"{self._name}: the node stopped first"))
        worker, self._worker = self._worker, None
        if worker is None:
            return None
        self._pool.leave(worker)
        if not worker.alive:
            return None
        try:
            reply = await asyncio.wrap_future(
                worker.request("unload", instance=self._id, budget=self._budget)
            )
        except (WorkerCrashed, ValueError):
            return None
        try:
            return self._read(reply)
        except CodeError:
            return None

    # -- batches ------------------------------------------------------------------------------

    def _load(self) -> Future[Any]:
        worker = self._pool.place()
        self._worker = worker
        self._sent = self._done = 0  # a new instance counts from the start
        return worker.request("load", instance=self._id, spec=dict(self._spec, state=self._state))

    def _reload(self) -> Worker:
        """Load the instance on a live worker again; its ``initialize`` changes state too."""
        if self._worker is not None:
            self._pool.leave(self._worker)
        loaded = self._load()
        loop = self._loop
        assert loop is not None  # noqa: S101
        assert self._worker is not None  # noqa: S101

        def landed(done: Future[Any]) -> None:
            if done.exception() is None:
                loop.call_soon_threadsafe(self._reloaded, done.result())

        loaded.add_done_callback(landed)
        return self._worker

    def _reloaded(self, reply: Any) -> None:
        if isinstance(reply, dict) and reply.get("loaded"):
            with contextlib.suppress(CodeError):  # only its state changes matter here
                self._read(reply.get("outcome"))

    def _send(self) -> None:
        self._scheduled = False
        while (
            self._queue and len(self._inflight) < PIPELINE and not self._resync and not self._closed
        ):
            self._send_one()

    def _send_one(self) -> None:
        items: list[_Item] = []
        size = 0
        while self._queue and len(items) < MAX_BATCH:
            item = self._queue.popleft()
            if item[2].done():  # abandoned by the node (a timeout): not sent
                continue
            if items and size + len(item[1]) > _BATCH_BYTES:
                self._queue.appendleft(item)
                break
            items.append(item)
            size += len(item[1])
        if not items:
            return
        batch = _Batch(self._sent, items)
        self._sent += len(items)
        try:
            worker = self._worker
            if worker is None or not worker.alive:
                worker = self._reload()
            request = worker.request(
                "call",
                instance=self._id,
                budget=self._budget,
                first=batch.first,
                batch=[[port, text] for port, text, _ in items],
            )
        except (ValueError, CodeError) as exc:  # over a frame once quoted; the pool closed
            request = Future()
            request.set_exception(exc)
            worker = None
        loop = self._loop
        assert loop is not None  # noqa: S101
        waiting = sum(len(b.items) for b in self._inflight) + len(items)
        deadline = _GRACE + 2 * self._budget * waiting
        watchdog = _Watchdog(loop, worker, deadline) if worker is not None else None
        self._inflight.append(batch)

        def landed(done: Future[Any]) -> None:
            loop.call_soon_threadsafe(self._landed, batch, done, watchdog)

        request.add_done_callback(landed)

    def _landed(self, batch: _Batch, done: Future[Any], watchdog: _Watchdog | None) -> None:
        if watchdog is not None:
            watchdog.cancel()
        self._inflight.remove(batch)
        try:
            self._settle(batch, done)
        except Exception as exc:  # a reply that is not what was asked for
            for _, _, future in batch.items:
                if not future.done():
                    future.set_exception(CodeError(f"{self._name}: a broken reply: {exc}"))
        if self._resync and not self._inflight:
            self._resync = False
            self._queue.extendleft(reversed(self._held))
            self._held = []
            self._sent = self._done
        self._send()

    def _settle(self, batch: _Batch, done: Future[Any]) -> None:
        error = done.exception()
        if error is not None:
            if isinstance(error, WorkerCrashed):
                self._resync = True  # later batches to it fail too: none to a new one before
            for _, _, future in batch.items:
                if not future.done():
                    future.set_exception(CodeError(f"{self._name}: the call was lost: {error}"))
            return
        replies = done.result()
        if not isinstance(replies, list) or len(replies) > len(batch.items):
            raise TypeError("the reply to a batch is not a list of at most its calls")
        for (_, _, future), reply in zip(batch.items, replies, strict=False):
            try:
                outcome = self._read(reply)
            except CodeError as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(outcome)
        if replies:
            self._done = batch.first + len(replies)
        if len(replies) < len(batch.items):  # cut short, or sent behind one that was
            self._resync = True
            self._held.extend(batch.items[len(replies) :])

    def _read(self, reply: Any) -> Outcome:
        """Return the outcome in ``reply``, its state changes applied; ``CodeError`` if broken."""
        try:
            outcome = read_outcome(reply, self._name, self._limits)
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
            raise CodeError(
                f"{self._name}: the worker's answer could not be read "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
        sizes = self._sizes
        for key, value in outcome.changes.items():
            if value is None:
                self._state.pop(key, None)
                sizes.pop(key, None)
            else:
                self._state[key] = value
                sizes[key] = len(key) + outcome.sizes[key]
        if sum(sizes.values()) > self._limits["stateBytes"]:  # the worker is not trusted
            if self._worker is not None:
                self._worker.kill()
            raise CodeError(f"{self._name}: the worker kept more state than stateBytes allows")
        return outcome

    def __repr__(self) -> str:
        return f"Instance({self._id}, {self._name}, worker={self._worker!r})"
