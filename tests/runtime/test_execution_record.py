"""The execution's record, its timeout, the runtime's concurrency limit, forgetting (issue 13)."""

from __future__ import annotations

import asyncio
import time

import pytest

from arachne import ExecutionError, Input, IterSource, Message, Node, Output, Runtime, Subgraph
from arachne.runtime import (
    MAX_CONCURRENT_EXECUTIONS,
    ExecutionState,
    ExecutionTimeout,
    FakeClock,
)
from arachne.runtime.events import ExecutionRestarted
from tests.runtime.nodes import Collect

WAIT = 30.0  # real seconds: a bound on a hang, not a timing claim


class Picky(Node):
    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        if msg.payload == 3:
            raise ValueError("three is not allowed")
        self.emit("out", msg.payload)


def numbers(values: list[int]) -> Subgraph:
    graph = Subgraph("numbers")
    graph.add_node(IterSource(values, schema=int, name="source"))
    graph.add_node(Picky(), name="picky")
    graph.add_node(Collect(), name="sink")
    graph.connect(("source", "out"), ("picky", "in"))
    graph.connect(("picky", "out"), ("sink", "in"))
    return graph


def test_a_completed_execution_has_its_record() -> None:
    runtime = Runtime()
    before = time.time()
    execution = runtime.open_execution(numbers([1, 2]))
    asyncio.run(execution.run())
    record = execution.record()
    assert record.id == execution.id
    assert record.graph_id == "numbers"
    assert record.checksum == execution.graph.checksum()
    assert record.state == "completed"
    assert record.started_at is not None
    assert record.completed_at is not None
    assert before - 1 <= record.created_at <= record.started_at <= record.completed_at
    assert record.error is None
    assert record.metrics["messagesProcessed"] == 2 + 2
    assert record.to_dict()["graphId"] == "numbers"


def test_a_failed_execution_records_the_error_type_message_and_node() -> None:
    execution = Runtime().open_execution(numbers([1, 3]))
    with pytest.raises(ExecutionError):
        asyncio.run(execution.run())
    record = execution.record()
    assert record.state == "failed"
    assert record.error is not None
    assert (record.error.type, record.error.node) == ("ValueError", "picky")
    assert "three is not allowed" in record.error.message
    assert record.to_dict()["error"]["nodeId"] == "picky"


class Ticker(Node):
    """Emits once a (virtual) second, for ever."""

    out = Output(int)
    cadence = 1.0

    def on_tick(self) -> None:
        self.emit("out", 1)


def test_an_execution_past_its_timeout_fails_with_a_timeout_error() -> None:
    graph = Subgraph()
    graph.add_node(Ticker(), name="ticker")
    graph.add_node(Collect(), name="sink")
    graph.connect(("ticker", "out"), ("sink", "in"))
    runtime = Runtime(clock=FakeClock(), execution_timeout=5.0)
    runtime.register(graph)
    with pytest.raises(ExecutionTimeout, match="past its timeout of 5 s"):
        runtime.run()
    assert runtime.execution.state is ExecutionState.FAILED
    record = runtime.execution.record()
    assert record.error is not None
    assert record.error.type == "ExecutionTimeout"


def test_the_timeout_runs_on_while_paused() -> None:
    graph = Subgraph()
    graph.add_node(Collect(), name="sink")
    runtime = Runtime(execution_timeout=0.2)
    runtime.register(graph)
    execution = runtime.start()  # an open input: it would wait for ever
    deadline = time.monotonic() + WAIT
    while execution.state is not ExecutionState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.001)
    execution.pause()
    assert execution.wait(WAIT)
    runtime.shutdown(WAIT)
    assert execution.state is ExecutionState.FAILED
    assert isinstance(execution.error, ExecutionTimeout)


def test_a_timeout_must_be_positive() -> None:
    runtime = Runtime()
    with pytest.raises(ValueError, match="timeout must be a number of seconds > 0"):
        runtime.open_execution(numbers([1]), timeout=0)


def test_the_runtime_refuses_an_execution_past_its_limit_and_forgets_ended_ones() -> None:
    assert MAX_CONCURRENT_EXECUTIONS == 100
    runtime = Runtime(max_concurrent_executions=2)
    try:
        waiting = []
        for _ in range(2):
            graph = Subgraph()
            graph.add_node(Collect(), name="sink")
            waiting.append(runtime.launch(runtime.open_execution(graph)))
        third = runtime.open_execution(numbers([1]))
        with pytest.raises(ExecutionError, match=r"max_concurrent_executions=2"):
            runtime.launch(third)
        with pytest.raises(ExecutionError, match="stop it"):
            runtime.forget(waiting[0].id)
        assert waiting[0].stop(timeout=WAIT)
        runtime.forget(waiting[0].id)
        assert waiting[0].id not in runtime.executions
        runtime.launch(third)  # room again
        assert third.wait(WAIT)
        assert third.state is ExecutionState.COMPLETED
        with pytest.raises(ExecutionError, match="no execution 'nope'"):
            runtime.forget("nope")
    finally:
        runtime.shutdown(WAIT)


class Counter(Node):
    """Counts every value it has seen, across runs, in its state."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        self.context.state["seen"] = self.context.state.get("seen", 0) + 1
        self.emit("out", self.context.state["seen"])


def test_restart_runs_the_graph_again_as_a_new_execution_keeping_node_state() -> None:
    counter, sink = Counter(), Collect()
    graph = Subgraph()
    graph.add_node(counter, name="counter")
    graph.add_node(sink, name="sink")
    graph.connect(("counter", "out"), ("sink", "in"))
    runtime = Runtime()
    runtime.register(graph)
    restarted: list[tuple[str, str]] = []
    runtime.subscribe(lambda e: restarted.append((e.previous, e.execution_id)), ExecutionRestarted)
    try:
        first = runtime.start()
        first.inject("counter", "in", 1)
        second = runtime.restart(first.id, timeout=WAIT)  # stops the first, gracefully
        assert first.state is ExecutionState.COMPLETED
        assert second.id != first.id
        assert second.graph == first.graph
        second.inject("counter", "in", 1)
        second.close_inputs()
        assert second.wait(WAIT)
        assert second.state is ExecutionState.COMPLETED
    finally:
        runtime.shutdown(WAIT)
    assert sink.payloads == [1, 2]  # the count went on: the instance and its state are kept
    assert restarted == [(first.id, second.id)]
    with pytest.raises(ExecutionError, match="no execution 'nope' to restart"):
        runtime.restart("nope")


def test_a_config_with_no_json_form_still_runs_and_has_no_checksum() -> None:
    class Holds(Node):
        inp = Input(int, name="in")

        def __init__(self) -> None:
            super().__init__(config={"fn": abs})

    execution = Runtime().open_execution(Holds())
    asyncio.run(execution.run())
    assert execution.record().checksum is None
    assert execution.state is ExecutionState.COMPLETED


def test_restarting_the_default_execution_makes_the_new_one_the_default() -> None:
    graph = Subgraph()
    graph.add_node(Collect(), name="sink")
    runtime = Runtime()
    runtime.register(graph)
    try:
        first = runtime.start()
        second = runtime.restart(first.id, timeout=WAIT)
        assert runtime.execution is second
        second.close_inputs()
        assert runtime.wait(WAIT)
        assert second.state is ExecutionState.COMPLETED
    finally:
        runtime.shutdown(WAIT)


def test_close_inputs_before_the_launch_is_kept() -> None:
    graph = Subgraph()
    graph.add_node(Collect(), name="sink")
    runtime = Runtime()
    execution = runtime.open_execution(graph)
    execution.close_inputs()
    runtime.launch(execution)
    try:
        assert execution.wait(WAIT)  # nothing to wait for: it completes on its own
        assert not execution.inputs_open
    finally:
        runtime.shutdown(WAIT)
