"""Clocks: where the scheduler reads time and waits for it."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "MonotonicClock"]


class Clock(Protocol):
    """Time in seconds as the scheduler sees it, and a way to wait for a deadline."""

    def now(self) -> float:
        """Return the current time in seconds (monotonic, arbitrary origin)."""
        ...

    async def wait_until(
        self, deadline: float | None, wake: asyncio.Event, *, busy: bool = False
    ) -> None:
        """Return at ``deadline`` (``None``: never) or as soon as ``wake`` is set.

        ``busy`` says calls are running elsewhere (tasks, threads) and will set ``wake``.
        """
        ...


class MonotonicClock:
    """Real time from ``time.monotonic``."""

    # The C function itself: the scheduler reads the clock after every activation.
    now = staticmethod(time.monotonic)

    async def wait_until(
        self, deadline: float | None, wake: asyncio.Event, *, busy: bool = False
    ) -> None:
        """Sleep until ``deadline`` unless woken first.

        The deadline sets ``wake`` from a loop timer rather than timing out a wait: the waiting
        task then resumes in one turn of the loop, where ``wait_for`` takes several (a task to
        cancel and wait for), and each turn waits behind every other busy execution's slice:
        a 10 ms ticker beside a busy execution ticked every 100 ms that way.
        """
        if deadline is None:
            await wake.wait()
            return
        delay = deadline - time.monotonic()
        if delay <= 0:
            return
        timer = asyncio.get_running_loop().call_later(delay, wake.set)
        try:
            await wake.wait()
        finally:
            timer.cancel()


class FakeClock:
    """A clock that only moves when told to, or jumps to the next deadline when idle.

    With ``autojump`` (the default) a wait for a deadline returns at once with the time set to
    that deadline, so tick and retry tests run without sleeping. ``advance`` moves it by hand.
    """

    def __init__(self, start: float = 0.0, *, autojump: bool = True) -> None:
        self._now = start
        self.autojump = autojump

    def now(self) -> float:
        """Return the fake current time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards (got {seconds})")
        self._now += seconds

    async def wait_until(
        self, deadline: float | None, wake: asyncio.Event, *, busy: bool = False
    ) -> None:
        """Jump to ``deadline`` (after letting other tasks run once) unless woken first.

        While calls are running elsewhere (``busy``) it waits for them instead of jumping, so
        fake time never runs ahead of work that real time is still doing.
        """
        await asyncio.sleep(0)
        if wake.is_set():
            return
        if deadline is not None and self.autojump and not busy:
            self._now = max(self._now, deadline)
            return
        await wake.wait()
