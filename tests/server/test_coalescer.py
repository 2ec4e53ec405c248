"""One client's per-message events: counted once per message, fair between keys, never raising."""

from __future__ import annotations

from functools import partial
from typing import Any

from arachne import Input, IterSource, Message, Node, Output, Runtime, Subgraph
from arachne.model.error_record import ErrorRecord
from arachne.runtime import Taken
from arachne.server.coalescer import VALUE_CHARS, Coalescer, event_value
from tests.runtime.nodes import Collect


class Relay(Node):
    """Passes each value on: a class node, so a full output makes it give a batch back."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload)


def drain(coalescer: Coalescer) -> list[tuple[str, dict[str, Any]]]:
    events = []
    while batch := coalescer.take(1000):
        events += batch
    return events


def test_a_batch_given_back_and_taken_again_is_counted_once() -> None:
    graph = Subgraph()
    graph.add_node(IterSource(range(2000), name="src", schema=int))
    graph.add_node(Relay(name="relay"))
    graph.add_node(Collect("sink"))
    graph.connect(("src", "out"), ("relay", "in"), id="a")
    graph.connect(("relay", "out"), ("sink", "in"), capacity=1, id="b")  # fills at once
    runtime = Runtime()
    runtime.register(graph)
    coalescer = Coalescer()
    takes: list[Taken] = []
    ex = runtime.execution
    coalescer.follow(ex.id)
    ex.watch(partial(coalescer.taken, ex.id))
    ex.watch(takes.append)
    runtime.run()
    assert len(takes) > sum(1 for t in takes if t.edge_id == "a")  # (both edges reported)
    numbers = [t.sequence for t in takes if t.edge_id == "a"]
    assert numbers != sorted(set(numbers))  # batches were given back and taken again
    events = drain(coalescer)
    invoked = {
        (data["nodeId"], data["port"]): data["count"]
        for name, data in events
        if name == "component:invoked"
    }
    assert invoked == {("relay", "in"): 2000, ("sink", "in"): 2000}
    emitted = {data["edgeId"]: data for name, data in events if name == "port:emit"}
    assert emitted["a"]["sequence"] == 2000
    assert emitted["a"]["coalesced"] == 1999  # every message, once
    assert coalescer.coalesced == 2 * 1999


def test_busy_edges_do_not_starve_the_invocation_events() -> None:
    coalescer = Coalescer()
    coalescer.follow("x")
    for index in range(40):
        taken = Taken(f"e{index}", f"n{index}", "out", f"m{index}", "in", [index], 1)
        coalescer.taken("x", taken)
    kinds = {name for name, _ in coalescer.take(10)}
    assert kinds == {"port:emit", "component:invoked"}  # oldest first, whatever their kind
    assert coalescer.waiting() == 70


def test_a_value_is_cut_or_described_and_never_raises() -> None:
    class Stubborn:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    payload = {"a": [1, 2]}
    value, cut = event_value(Message(payload))
    assert (value, cut) == (payload, False)
    assert value is not payload  # a copy: the node may change its own
    text, cut = event_value(list(range(1_000_000)))
    assert (len(text), cut) == (VALUE_CHARS, True)
    text, cut = event_value("x" * (VALUE_CHARS * 100))
    assert (len(text), cut) == (VALUE_CHARS, True)
    assert event_value(float("nan")) == ("nan", True)
    described, cut = event_value(Stubborn())
    assert cut
    assert described.startswith("<Stubborn")
    described, cut = event_value([object()])
    assert cut
    assert described.startswith("[<object object")
    record = ErrorRecord("calc", "in", "TypeError", "boom", 1, {"a": 1}, {})
    assert event_value(record) == (record.to_dict(), False)  # a dead letter, as data


def test_an_edge_made_again_under_its_id_is_counted_from_its_own_start() -> None:
    from tests.runtime.test_wiring import eventually

    graph = Subgraph()
    graph.add_node(Relay(name="relay"))
    sink = Collect("sink")
    graph.add_node(sink)
    graph.connect(("relay", "out"), ("sink", "in"), id="b")
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.start()
    try:
        coalescer = Coalescer()
        coalescer.follow(ex.id)
        ex.watch(partial(coalescer.taken, ex.id))
        for value in range(3):
            ex.inject("relay", "in", value)
        assert eventually(ex, lambda: len(sink.payloads) == 3)
        first = {d["edgeId"]: d for name, d in drain(coalescer) if name == "port:emit"}
        assert (first["b"]["sequence"], first["b"]["coalesced"] + 1) == (3, 3)
        ex.disconnect("b")
        ex.connect(("relay", "out"), ("sink", "in"), edge_id="b")  # a new edge, numbered anew
        ex.inject("relay", "in", 7)
        assert eventually(ex, lambda: len(sink.payloads) == 4)
        again = {d["edgeId"]: d for name, d in drain(coalescer) if name == "port:emit"}
        assert (again["b"]["sequence"], again["b"]["value"]) == (1, 7)
    finally:
        ex.stop()
