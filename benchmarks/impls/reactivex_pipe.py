"""reactivex: ``from_iterable(...).pipe(ops.map, ops.filter, ...)``; a ``Subject`` for fan-out."""

from __future__ import annotations

import reactivex as rx
from reactivex import operators as ops
from reactivex.subject import Subject

from benchmarks.workloads import (
    BRANCH_OFFSETS,
    Tally,
    branch,
    double,
    double_stamped,
    inc,
    inc_stamped,
    keep,
    paced,
    records,
)


def pipeline(n: int) -> Tally:
    tally = Tally()
    rx.from_iterable(range(n)).pipe(
        ops.map(double),
        ops.filter(keep),
        ops.map(inc),
    ).subscribe(tally.add)
    return tally


def fanout(n: int) -> Tally:
    tally = Tally()
    source: Subject[int] = Subject()
    branches = [source.pipe(ops.map(branch(i))) for i in BRANCH_OFFSETS]
    rx.merge(*branches).subscribe(tally.add)
    on_next = source.on_next
    for x in range(n):
        on_next(x)
    source.on_completed()
    return tally


def latency(n: int) -> Tally:
    tally = Tally()
    rx.from_iterable(paced(n)).pipe(
        ops.map(double_stamped),
        ops.map(inc_stamped),
    ).subscribe(tally.add_stamped)
    return tally


def backpressure(n: int) -> Tally:
    tally = Tally()
    rx.from_iterable(records(n)).subscribe(tally.add_record)
    return tally
