"""Start, then inject (issue 13): unfed input ports stay open until closed, stopped or ended.

The Runtime Service's flow is ``start()`` then ``inject()``: the execution must wait for the
first injected value instead of racing it (it used to finish first, about one run in ten).
"""

from __future__ import annotations

import pytest

from arachne import ExecutionError, Input, Message, Node, Output, Runtime, Subgraph
from arachne.runtime import ExecutionState
from tests.runtime.nodes import Collect

WAIT = 30.0  # real seconds: a bound on a hang, not a timing claim


class Double(Node):
    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload * 2)


def entry_graph() -> tuple[Subgraph, Collect]:
    """``double`` (fed by nothing but inject) -> ``sink``."""
    sink = Collect()
    graph = Subgraph()
    graph.add_node(Double(), name="double")
    graph.add_node(sink, name="sink")
    graph.connect(("double", "out"), ("sink", "in"))
    return graph, sink


def test_start_then_inject_succeeds_a_thousand_times_out_of_a_thousand() -> None:
    runtime = Runtime()
    try:
        for _ in range(1000):
            graph, sink = entry_graph()
            execution = runtime.launch(runtime.open_execution(graph))
            execution.inject("double", "in", 21)
            execution.close_inputs()
            assert execution.wait(WAIT)
            assert execution.state is ExecutionState.COMPLETED
            assert sink.payloads == [42]
            del runtime.executions[execution.id]
    finally:
        runtime.shutdown(WAIT)


def test_an_execution_fed_by_inject_waits_until_its_inputs_are_closed() -> None:
    graph, sink = entry_graph()
    runtime = Runtime()
    runtime.register(graph)
    execution = runtime.start()
    try:
        assert execution.inputs_open
        for value in range(5):
            execution.inject("double", "in", value)
        assert not execution.wait(0.05)  # waiting for more, not finished
        assert execution.state is ExecutionState.RUNNING
        execution.close_inputs()
        execution.close_inputs()  # idempotent
        assert execution.wait(WAIT)
    finally:
        runtime.shutdown(WAIT)
    assert execution.state is ExecutionState.COMPLETED
    assert sink.payloads == [0, 2, 4, 6, 8]
    with pytest.raises(ExecutionError, match="has ended"):
        execution.inject("double", "in", 1)


def test_stop_ends_an_execution_waiting_for_injected_values() -> None:
    graph, sink = entry_graph()
    runtime = Runtime()
    runtime.register(graph)
    execution = runtime.start()
    execution.inject("double", "in", 1)
    assert execution.stop(timeout=WAIT)
    runtime.shutdown(WAIT)
    assert execution.state is ExecutionState.COMPLETED
    assert sink.payloads == [2]


def test_run_has_no_one_to_wait_for_and_ends_as_before() -> None:
    graph, sink = entry_graph()
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()  # nothing can inject while it blocks: the unfed input is closed
    assert not runtime.execution.inputs_open
    assert sink.payloads == []
    assert runtime.execution.state is ExecutionState.COMPLETED


def test_keep_inputs_open_comes_before_the_start() -> None:
    graph, _ = entry_graph()
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    with pytest.raises(ExecutionError, match="before it starts"):
        runtime.execution.keep_inputs_open()
