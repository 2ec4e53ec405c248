"""Threads: one thread per stage, a ``queue.Queue(maxsize=1024)`` per hop, a sentinel at the end."""

from __future__ import annotations

import queue
import threading
import time
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

Queue = queue.Queue[Any]
END: Final = object()


def _queue() -> Queue:
    return queue.Queue(maxsize=CAPACITY)


def _source(items: Iterable[Any], outs: list[Queue]) -> None:
    for item in items:
        for out in outs:
            out.put(item)
    for out in outs:
        out.put(END)


def _paced_source(n: int, out: Queue) -> None:
    # The same schedule as workloads.paced, but the wait gives up the GIL (sleep(0)) so the
    # stage threads run meanwhile, as a producer blocked in I/O would let them.
    period = 1_000_000_000 // LATENCY_RATE
    start = perf_counter_ns()
    for i in range(n):
        due = start + i * period
        now = perf_counter_ns()
        while now < due:
            time.sleep(0)
            now = perf_counter_ns()
        out.put((i, now))
    out.put(END)


def _map(fn: Callable[[Any], Any], inp: Queue, out: Queue) -> None:
    get, put = inp.get, out.put
    while (item := get()) is not END:
        put(fn(item))
    put(END)


def _filter(pred: Callable[[Any], bool], inp: Queue, out: Queue) -> None:
    get, put = inp.get, out.put
    while (item := get()) is not END:
        if pred(item):
            put(item)
    put(END)


def _sink(add: Callable[[Any], None], inp: Queue, producers: int = 1) -> None:
    get = inp.get
    while producers:
        item = get()
        if item is END:
            producers -= 1
        else:
            add(item)


def _run(*stages: tuple[Callable[..., None], tuple[Any, ...]]) -> None:
    threads = [threading.Thread(target=fn, args=args, daemon=True) for fn, args in stages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def pipeline(n: int) -> Tally:
    tally = Tally()
    q1, q2, q3, q4 = _queue(), _queue(), _queue(), _queue()
    _run(
        (_source, (range(n), [q1])),
        (_map, (double, q1, q2)),
        (_filter, (keep, q2, q3)),
        (_map, (inc, q3, q4)),
        (_sink, (tally.add, q4)),
    )
    return tally


def fanout(n: int) -> Tally:
    tally = Tally()
    ins = [_queue() for _ in BRANCH_OFFSETS]
    merged = _queue()
    branches = [(_map, (branch(i), q, merged)) for i, q in zip(BRANCH_OFFSETS, ins, strict=True)]
    _run(
        (_source, (range(n), ins)),
        *branches,
        (_sink, (tally.add, merged, len(ins))),
    )
    return tally


def latency(n: int) -> Tally:
    tally = Tally()
    q1, q2, q3 = _queue(), _queue(), _queue()
    _run(
        (_paced_source, (n, q1)),
        (_map, (double_stamped, q1, q2)),
        (_map, (inc_stamped, q2, q3)),
        (_sink, (tally.add_stamped, q3)),
    )
    return tally


def backpressure(n: int) -> Tally:
    tally = Tally()
    q = _queue()
    _run((_source, (records(n), [q])), (_sink, (tally.add_record, q)))
    return tally
