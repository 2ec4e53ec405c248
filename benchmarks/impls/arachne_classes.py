"""Arachne in the blueprint's class style: every operator and the sink a ``Node`` subclass.

This is how most users write a graph, so it measures what they get: one class per operator,
ports declared as class attributes (``inp = Input(name="in")``, ``out = Output()``), and an
``on_message`` that reads ``msg.payload``, calls the stage function and sends the result with
``self.emit("out", ...)`` (operators made from a parameter, the fan-out branches, hold their
function);
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


class Double(Node):
    """Emits ``double(payload)``: one class per operator, as the blueprint writes them."""

    inp = Input(name="in")
    out = Output()

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", double(msg.payload))


class Keep(Node):
    """Emits the payload when ``keep(payload)`` holds."""

    inp = Input(name="in")
    out = Output()

    def on_message(self, port: str, msg: Message) -> None:
        x = msg.payload
        if keep(x):
            self.emit("out", x)


class Inc(Node):
    """Emits ``inc(payload)``."""

    inp = Input(name="in")
    out = Output()

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", inc(msg.payload))


class Map(Node):
    """Emits ``fn(payload)`` for each message (operators made from a parameter)."""

    inp = Input(name="in")
    out = Output()

    def __init__(self, fn: Callable[[Any], Any], name: str) -> None:
        super().__init__(name=name)
        self._fn = fn

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", self._fn(msg.payload))


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
        Double(name="double"),
        Keep(name="keep"),
        Inc(name="inc"),
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
