"""A bounded hand-off of bus events to a consumer on another thread or another event loop.

The bus delivers on the runtime's loop thread, where a slow consumer would stall the graph;
a relay takes each event without waiting and lets the consumer read at its own pace.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeAlias

if TYPE_CHECKING:
    from arachne.runtime.events import Event

__all__ = ["EventRelay", "RelayClosed", "RelayStats"]


class RelayClosed(Exception):
    """Raised by a read from a relay that is closed and has handed out every event."""


@dataclass(frozen=True, slots=True)
class RelayStats:
    """Counters of one relay at one instant.

    ``delivered + dropped + depth`` equals the events offered before ``close()``.
    """

    delivered: int
    dropped: int
    depth: int
    maxsize: int


_Waiter: TypeAlias = "tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]"


def _resolve(waiter: asyncio.Future[None]) -> None:
    # The waiting task may have been cancelled between the wake being sent and this running.
    if not waiter.done():
        waiter.set_result(None)


class EventRelay:
    """A bounded queue of events, filled by the bus and read from another thread or loop.

    The relay is the subscriber: it never blocks the publisher, and when ``maxsize`` events
    are waiting, it drops the arriving one and counts it in ``stats().dropped``. A thread
    reads with ``get``; a coroutine on any event loop awaits ``get_async`` or iterates::

        relay = EventRelay(maxsize=256)
        sub = bus.subscribe(relay, NodeEvent, execution_id=execution.id)

        def consume() -> None:
            while True:
                try:
                    event = relay.get()
                except RelayClosed:
                    return
                print(event)

        threading.Thread(target=consume).start()
        ...
        sub.unsubscribe()
        relay.close()  # consume() returns once it has read what was left

    ``async for event in relay:`` ends the same way, when the relay is closed and drained.
    """

    Closed: ClassVar[type[RelayClosed]] = RelayClosed

    __slots__ = (
        "_async_waiters",
        "_closed",
        "_cond",
        "_delivered",
        "_dropped",
        "_lock",
        "_maxsize",
        "_queue",
        "_thread_waiters",
    )

    def __init__(self, maxsize: int = 1024) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be an int >= 1, got {maxsize!r}")
        self._maxsize = maxsize
        self._queue: deque[Event] = deque()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._thread_waiters = 0
        # Coroutines parked in get_async, each with the loop it runs on; an event wakes the
        # oldest one, so call_soon_threadsafe runs once per wake, not once per event.
        self._async_waiters: deque[_Waiter] = deque()
        self._delivered = 0
        self._dropped = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._closed

    def __call__(self, event: Event) -> None:
        """Queue ``event``, or drop and count it when full; after ``close()``, drop silently.

        Never blocks and never raises, so it is safe as a bus subscriber.
        """
        with self._lock:
            if self._closed:
                return
            if len(self._queue) >= self._maxsize:
                self._dropped += 1
                return
            self._queue.append(event)
            if self._thread_waiters:
                self._cond.notify()
            if self._async_waiters:
                self._wake_async_locked()

    def get(self, timeout: float | None = None) -> Event:
        """Return the oldest event, waiting up to ``timeout`` seconds (``None``: no limit).

        Raises ``TimeoutError`` when the time passes first and ``RelayClosed`` once the relay
        is closed and empty.
        """
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._queue:
                if self._closed:
                    raise RelayClosed("the event relay is closed and empty")
                if deadline is None:
                    remaining = None
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"no event within {timeout} seconds")
                self._thread_waiters += 1
                try:
                    # A timed-out wait may still have taken a notify meant for another
                    # waiter, so the loop checks the queue before it checks the deadline.
                    self._cond.wait(remaining)
                finally:
                    self._thread_waiters -= 1
            self._delivered += 1
            return self._queue.popleft()

    def get_nowait(self) -> Event | None:
        """Return the oldest event, or ``None`` if there is none yet.

        Raises ``RelayClosed`` once the relay is closed and empty, so a polling reader knows
        to stop.
        """
        with self._lock:
            if self._queue:
                self._delivered += 1
                return self._queue.popleft()
            if self._closed:
                raise RelayClosed("the event relay is closed and empty")
            return None

    async def get_async(self) -> Event:
        """Return the oldest event, waiting on the running loop without blocking it.

        Raises ``RelayClosed`` once the relay is closed and empty. The publisher may run on
        another thread's loop or on this one.
        """
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._queue:
                    self._delivered += 1
                    return self._queue.popleft()
                if self._closed:
                    raise RelayClosed("the event relay is closed and empty")
                waiter = (loop, loop.create_future())
                self._async_waiters.append(waiter)
            try:
                await waiter[1]
            except BaseException:
                with self._lock:
                    try:
                        self._async_waiters.remove(waiter)
                    except ValueError:
                        # This waiter had already been picked to take an event; hand the
                        # wake on, or that event would wait for the next one to arrive.
                        if self._queue and self._async_waiters:
                            self._wake_async_locked()
                raise

    def __aiter__(self) -> EventRelay:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.get_async()
        except RelayClosed:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Wake every reader; they drain what is queued, then get ``RelayClosed``.

        Events offered afterwards are dropped without being counted. Calling it again does
        nothing.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            while self._async_waiters:
                self._wake_async_locked()

    def stats(self) -> RelayStats:
        """Return the relay's counters, taken together."""
        with self._lock:
            return RelayStats(
                delivered=self._delivered,
                dropped=self._dropped,
                depth=len(self._queue),
                maxsize=self._maxsize,
            )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<EventRelay {len(self._queue)}/{self._maxsize} queued, {state}>"

    def _wake_async_locked(self) -> None:
        while self._async_waiters:
            loop, waiter = self._async_waiters.popleft()
            try:
                loop.call_soon_threadsafe(_resolve, waiter)
            except RuntimeError:
                # That loop is closed and its coroutine will never resume; wake the next.
                continue
            return
