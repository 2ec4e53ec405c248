"""Node.cancel: a node ends itself and what only fed it (Akka's cancel upstream)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from arachne import (
    ExecutionError,
    IterSource,
    Message,
    Node,
    Runtime,
    Subgraph,
    node,
)
from arachne.runtime import FakeClock
from tests.runtime.nodes import Collect


class StopAt(Node):
    """Passes values on; at ``at`` it cancels itself (from a data message, or on_start)."""

    mode: Any = "inline"

    def __init__(self, at: int | None = None, *, at_start: bool = False) -> None:
        self.at, self.at_start, self.seen = at, at_start, 0

    def inputs(self) -> dict[str, Any]:
        return {"in": None, "control": None}

    def outputs(self) -> dict[str, Any]:
        return {"out": None}

    def on_start(self) -> None:
        if self.at_start:
            self.cancel()

    def on_message(self, port: str, msg: Message) -> None:
        if port == "control":
            self.cancel()
            return
        self.seen += 1
        self.emit("out", msg.payload)
        if self.seen == self.at:
            self.cancel()


class Threaded(StopAt):
    mode = "thread"


@node
def double(x: int) -> int:
    return x * 2


def endless(stop: StopAt, *, middle: bool = False) -> tuple[Subgraph, Collect]:
    """An endless source (through ``double`` if ``middle``) into ``stop``, then a sink."""
    g = Subgraph()
    g.add_node(IterSource(itertools.count(), name="src"))
    g.add_node(stop, name="stop")
    sink = Collect("sink")
    g.add_node(sink)
    if middle:
        g.add_node(double())
        g.connect(("src", "out"), ("double", "in"), capacity=8)
        g.connect(("double", "out"), ("stop", "in"), capacity=8)
    else:
        g.connect(("src", "out"), ("stop", "in"), capacity=8)
    g.connect(("stop", "out"), ("sink", "in"), capacity=8)
    return g, sink


def run(graph: Subgraph) -> Runtime:
    runtime = Runtime(clock=FakeClock(), execution_timeout=60)
    runtime.register(graph)
    runtime.run()
    return runtime


@pytest.mark.parametrize("middle", [False, True])
def test_a_cancel_ends_the_run_an_endless_source_feeds(middle: bool) -> None:
    graph, sink = endless(StopAt(at=5), middle=middle)
    runtime = run(graph)
    assert runtime.execution.state.value == "completed"
    assert sink.payloads == [x * 2 if middle else x for x in range(5)]  # (what passed, all)
    wiring = runtime.execution.wiring
    assert all(rn.finished for rn in wiring.nodes.values())
    retired = wiring.retired_edges
    into_stop = "double.out->stop.in" if middle else "src.out->stop.in"
    assert into_stop in retired  # (its input edges are gone, their counts kept)
    queued = sum(edge.dropped for edge in retired.values())
    assert queued > 0  # (what waited for it was dropped, and counted)


def test_a_producer_that_feeds_another_node_goes_on() -> None:
    g = Subgraph()
    g.add_node(IterSource(range(100), name="src"))
    g.add_node(StopAt(at=3), name="stop")
    other = Collect("other")
    g.add_node(other)
    g.add_node(Collect("sink"))
    g.connect(("src", "out"), ("stop", "in"), capacity=4)
    g.connect(("src", "out"), ("other", "in"), capacity=4)
    g.connect(("stop", "out"), ("sink", "in"))
    runtime = run(g)
    assert runtime.execution.state.value == "completed"
    assert other.payloads == list(range(100))  # (its other consumer got everything)


def test_a_cancel_from_on_start_ends_the_node_before_it_takes_anything() -> None:
    graph, sink = endless(StopAt(at_start=True))
    runtime = run(graph)
    assert runtime.execution.state.value == "completed"
    assert sink.payloads == []


def test_a_cancel_from_a_thread_mode_hook_is_made_on_the_loop() -> None:
    graph, sink = endless(Threaded(at=4))
    runtime = run(graph)
    assert runtime.execution.state.value == "completed"
    assert sink.payloads[:4] == [0, 1, 2, 3]


def test_an_inject_into_a_cancelled_node_is_refused() -> None:
    graph, _ = endless(StopAt(at=2))
    runtime = run(graph)
    with pytest.raises(ExecutionError):
        runtime.execution.inject("stop", "in", 1)


def test_cancel_outside_a_run_is_refused() -> None:
    with pytest.raises(ExecutionError, match="called cancel\\(\\) while not running"):
        StopAt().cancel()


def test_an_inject_on_a_control_input_overtakes_queued_data() -> None:
    """A port in ``control_inputs``: what is injected there is served before data."""

    class Switch(StopAt):
        control_inputs = frozenset({"control"})

    runtime = Runtime(clock=FakeClock(), execution_timeout=60)
    g = Subgraph()
    g.add_node(Switch(), name="stop")
    sink = Collect("sink")
    g.add_node(sink)
    g.connect(("stop", "out"), ("sink", "in"))
    runtime.register(g)
    runtime.execution.pause()  # (before it starts: it starts paused)
    execution = runtime.start()
    try:
        for value in range(50):
            execution.inject("stop", "in", value)
        execution.inject("stop", "control", "shutdown")
    finally:
        execution.resume()
        runtime.wait()
    assert execution.wiring.retired_edges["inject->stop.control"].dequeued == 1
    assert execution.wiring.retired_edges["inject->stop.in"].dropped == 50
    assert sink.payloads == []  # (the command came before all the data queued ahead of it)
