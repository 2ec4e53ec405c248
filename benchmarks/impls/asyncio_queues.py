"""asyncio: one task per stage, an ``asyncio.Queue(maxsize=1024)`` per hop, a sentinel to end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from time import perf_counter_ns
from typing import Any, Final

from benchmarks.workloads import (
    BRANCH_OFFSETS,
    CAPACITY,
    LATENCY_RATE,
    Tally,
    branch,
    double,
    double_stamped,
    inc,
    inc_stamped,
    keep,
    records,
)

Queue = asyncio.Queue[Any]
END: Final = object()


def _queue() -> Queue:
    return asyncio.Queue(maxsize=CAPACITY)


async def _source(items: Iterable[Any], outs: list[Queue]) -> None:
    for item in items:
        for out in outs:
            await out.put(item)
    for out in outs:
        await out.put(END)


async def _paced_source(n: int, out: Queue) -> None:
    # The same schedule as workloads.paced, but the wait yields to the loop so the other
    # stages run meanwhile: a busy-wait that never yields would stall every task.
    period = 1_000_000_000 // LATENCY_RATE
    start = perf_counter_ns()
    for i in range(n):
        due = start + i * period
        now = perf_counter_ns()
        while now < due:
            await asyncio.sleep(0)
            now = perf_counter_ns()
        await out.put((i, now))
    await out.put(END)


async def _map(fn: Callable[[Any], Any], inp: Queue, out: Queue) -> None:
    while (item := await inp.get()) is not END:
        await out.put(fn(item))
    await out.put(END)


async def _filter(pred: Callable[[Any], bool], inp: Queue, out: Queue) -> None:
    while (item := await inp.get()) is not END:
        if pred(item):
            await out.put(item)
    await out.put(END)


async def _sink(add: Callable[[Any], None], inp: Queue, producers: int = 1) -> None:
    while producers:
        item = await inp.get()
        if item is END:
            producers -= 1
        else:
            add(item)


async def _pipeline(n: int, tally: Tally) -> None:
    q1, q2, q3, q4 = _queue(), _queue(), _queue(), _queue()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_source(range(n), [q1]))
        tg.create_task(_map(double, q1, q2))
        tg.create_task(_filter(keep, q2, q3))
        tg.create_task(_map(inc, q3, q4))
        tg.create_task(_sink(tally.add, q4))


async def _fanout(n: int, tally: Tally) -> None:
    ins = [_queue() for _ in BRANCH_OFFSETS]
    merged = _queue()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_source(range(n), ins))
        for i, inp in zip(BRANCH_OFFSETS, ins, strict=True):
            tg.create_task(_map(branch(i), inp, merged))
        tg.create_task(_sink(tally.add, merged, producers=len(ins)))


async def _latency(n: int, tally: Tally) -> None:
    q1, q2, q3 = _queue(), _queue(), _queue()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_paced_source(n, q1))
        tg.create_task(_map(double_stamped, q1, q2))
        tg.create_task(_map(inc_stamped, q2, q3))
        tg.create_task(_sink(tally.add_stamped, q3))


async def _backpressure(n: int, tally: Tally) -> None:
    q = _queue()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_source(records(n), [q]))
        tg.create_task(_sink(tally.add_record, q))


def pipeline(n: int) -> Tally:
    tally = Tally()
    asyncio.run(_pipeline(n, tally))
    return tally


def fanout(n: int) -> Tally:
    tally = Tally()
    asyncio.run(_fanout(n, tally))
    return tally


def latency(n: int) -> Tally:
    tally = Tally()
    asyncio.run(_latency(n, tally))
    return tally


def backpressure(n: int) -> Tally:
    tally = Tally()
    asyncio.run(_backpressure(n, tally))
    return tally
