"""RunContext: chunk sizes from measured time, its limits, and the work it tracks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from arachne import Runtime
from arachne.runtime import EventBus, FakeClock
from arachne.runtime.run_context import SLICE, RunContext, next_chunk


def make(**options: Any) -> RunContext:
    return RunContext("exec-test", clock=FakeClock(), bus=EventBus(), **options)


def test_the_slice_is_two_milliseconds() -> None:
    assert SLICE == 0.002


@pytest.mark.parametrize("elapsed", [0.0, -1e-9])
def test_a_chunk_that_took_no_time_is_followed_by_a_whole_cap(elapsed: float) -> None:
    assert next_chunk(1, elapsed, 1024) == 1024
    assert next_chunk(300, elapsed, 7) == 7


def test_a_slow_chunk_is_followed_by_one_message() -> None:
    assert next_chunk(1, 0.002, 1024) == 1  # 2 ms a message: one at a time
    assert next_chunk(1, 10.0, 1024) == 1  # never zero
    assert next_chunk(50, 1.0, 1024) == 1


def test_a_chunk_aims_at_half_a_slice() -> None:
    # 5 messages in 2 ms: 0.4 ms each, so 2.5 of them fill 1 ms; whole messages only.
    assert next_chunk(5, 0.002, 1024) == 2
    # 0.3 us each: 3333.3 fill 1 ms.
    assert next_chunk(10, 3e-6, 8192) == 3333
    # 200 ns each: 5000 would fill 1 ms, clamped to the cap.
    assert next_chunk(10, 2e-6, 1024) == 1024


@pytest.mark.parametrize("name", ["quantum", "batch"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "8", None])
def test_quantum_and_batch_must_be_ints_of_at_least_one(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"{name} must be an int >= 1, got {value!r}"):
        make(**{name: value})


def test_the_limits_are_checked_when_a_runtime_makes_an_execution() -> None:
    with pytest.raises(ValueError, match="quantum must be an int >= 1, got 0"):
        _ = Runtime(quantum=0).execution
    with pytest.raises(ValueError, match="batch must be an int >= 1, got 0"):
        _ = Runtime(batch=0).execution


def test_the_smallest_limits_are_accepted() -> None:
    ctx = make(quantum=1, batch=1)
    assert (ctx.quantum, ctx.batch) == (1, 1)
    assert not ctx.busy
    assert ctx.failure is None
    assert ctx.activations == 0


async def test_spawned_and_tracked_work_keeps_the_context_busy_until_done() -> None:
    ctx = make()
    release = asyncio.Event()

    async def work() -> None:
        await release.wait()

    ctx.spawn(work())
    assert ctx.busy
    (task,) = ctx.tasks
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    ctx.track(future)
    assert ctx.tasks == {task, future}
    release.set()
    await task
    await asyncio.sleep(0)  # done callbacks run on the loop's next turn
    assert ctx.tasks == {future}
    assert ctx.busy
    future.set_result(1)
    await future
    await asyncio.sleep(0)
    assert not ctx.tasks
    assert not ctx.busy


async def test_fail_soon_keeps_the_first_failure_and_wakes_the_scheduler() -> None:
    ctx = make()
    ctx.gate.open()
    waiter = asyncio.create_task(ctx.gate.wait(FakeClock(autojump=False), None, busy=False))
    await asyncio.sleep(0)
    assert not waiter.done()
    first, second = RuntimeError("first"), RuntimeError("second")
    ctx.fail_soon(first)
    ctx.fail_soon(second)
    await asyncio.wait_for(waiter, 10)  # a guard against a hang, not a timing claim
    assert ctx.failure is first
    ctx.gate.close()


def test_fail_soon_before_the_run_only_records_the_failure() -> None:
    ctx = make()
    error = ValueError("early")
    ctx.fail_soon(error)
    assert ctx.failure is error
