"""A node's config changed while it runs (issue 13): on_config of that node only."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from arachne import CommitFailed, ExecutionError, Input, Message, Node, Output, Runtime, Subgraph
from arachne.runtime import ExecutionState
from arachne.runtime.events import NodeReconfigured
from tests.runtime.nodes import Collect

WAIT = 30.0  # real seconds: a bound on a hang, not a timing claim


class Scale(Node):
    """Multiplies by ``factor``; counts what it saw in its state; refuses a factor of 0."""

    inp = Input(int, name="in")
    out = Output(int)

    def __init__(self, factor: int = 1) -> None:
        super().__init__(config={"factor": factor})
        self.configs: list[dict[str, Any]] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.context.state["seen"] = self.context.state.get("seen", 0) + 1
        self.emit("out", msg.payload * self.context.config["factor"])

    def on_config(self, config: Mapping[str, Any]) -> None:
        if config["factor"] == 0:
            raise ValueError("a factor of 0 would erase every value")
        self.configs.append(dict(config))


class Fixed(Node):
    """Has a config but no on_config."""

    inp = Input(int, name="in")
    out = Output(int)

    def __init__(self) -> None:
        super().__init__(config={"offset": 1})

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload + self.context.config["offset"])


def started() -> tuple[Runtime, Scale, Scale, Collect]:
    """a (Scale 2) -> b (Scale 10) -> sink, started and fed by inject."""
    a, b, sink = Scale(2), Scale(10), Collect()
    graph = Subgraph()
    graph.add_node(a, name="a")
    graph.add_node(b, name="b")
    graph.add_node(Fixed(), name="fixed")
    graph.add_node(sink, name="sink")
    graph.connect(("a", "out"), ("b", "in"))
    graph.connect(("b", "out"), ("sink", "in"))
    graph.connect(("fixed", "out"), ("sink", "in"), id="fixed-out")
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.start()
    deadline = time.monotonic() + WAIT
    while ex.state is not ExecutionState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.001)  # every node started: changes now reach on_config
    return runtime, a, b, sink


def test_a_new_config_reaches_that_nodes_on_config_only_and_keeps_state() -> None:
    # a's config changes; b's changes too, but to the same factor: its output is untouched.
    runtime, a, b, sink = started()
    ex = runtime.execution
    reconfigured: list[str] = []
    ex.subscribe(lambda event: reconfigured.append(event.node_id), NodeReconfigured)
    try:
        ex.inject("a", "in", 1)
        deadline = time.monotonic() + WAIT
        while not sink.payloads and time.monotonic() < deadline:
            time.sleep(0.001)  # handled with the old config first
        assert ex.update_config("a", {"factor": 3})
        assert not ex.update_config("a", {"factor": 3})  # the same again: nothing to do
        assert ex.update_config("b", {"factor": 10, "tags": (1, 2)})
        assert ex.update_config("b", {"factor": 10, "tags": [1, 2]})  # a change, by ==
        ex.inject("a", "in", 1)
        ex.close_inputs()
        assert ex.wait(WAIT)
    finally:
        runtime.shutdown(WAIT)
    assert sink.payloads == [20, 30]
    assert a.configs == [{"factor": 3}]
    assert b.configs == [{"factor": 10, "tags": (1, 2)}, {"factor": 10, "tags": [1, 2]}]
    assert (a.context.state["seen"], b.context.state["seen"]) == (2, 2)  # state kept
    assert ex.graph.nodes["a"].config == {"factor": 3}
    assert ex.running_graph() == ex.graph
    assert reconfigured == ["a", "b", "b"]


def test_a_refused_config_leaves_the_old_one_everywhere() -> None:
    runtime, a, _, sink = started()
    ex = runtime.execution
    try:
        with pytest.raises(CommitFailed, match="node 'a' refused its new config.*factor of 0") as e:
            ex.update_config("a", {"factor": 0})
        assert e.value.node_id == "a"
        assert isinstance(e.value.__cause__, ValueError)
        assert a.context.config == {"factor": 2}
        assert ex.graph.nodes["a"].config == {"factor": 2}
        assert ex.running_graph() == ex.graph
        ex.inject("a", "in", 1)
        ex.close_inputs()
        assert ex.wait(WAIT)
    finally:
        runtime.shutdown(WAIT)
    assert sink.payloads == [20]


def test_a_node_without_on_config_says_how_to_change_it() -> None:
    runtime, *_ = started()
    try:
        with pytest.raises(ExecutionError, match="has no on_config"):
            runtime.execution.update_config("fixed", {"offset": 2})
        with pytest.raises(Exception, match="unknown node 'nope'"):
            runtime.execution.update_config("nope", {})
    finally:
        runtime.stop(timeout=WAIT)
        runtime.shutdown(WAIT)


def test_before_the_start_a_config_is_simply_replaced() -> None:
    fixed, sink = Fixed(), Collect()
    graph = Subgraph()
    graph.add_node(fixed, name="fixed")
    graph.add_node(sink, name="sink")
    graph.connect(("fixed", "out"), ("sink", "in"))
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.execution
    assert ex.update_config("fixed", {"offset": 5})
    ex.inject("fixed", "in", 1)
    runtime.run()
    assert sink.payloads == [6]
