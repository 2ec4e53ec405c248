"""Virtual time: an asyncio loop that jumps to its next timer, and the runtime's clock on it.

:class:`SimLoop` is an ordinary selector event loop whose ``time()`` is a number it keeps
itself. When nothing is ready, where a real loop would block in ``select`` until its next
timer, it moves that number to the timer and goes on at once: an hour of timers passes in the
time the callbacks take. Sockets still work (they are polled without waiting). A loop with
nothing ready, no timer and nothing to read would wait forever: it raises :class:`Stalled`
instead, since nothing inside a simulation can ever wake it. What a callback raises is kept in
``errors`` (a real loop only logs it), so a simulated run fails with it.

:class:`SimClock` is the runtime's :class:`~arachne.runtime.clock.Clock` on that loop's time,
so ticks, retry back-offs, timeouts and deadlines all run in virtual time.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
from collections.abc import Callable
from contextvars import Context
from typing import Any

__all__ = ["SimClock", "SimLoop", "Stalled"]


class Stalled(RuntimeError):
    """The simulated run waits for something that can never come (nothing is scheduled)."""


class _VirtualSelector:
    """The loop's selector, asked never to wait: the time it would wait for passes at once."""

    def __init__(self, inner: selectors.BaseSelector, loop: SimLoop) -> None:
        self._inner = inner
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._inner.select(0)
        if ready:
            return ready
        if timeout is None:
            raise Stalled(
                "the simulated run waits with no timer set and nothing to read: it would "
                "wait forever (a node waiting for input that never comes, or for real time)"
            )
        if timeout > 0:
            self._loop.advance(timeout)
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class SimLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time, starting at ``start`` seconds."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        self._virtual = start
        self._selector = _VirtualSelector(self._selector, self)  # type: ignore[has-type,arg-type]
        # What a callback raised, where a real loop would only log it: the run fails with it.
        self.errors: list[str] = []
        self.set_exception_handler(self._failed)

    def _failed(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        what = context.get("message", "a callback failed")
        self.errors.append(f"{what}: {type(error).__name__}: {error}" if error else str(what))

    def time(self) -> float:
        """Return the virtual time in seconds."""
        return self._virtual

    def call_soon_threadsafe(  # type: ignore[override]  # (the same, less precisely typed)
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> asyncio.Handle:
        """Schedule ``callback`` soon; from the loop's own thread without waking its selector.

        Every call a simulation runs lands on the loop's thread (thread- and process-mode
        calls run there too), so this spares each one a write to the loop's wake-up pipe.
        """
        if threading.get_ident() == self._thread_id:  # type: ignore[attr-defined]
            return self.call_soon(callback, *args, context=context)
        return super().call_soon_threadsafe(callback, *args, context=context)

    def reach(self, t: float) -> None:
        """Move virtual time forward to ``t`` (if it is not there yet)."""
        self._virtual = max(self._virtual, t)

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds``."""
        if seconds < 0:
            raise ValueError(f"virtual time cannot go back (got {seconds})")
        self._virtual += seconds


class SimClock:
    """The runtime's clock on a :class:`SimLoop`'s virtual time."""

    def __init__(self, loop: SimLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        """Return the loop's virtual time."""
        return self._loop.time()

    async def wait_until(
        self, deadline: float | None, wake: asyncio.Event, *, busy: bool = False
    ) -> None:
        """Return at ``deadline`` in virtual time, or as soon as ``wake`` is set."""
        if deadline is None:
            await wake.wait()
            return
        loop = self._loop
        if deadline <= loop.time():
            return

        def due() -> None:
            # A timer within the loop's clock resolution runs without time moving on: move it
            # to the deadline, else a waiter that checks ``now >= deadline`` waits again, for ever.
            loop.reach(deadline)
            wake.set()

        timer = loop.call_at(deadline, due)
        try:
            await wake.wait()
        finally:
            timer.cancel()
