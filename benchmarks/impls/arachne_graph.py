"""Arachne: every hop a bounded edge (capacity 1024), ``IterSource`` or a ``Node`` as source.

Maps are ``@node`` functions, the filter and the sink are ``Node`` subclasses. After each run
the edge counters are checked: every edge stayed within its capacity and the sink received
exactly what it counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import pairwise
from time import perf_counter_ns
from typing import Any

from arachne import Input, IterSource, Message, Node, Output, Runtime, Subgraph, node
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


class Filter(Node):
    """Forward the messages whose payload satisfies ``pred``."""

    inp = Input(name="in")
    out = Output()

    def __init__(self, pred: Callable[[Any], bool], *, name: str) -> None:
        super().__init__(name=name)
        self._pred = pred

    def on_message(self, port: str, msg: Message) -> None:
        if self._pred(msg.payload):
            self.emit("out", msg)


class Sink(Node):
    """Hand every payload to ``add``."""

    inp = Input(name="in")

    def __init__(self, add: Callable[[Any], None]) -> None:
        super().__init__(name="sink")
        self._add = add

    def on_message(self, port: str, msg: Message) -> None:
        self._add(msg.payload)


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


def _mapper(fn: Callable[[Any], Any], name: str) -> Node:
    node_class: type[Node] = node(fn, name=name)
    return node_class()


def _chain(g: Subgraph, *nodes: Node) -> None:
    for up, down in pairwise(nodes):
        g.add_node(up)
        g.connect((up.name(), "out"), (down.name(), "in"), capacity=CAPACITY)
    g.add_node(nodes[-1])


def _run(g: Subgraph, tally: Tally, fused: bool) -> Tally:
    runtime = Runtime()
    if fused:
        options: dict[str, Any] = {"fusion": True}
        try:
            runtime = Runtime(**options)
        except TypeError:
            tally.note = "fusion unavailable"
    runtime.register(g)
    runtime.run()
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


def pipeline(n: int, fused: bool = False) -> Tally:
    tally = Tally()
    g = Subgraph()
    _chain(
        g,
        _source(range(n)),
        _mapper(double, "double"),
        Filter(keep, name="keep"),
        _mapper(inc, "inc"),
        Sink(tally.add),
    )
    return _run(g, tally, fused)


def fanout(n: int, fused: bool = False) -> Tally:
    tally = Tally()
    g = Subgraph()
    g.add_node(_source(range(n)))
    g.add_node(Sink(tally.add))
    for i in BRANCH_OFFSETS:
        name = f"branch{i}"
        g.add_node(_mapper(branch(i), name))
        g.connect(("source", "out"), (name, "in"), capacity=CAPACITY)
        g.connect((name, "out"), ("sink", "in"), capacity=CAPACITY)
    return _run(g, tally, fused)


def latency(n: int, fused: bool = False) -> Tally:
    tally = Tally()
    g = Subgraph()
    _chain(
        g,
        PacedSource(n),
        _mapper(double_stamped, "double"),
        _mapper(inc_stamped, "inc"),
        Sink(tally.add_stamped),
    )
    return _run(g, tally, fused)


def backpressure(n: int, fused: bool = False) -> Tally:
    tally = Tally()
    g = Subgraph()
    _chain(g, _source(records(n)), Sink(tally.add_record))
    return _run(g, tally, fused)
