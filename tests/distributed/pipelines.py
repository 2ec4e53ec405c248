"""Graphs the multi-process tests build in every worker (``module:function`` builders)."""

from __future__ import annotations

import json
import os
import random
from typing import Any

from arachne import Input, IterSource, Message, Node, Output, Runtime, Subgraph
from arachne.components.builtins import JsonlSink

KEYS = ("ask", "bid", "fill", "quote", "trade")


class Keep(Node):
    """Keeps what it receives, in order."""

    inp = Input(None, name="in")

    def __init__(self) -> None:
        self.got: list[Any] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.got.append(msg.payload)


class KeyedSum(Node):
    """Keeps a running total per key and emits ``[key, total]`` for each ``[key, value]``."""

    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}

    def on_message(self, port: str, msg: Message) -> None:
        key, value = msg.payload
        total = self.totals[key] = self.totals.get(key, 0) + value
        self.emit("out", [key, total])


class JsonLines(Node):
    """Appends each payload to a file as one JSON line."""

    inp = Input(None, name="in")

    def __init__(self, path: str) -> None:
        self.path = path
        self.file: Any = None

    def on_start(self) -> None:
        self.file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115  (closed in on_stop)

    def on_message(self, port: str, msg: Message) -> None:
        self.file.write(json.dumps(msg.payload) + "\n")

    def on_stop(self) -> None:
        if self.file is not None:
            self.file.close()


def keyed(count: int, path: str) -> Subgraph:
    """source -> keyed running sum -> a JSON-lines file, ``count`` items."""
    g = Subgraph("keyed")
    g.add_node(IterSource([[KEYS[i % 5], i % 97] for i in range(count)]), name="source")
    g.add_node(KeyedSum(), name="sum")
    g.add_node(JsonLines(path), name="sink")
    g.connect(("source", "out"), ("sum", "in"), capacity=256)
    g.connect(("sum", "out"), ("sink", "in"), capacity=256)
    return g


def broken_in_workers(path: str) -> Subgraph:
    """The keyed graph, except in a worker (``ARACHNE_TEST_WORKER`` set), where it raises."""
    if os.environ.get("ARACHNE_TEST_WORKER"):
        raise RuntimeError("this worker cannot build its graph")
    return keyed(10, path)


class Paced(Node):
    """Passes each item on after ``pause`` seconds: a pipeline that runs for a while."""

    mode = "async"
    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self, pause: float) -> None:
        self.pause = pause

    async def on_message(self, port: str, msg: Message) -> None:  # type: ignore[override]
        await self.sleep(self.pause)
        self.emit("out", msg.payload)


def paced(count: int, pause: float, path: str) -> Subgraph:
    """source -> paced -> a JSON-lines file: ``count`` items, ``pause`` seconds each."""
    g = Subgraph("paced")
    g.add_node(IterSource(range(count)), name="source")
    g.add_node(Paced(pause), name="paced")
    g.add_node(JsonLines(path), name="sink")
    g.connect(("source", "out"), ("paced", "in"), capacity=16)
    g.connect(("paced", "out"), ("sink", "in"), capacity=16)
    return g


class FailAt(Node):
    """Raises at item ``at``: a sink that fails in its worker."""

    inp = Input(None, name="in")

    def __init__(self, at: int) -> None:
        self.at = at
        self.seen = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.seen += 1
        if self.seen == self.at:
            raise RuntimeError(f"the sink failed at item {self.at}")


def failing_sink(count: int, at: int) -> Subgraph:
    """source -> a sink that raises at item ``at``."""
    g = Subgraph("failing")
    g.add_node(IterSource(range(count)), name="source")
    g.add_node(FailAt(at), name="sink")
    g.connect(("source", "out"), ("sink", "in"), capacity=16)
    return g


class Totals(Node):
    """Keeps a running total per key in ``context.state``: ``[n, key, v] -> [n, key, total]``.

    Its state is checkpointed, so an item handed to it twice (or never) after a restart
    makes every later total of its key wrong.
    """

    inp = Input(None, name="in")
    out = Output(None)

    def on_message(self, port: str, msg: Message) -> None:
        n, key, value = msg.payload
        state = self.context.state
        total = state[key] = state.get(key, 0) + value
        self.emit("out", [n, key, total])


def durable_totals(count: int, pause: float, path: str) -> Subgraph:
    """source -> paced -> totals -> an exactly-once JSON-lines file: for checkpointed runs."""
    g = Subgraph("totals")
    g.add_node(IterSource([[n, KEYS[n % 5], n % 97] for n in range(count)]), name="source")
    g.add_node(Paced(pause), name="paced")
    g.add_node(Totals(), name="totals")
    g.add_node(JsonlSink(path=path), name="sink")
    g.connect(("source", "out"), ("paced", "in"), capacity=16)
    g.connect(("paced", "out"), ("totals", "in"), capacity=16)
    g.connect(("totals", "out"), ("sink", "in"), capacity=16)
    return g


def tapped_totals(count: int, pause: float) -> Subgraph:
    """source -> paced -> totals -> an output tap (what ``on_output`` gets, off the actors)."""
    from arachne.distributed.documents import OutputTap

    g = Subgraph("tapped")
    g.add_node(IterSource([[n, KEYS[n % 5], n % 97] for n in range(count)]), name="source")
    g.add_node(Paced(pause), name="paced")
    g.add_node(Totals(), name="totals")
    g.add_node(OutputTap(("totals", "out")), name="tap")
    g.connect(("source", "out"), ("paced", "in"), capacity=16)
    g.connect(("paced", "out"), ("totals", "in"), capacity=16)
    g.connect(("totals", "out"), ("tap", "in"), capacity=16)
    return g


class Chatty(Node):
    """Logs each value it takes at INFO through its own logger, and forwards it."""

    inp = Input(None, name="in")
    out = Output(None)

    def on_message(self, port: str, msg: Message) -> None:
        self.context.logger.info("saw %s", msg.payload)
        self.emit("out", msg.payload)


def logged(count: int) -> Subgraph:
    """source -> a node that logs each value -> a sink that keeps them."""
    g = Subgraph("logged")
    g.add_node(IterSource(range(count)), name="source")
    g.add_node(Chatty(), name="chatty")
    g.add_node(Keep(), name="sink")
    g.connect(("source", "out"), ("chatty", "in"), capacity=16)
    g.connect(("chatty", "out"), ("sink", "in"), capacity=16)
    return g


class Ledger(Node):
    """Writes each ``[n, key, total]`` under ``n`` in a table outside the run (idempotent)."""

    inp = Input(None, name="in")

    def __init__(self, table: dict[int, list[Any]]) -> None:
        self.table = table

    def on_message(self, port: str, msg: Message) -> None:
        n, key, total = msg.payload
        self.table[n] = [key, total]


def trades(seed: int, count: int) -> list[list[Any]]:
    rng = random.Random(seed)
    return [[n, rng.choice(KEYS), rng.randrange(100)] for n in range(count)]


def ledger_graph(
    data: list[list[Any]], table: dict[int, list[Any]], pause: float = 0.0
) -> Subgraph:
    """source -> totals -> ledger; with ``pause``, a ``paced`` node after the source."""
    g = Subgraph("ledger")
    g.add_node(IterSource(data), name="source")
    g.add_node(Totals(), name="totals")
    g.add_node(Ledger(table), name="ledger")
    if pause:
        g.add_node(Paced(pause), name="paced")
        g.connect(("source", "out"), ("paced", "in"), capacity=8)
        g.connect(("paced", "out"), ("totals", "in"), capacity=8)
    else:
        g.connect(("source", "out"), ("totals", "in"), capacity=8)
    g.connect(("totals", "out"), ("ledger", "in"), capacity=8)
    return g


def single_ledger(data: list[list[Any]]) -> dict[int, list[Any]]:
    table: dict[int, list[Any]] = {}
    rt = Runtime()
    rt.register(ledger_graph(data, table))
    rt.run()
    return table


def paced_totals(count: int, pause: float, path: str) -> Subgraph:
    """source -> paced -> totals (to shard by key) -> a JSON-lines file."""
    g = Subgraph("paced-totals")
    g.add_node(IterSource([[n, KEYS[n % 5], n % 97] for n in range(count)]), name="source")
    g.add_node(Paced(pause), name="paced")
    g.add_node(Totals(), name="totals")
    g.add_node(JsonLines(path), name="sink")
    g.connect(("source", "out"), ("paced", "in"), capacity=16)
    g.connect(("paced", "out"), ("totals", "in"), capacity=16)
    g.connect(("totals", "out"), ("sink", "in"), capacity=16)
    return g
