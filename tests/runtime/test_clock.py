"""Clocks: real time, and the fake clock that jumps instead of sleeping."""

from __future__ import annotations

import asyncio

import pytest

from arachne.runtime import FakeClock, MonotonicClock


def test_fake_clock_moves_only_forward() -> None:
    clock = FakeClock(5.0, autojump=False)
    clock.advance(1.5)
    assert clock.now() == 6.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


async def test_fake_clock_without_autojump_waits_for_wake() -> None:
    clock = FakeClock(autojump=False)
    wake = asyncio.Event()
    waiter = asyncio.create_task(clock.wait_until(100.0, wake))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not waiter.done()
    wake.set()
    await waiter
    assert clock.now() == 0.0


async def test_monotonic_clock_returns_when_woken() -> None:
    clock = MonotonicClock()
    wake = asyncio.Event()
    wake.set()
    before = clock.now()
    await clock.wait_until(before + 60, wake)
    assert clock.now() - before < 60
    await clock.wait_until(clock.now() - 1, asyncio.Event())


async def test_fake_clock_with_autojump_jumps_to_the_deadline_unless_calls_are_running() -> None:
    clock = FakeClock()
    await clock.wait_until(2.5, asyncio.Event())
    assert clock.now() == 2.5
    wake = asyncio.Event()
    waiter = asyncio.create_task(clock.wait_until(9.0, wake, busy=True))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not waiter.done()  # work elsewhere is still running: time must not run ahead of it
    wake.set()
    await waiter
    assert clock.now() == 2.5
