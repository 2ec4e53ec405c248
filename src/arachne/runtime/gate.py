"""The gate to an execution's loop: changes run on it, snapshots are read from it, it is woken.

Everything that changes a running execution (controls, live rewiring, injection) runs on the
execution's loop between two activations, and everything that reads many counters at once
(``stats()``) runs there too, so neither ever meets a turn half done. The hot path takes no
lock for this: the loop thread is the only writer, and a reader from another thread waits for
the loop's next yield (at most about ten milliseconds while it is busy).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from arachne.runtime.clock import Clock

__all__ = ["HOLD", "Attention", "Gate", "attention_of"]

log = logging.getLogger("arachne.runtime")

T = TypeVar("T")

READ_POLL: Final = 0.05
"""Seconds between looks, while a read waits for the loop, at whether the loop has gone."""


class Attention:
    """What is asked of executions from outside their turn: schedulers make way for it.

    Executions sharing a loop take turns, each working up to a time slice before it yields,
    so a change for one of them would wait behind a slice of every other (a paused one, woken
    through the loop's queue, behind another round of them). So every scheduler looks here
    after each activation. When ``asks`` moved (a change or a read was asked of some
    execution) it yields; and until ``hold_until`` it keeps yielding, so the execution a
    change waits for runs next. Each gate's waiting changes hold the others for ``HOLD`` at
    most from when they were asked, and no longer once served: with a hundred busy executions
    a ``pause()`` is applied after about one activation, not a hundred slices, and an
    execution slow to serve its changes holds the others up once, for ``HOLD`` at most.
    """

    __slots__ = ("_lock", "_since", "asks", "hold_until")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: dict[int, float] = {}  # a gate with changes waiting -> when first asked
        self.asks = 0  # moves on every ask: readers only compare it
        self.hold_until = 0.0  # perf_counter time until which schedulers make way

    def asked(self, gate: object | None = None) -> None:
        """Note one more ask; ``gate``: the gate that now has changes waiting (not a read)."""
        with self._lock:
            self.asks += 1
            if gate is not None and id(gate) not in self._since:
                now = time.perf_counter()
                self._since[id(gate)] = now
                self.hold_until = max(self.hold_until, now + HOLD)

    def served(self, gate: object) -> None:
        """Note that ``gate`` has run its waiting changes."""
        with self._lock:
            self._since.pop(id(gate), None)
            self.hold_until = max((since + HOLD for since in self._since.values()), default=0.0)


HOLD: Final = 0.02
"""Seconds a scheduler makes way, at most, for changes waiting for another execution."""

_ATTENTION: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Attention] = (
    weakref.WeakKeyDictionary()
)
_ATTENTION_LOCK: Final = threading.Lock()


def attention_of(loop: asyncio.AbstractEventLoop) -> Attention:
    """Return the :class:`Attention` shared by the executions on ``loop``."""
    with _ATTENTION_LOCK:
        attention = _ATTENTION.get(loop)
        if attention is None:
            attention = _ATTENTION[loop] = Attention()
        return attention


class Gate:
    """Where an execution runs, and the safe ways in from any thread.

    Before the execution starts and after it ends there is no loop: a change or a read runs at
    once in the caller's thread (under a lock, so a start cannot overtake it). While it runs,
    a change queues in :attr:`inbox` for the scheduler, which runs it after the current
    activation; a read from another thread runs as a callback on the loop.
    """

    __slots__ = ("_lock", "_loop", "_thread", "_wake", "attention", "inbox", "pending")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._wake: asyncio.Event | None = None
        self.attention = Attention()  # the loop's, once bound to one
        self.inbox: deque[Callable[[], None]] = deque()
        # Set with every queued change; the scheduler looks at it after each activation.
        self.pending = False

    # -- the loop's side ---------------------------------------------------------------------

    def open(self) -> None:
        """Bind to the running loop (called on it when the execution starts)."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self.attention = attention_of(self._loop)
            self._thread = threading.get_ident()
            self._wake = asyncio.Event()

    def close(self) -> None:
        """Unbind (called on the loop when the execution has ended); run changes still queued."""
        with self._lock:
            self._loop = None
            self._thread = None
            self.run_inbox()

    def run_inbox(self) -> None:
        """Run every queued change, in order (the scheduler calls this between activations).

        A change that raises is logged and the rest still run: it was checked when asked for,
        and what made it fail since (an edge removed meanwhile, say) must not end the run.
        """
        with self._lock:
            if self.pending:
                self.pending = False
                self.attention.served(self)
        inbox = self.inbox
        while inbox:
            change = inbox.popleft()
            try:
                change()
            except Exception:
                log.exception("a change to a running execution failed and was dropped")

    @property
    def running(self) -> bool:
        """Whether an execution loop is bound."""
        return self._loop is not None

    def on_loop(self) -> bool:
        """Whether the caller runs on the bound loop's thread."""
        return self._thread is not None and threading.get_ident() == self._thread

    def wake(self) -> None:
        """Interrupt the scheduler's wait; safe from any thread."""
        loop, event = self._loop, self._wake
        if loop is None or event is None:
            return
        if threading.get_ident() == self._thread:
            event.set()
        else:
            # The loop may have closed meanwhile; then nobody waits any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    async def wait(self, clock: Clock, deadline: float | None, *, busy: bool) -> None:
        """Wait on ``clock`` until ``deadline`` (``None``: no deadline) or until woken."""
        event = self._wake
        if event is None:
            raise RuntimeError("the gate is not open: the execution is not running")
        await clock.wait_until(deadline, event, busy=busy)
        event.clear()

    # -- any thread's side -------------------------------------------------------------------

    def apply(self, change: Callable[[], None]) -> None:
        """Run ``change`` on the execution's loop between activations (now if there is none)."""
        with self._lock:
            loop = self._loop
            if loop is None:
                change()
                return
            self.inbox.append(change)
            if not self.pending:
                self.attention.asked(self)
            else:
                self.attention.asked()
            self.pending = True
        # From the loop's own thread too: a signal handler or a coroutine beside the run
        # changes it between two turns of the scheduler, which may be waiting.
        self.wake()

    def submit(self, change: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Like :meth:`apply`, with a future for what ``change`` returns or raises."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(change())
            except Exception as exc:
                future.set_exception(exc)

        self.apply(run)
        return future

    def read(self, reader: Callable[[], T]) -> T:
        """Return ``reader()`` run where nothing can change under it: on the loop if one runs.

        From another thread this waits for the loop's next yield; if the execution ends
        meanwhile, the reader runs in the caller's thread once the loop has let go.
        """
        with self._lock:
            loop = self._loop
            if loop is None or threading.get_ident() == self._thread:
                return reader()
            future: concurrent.futures.Future[T] = concurrent.futures.Future()

            def run() -> None:
                if not future.set_running_or_notify_cancel():
                    return
                try:
                    future.set_result(reader())
                except BaseException as exc:
                    future.set_exception(exc)

            try:
                loop.call_soon_threadsafe(run)
            except RuntimeError:  # closed between our look and the call
                return reader()
            self.attention.asked()
        while True:
            try:
                return future.result(READ_POLL)
            except concurrent.futures.TimeoutError:
                with self._lock:
                    if self._loop is None and future.cancel():
                        return reader()
