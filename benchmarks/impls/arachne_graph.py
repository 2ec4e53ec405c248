"""Arachne: the workloads as graphs of bounded edges (capacity 1024) run by a ``Runtime``.

Maps are ``@node`` functions and the filter an ``@node(filter=True)`` predicate; the summing
sink of ``pipeline`` and ``fanout`` is an ``@node(batch=True)`` function adding a whole batch
(``Tally.add_all``), as Bytewax's batched sink does (``summed``); the paced source is a
``Node`` subclass. ``fused=False`` asks for ``Runtime(fusion=False)`` so every hop is a real
edge; ``fused=True`` for ``Runtime(fusion=True)``. A runtime without the option gets
``Runtime()`` (noted when fusion was asked for). ``checked=True`` adds ``check_types=True``
(every emitted value checked against its port's schema: ``int`` here, from the annotations).
After each run the counters are checked: no edge above its capacity, and the sink received
exactly what it counted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from itertools import pairwise
from time import perf_counter_ns
from typing import Any

from arachne import IterSource, Node, Output, Runtime, Subgraph, node
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


class PacedSource(Node):
    """Each tick busy-waits for the next slot at ``LATENCY_RATE``, emits ``(i, stamp)``, returns."""

    out = Output()

    def __init__(self, n: int) -> None:
        super().__init__(name="source")
        self._n = n
        self._i = 0
        self._start = 0
        self._period = 1_000_000_000 // LATENCY_RATE

    def on_start(self) -> None:
        self._start = perf_counter_ns()

    def on_tick(self) -> None:
        i = self._i
        if i >= self._n:
            self.finish()
            return
        due = self._start + i * self._period
        now = perf_counter_ns()
        while now < due:
            now = perf_counter_ns()
        self.emit("out", (i, now))
        self._i = i + 1


FAKE_CLOCK_ENV = "ARACHNE_BENCH_FAKE_CLOCK"
"""Set to 1 to run on a fake clock (chunk sizes then never follow the host's speed)."""


def _mapper(fn: Callable[[Any], Any], name: str) -> Node:
    node_class: type[Node] = node(fn, name=name)
    return node_class()


def _chain(g: Subgraph, *nodes: Node) -> None:
    for up, down in pairwise(nodes):
        g.add_node(up)
        g.connect((up.name(), "out"), (down.name(), "in"), capacity=CAPACITY)
    g.add_node(nodes[-1])


def _runtime(fused: bool, tally: Tally, checked: bool = False) -> Runtime:
    options: dict[str, Any] = {"fusion": fused}
    if checked:
        options["check_types"] = True
    if os.environ.get(FAKE_CLOCK_ENV) == "1":  # instruction counts: see benchmarks/instructions.py
        from arachne.runtime import FakeClock

        options["clock"] = FakeClock()
    try:
        return Runtime(**options)
    except TypeError:
        if fused:
            tally.note = "fusion unavailable"
        return Runtime()


def _run(g: Subgraph, tally: Tally, fused: bool, checked: bool = False) -> Tally:
    runtime = _runtime(fused, tally, checked)
    runtime.register(g)
    runtime.run()
    chains = getattr(runtime.execution, "chains", None)
    if fused and chains:
        stages = sum(len(chain.stages) for chain in chains)
        tally.note = f"{len(chains)} fused chain(s), {stages} stages"
    stats = runtime.stats()
    over = [e.id for e in stats.edges.values() if e.high_water > e.capacity]
    if over:
        raise RuntimeError(f"edges over capacity: {over}")
    sink = stats.nodes.get("sink")
    if sink is not None and sink.received != tally.count:
        raise RuntimeError(f"sink received {sink.received} messages but counted {tally.count}")
    return tally


def _source(items: Iterable[Any]) -> IterSource:
    return IterSource(items, name="source")


def pipeline(n: int, fused: bool = False, checked: bool = False) -> Tally:
    tally = Tally()
    g = Subgraph()
    _chain(
        g,
        _source(range(n)),
        _mapper(double, "double"),
        node(keep, name="keep", filter=True)(),
        _mapper(inc, "inc"),
        node(tally.add_all, name="sink", batch=True)(),
    )
    return _run(g, tally, fused, checked)


def fanout(n: int, fused: bool = False, checked: bool = False) -> Tally:
    tally = Tally()
    g = Subgraph()
    g.add_node(_source(range(n)))
    g.add_node(node(tally.add_all, name="sink", batch=True)())
    for i in BRANCH_OFFSETS:
        name = f"branch{i}"
        g.add_node(_mapper(branch(i), name))
        g.connect(("source", "out"), (name, "in"), capacity=CAPACITY)
        g.connect((name, "out"), ("sink", "in"), capacity=CAPACITY)
    return _run(g, tally, fused, checked)


def latency(n: int, fused: bool = False, checked: bool = False) -> Tally:
    tally = Tally()
    g = Subgraph()
    _chain(
        g,
        PacedSource(n),
        _mapper(double_stamped, "double"),
        _mapper(inc_stamped, "inc"),
        _mapper(tally.add_stamped, "sink"),
    )
    return _run(g, tally, fused, checked)


def backpressure(n: int, fused: bool = False, checked: bool = False) -> Tally:
    tally = Tally()
    g = Subgraph()
    _chain(g, _source(records(n)), _mapper(tally.add_record, "sink"))
    return _run(g, tally, fused, checked)
