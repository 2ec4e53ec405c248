"""The baseline: each workload as one hand-written Python loop, no queues, no framework."""

from __future__ import annotations

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
    add = tally.add
    for x in range(n):
        y = double(x)
        if keep(y):
            add(inc(y))
    return tally


def fanout(n: int) -> Tally:
    tally = Tally()
    add = tally.add
    branches = [branch(i) for i in BRANCH_OFFSETS]
    for x in range(n):
        for fn in branches:
            add(fn(x))
    return tally


def latency(n: int) -> Tally:
    tally = Tally()
    add = tally.add_stamped
    for item in paced(n):
        add(inc_stamped(double_stamped(item)))
    return tally


def backpressure(n: int) -> Tally:
    tally = Tally()
    add = tally.add_record
    for record in records(n):
        add(record)
    return tally
