"""streamz: a synchronous ``Stream`` graph; the producer calls ``emit`` for every item."""

from __future__ import annotations

from streamz import Stream

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
    source = Stream()
    source.map(double).filter(keep).map(inc).sink(tally.add)
    emit = source.emit
    for x in range(n):
        emit(x)
    return tally


def fanout(n: int) -> Tally:
    tally = Tally()
    source = Stream()
    branches = [source.map(branch(i)) for i in BRANCH_OFFSETS]
    branches[0].union(*branches[1:]).sink(tally.add)
    emit = source.emit
    for x in range(n):
        emit(x)
    return tally


def latency(n: int) -> Tally:
    tally = Tally()
    source = Stream()
    source.map(double_stamped).map(inc_stamped).sink(tally.add_stamped)
    emit = source.emit
    for item in paced(n):
        emit(item)
    return tally


def backpressure(n: int) -> Tally:
    tally = Tally()
    source = Stream()
    source.sink(tally.add_record)
    emit = source.emit
    for record in records(n):
        emit(record)
    return tally
