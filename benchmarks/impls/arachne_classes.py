"""Arachne in the blueprint's class style: every operator and the sink a ``Node`` subclass.

This is how most users write a graph, so it measures what they get: ports declared as class
attributes (``inp = Input(name="in")``, ``out = Output()``), and an ``on_message`` that reads
``msg.payload``, calls the stage function and sends the result with ``self.emit("out", ...)``;
the sinks add item by item (``Tally.add``, not ``add_all``). The graphs, sources (``IterSource``,
the paced ``PacedSource``) and checks are ``arachne_graph``'s; every hop is a ``block`` edge of
capacity 1024 under ``Runtime()``'s default options. Fusion only joins ``@node`` functions, so
no hop is skipped here (a note would name any chain that was fused).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arachne import Input, Message, Node, Output, Subgraph
from benchmarks.impls.arachne_graph import PacedSource, _chain, _run, _source
from benchmarks.workloads import (
    BRANCH_OFFSETS,
    CAPACITY,
    Tally,
    branch,
    double,
    double_stamped,
    inc,
    inc_stamped,
    keep,
    records,
)


class Map(Node):
    """Emits ``fn(payload)`` for each message."""

    inp = Input(name="in")
    out = Output()

    def __init__(self, fn: Callable[[Any], Any], name: str) -> None:
        super().__init__(name=name)
        self._fn = fn

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", self._fn(msg.payload))


class Filter(Node):
    """Emits the payload only when ``pred(payload)`` is true."""

    inp = Input(name="in")
    out = Output()

    def __init__(self, pred: Callable[[Any], bool], name: str) -> None:
        super().__init__(name=name)
        self._pred = pred

    def on_message(self, port: str, msg: Message) -> None:
        x = msg.payload
        if self._pred(x):
            self.emit("out", x)


class Sink(Node):
    """Hands each payload to ``add``, one message at a time."""

    inp = Input(name="in")

    def __init__(self, add: Callable[[Any], None]) -> None:
        super().__init__(name="sink")
        self._add = add

    def on_message(self, port: str, msg: Message) -> None:
        self._add(msg.payload)


def _run_default(g: Subgraph, tally: Tally) -> Tally:
    # fused=True asks for Runtime(fusion=True): today's default, i.e. plain Runtime().
    return _run(g, tally, fused=True)


def pipeline(n: int) -> Tally:
    tally = Tally()
    g = Subgraph()
    _chain(
        g,
        _source(range(n)),
        Map(double, "double"),
        Filter(keep, "keep"),
        Map(inc, "inc"),
        Sink(tally.add),
    )
    return _run_default(g, tally)


def fanout(n: int) -> Tally:
    tally = Tally()
    g = Subgraph()
    g.add_node(_source(range(n)))
    g.add_node(Sink(tally.add))
    for i in BRANCH_OFFSETS:
        name = f"branch{i}"
        g.add_node(Map(branch(i), name))
        g.connect(("source", "out"), (name, "in"), capacity=CAPACITY)
        g.connect((name, "out"), ("sink", "in"), capacity=CAPACITY)
    return _run_default(g, tally)


def latency(n: int) -> Tally:
    tally = Tally()
    g = Subgraph()
    _chain(
        g,
        PacedSource(n),
        Map(double_stamped, "double"),
        Map(inc_stamped, "inc"),
        Sink(tally.add_stamped),
    )
    return _run_default(g, tally)


def backpressure(n: int) -> Tally:
    tally = Tally()
    g = Subgraph()
    _chain(g, _source(records(n)), Sink(tally.add_record))
    return _run_default(g, tally)
