"""bytewax helpers for both variants: a sink calling Python on each batch, a typed runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main

from benchmarks.workloads import Tally

Write = Callable[[list[Any]], None]


class _Partition(StatelessSinkPartition[Any]):
    def __init__(self, write: Write) -> None:
        self._write = write

    def write_batch(self, items: list[Any]) -> None:
        self._write(items)


class CallSink(DynamicSink[Any]):
    """Call ``write(batch)`` for every batch; ``run_main`` runs in-process, so state is shared."""

    def __init__(self, write: Write) -> None:
        self._write = write

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition:
        return _Partition(self._write)


def each(add: Callable[[Any], None]) -> Write:
    """Return a batch writer that calls ``add`` on every item."""

    def write(items: list[Any]) -> None:
        for item in items:
            add(item)

    return write


def summed(tally: Tally) -> Write:
    """Return a batch writer that adds a whole batch to ``tally`` at once."""

    def write(items: list[int]) -> None:
        tally.total += sum(items)
        tally.count += len(items)

    return write


def each_of(fn: Callable[[Any], Any]) -> Callable[[list[Any]], list[Any]]:
    """Return a ``flat_map_batch`` mapper applying ``fn`` to every item of a batch."""

    def mapper(items: list[Any]) -> list[Any]:
        return [fn(x) for x in items]

    return mapper


def run(flow: Dataflow) -> None:
    """Run ``flow`` on one worker in this thread (``run_main``, typed)."""
    run_main(flow)  # type: ignore[no-untyped-call]  # bytewax's stub leaves it untyped
