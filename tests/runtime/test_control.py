from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from arachne import ExecutionError, GraphError, IterSource, Node, Runtime, Subgraph
from arachne.runtime import Execution, ExecutionState
from tests.runtime.nodes import Collect, Forever


class Gate(Node):
    """A sink that blocks the loop thread on an event, so tests can freeze the graph."""

    def __init__(self, name: str = "gate") -> None:
        super().__init__(name=name)
        self.open = threading.Event()
        self.arrived = threading.Event()
        self.payloads: list[object] = []

    def inputs(self) -> dict[str, object]:
        return {"in": None}

    def on_message(self, port: str, msg: object) -> None:
        self.arrived.set()
        assert self.open.wait(10), "test never opened the gate"
        self.payloads.append(msg.payload)  # type: ignore[attr-defined]


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Wait for another thread to make ``condition`` true; never asserts on timing."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        threading.Event().wait(0.001)
    return True


def forever_into(sink: Node, capacity: int = 8) -> tuple[Runtime, Forever]:
    graph = Subgraph()
    source = Forever()
    graph.add_node(source)
    graph.add_node(sink)
    graph.connect(("forever", "out"), (sink.name(), "in"), capacity=capacity)
    runtime = Runtime()
    runtime.register(graph)
    return runtime, source


def test_start_then_graceful_stop_drains_everything() -> None:
    sink = Collect()
    runtime, source = forever_into(sink)
    ex = runtime.start()
    assert ex.state in (ExecutionState.PENDING, ExecutionState.INITIALIZING, ExecutionState.RUNNING)

    assert eventually(lambda: len(sink.payloads) >= 1000)
    runtime.stop()
    assert ex.state is ExecutionState.COMPLETED
    assert sink.payloads == list(range(source.i))
    assert "finish collect" in sink.log
    assert "stop collect" in sink.log
    stats = runtime.stats()
    assert stats.in_flight == 0
    runtime.shutdown()


def test_hard_stop_cancels_and_counts_what_it_discards() -> None:
    class Burst(Node):
        def outputs(self) -> dict[str, object]:
            return {"out": int}

        def on_tick(self) -> None:
            for i in range(10):
                self.emit("out", i)

    class Canceller(Collect):
        def on_message(self, port: str, msg: object) -> None:
            super().on_message(port, msg)  # type: ignore[arg-type]
            runtime.execution.request_stop(drain=False)

    graph = Subgraph()
    graph.add_node(Burst())
    sink = Canceller("sink")
    graph.add_node(sink)
    graph.connect(("burst", "out"), ("sink", "in"), capacity=16)
    runtime = Runtime(quantum=1)
    runtime.register(graph)
    runtime.run()
    assert runtime.execution.state is ExecutionState.CANCELLED
    edge = runtime.stats().edges["burst.out->sink.in"]
    assert sink.payloads == [0]
    assert edge.dropped == 9
    assert edge.offered == edge.dequeued + edge.dropped + edge.depth
    assert "finish sink" not in sink.log
    assert "stop sink" in sink.log


def paused_run() -> tuple[Runtime, Forever, Gate, Execution]:
    """Start ``forever -> gate``, pause it while the gate holds a message, then let go."""
    gate = Gate()
    runtime, source = forever_into(gate, capacity=4)
    ex = runtime.start()
    assert gate.arrived.wait(10)
    ex.pause()
    gate.open.set()
    assert eventually(lambda: ex.state is ExecutionState.PAUSED)
    return runtime, source, gate, ex


def test_pause_holds_messages_and_resume_drains_them() -> None:
    runtime, source, gate, ex = paused_run()
    seen, produced = len(gate.payloads), source.i
    held = runtime.stats().edges["forever.out->gate.in"].depth
    threading.Event().wait(0.05)
    assert (len(gate.payloads), source.i) == (seen, produced)
    ex.resume()
    runtime.stop()
    assert ex.state is ExecutionState.COMPLETED
    assert len(gate.payloads) >= seen + held
    assert gate.payloads == list(range(source.i))
    runtime.shutdown()


def test_pause_and_resume_are_idempotent_and_a_pause_before_the_start_holds() -> None:
    sink = Collect()
    runtime, _ = forever_into(sink)
    ex = runtime.execution
    ex.resume()  # not paused: nothing to do
    ex.pause()
    ex.pause()  # asked already: nothing more
    runtime.start()
    assert eventually(lambda: ex.state is ExecutionState.PAUSED)
    threading.Event().wait(0.05)
    assert sink.payloads == []  # paused from its start: nothing was activated
    assert ex.stats().activations == 0
    ex.resume()
    ex.resume()
    assert eventually(lambda: len(sink.payloads) > 0)
    runtime.stop(timeout=10)
    assert ex.state is ExecutionState.COMPLETED
    with pytest.raises(ExecutionError, match="completed"):
        ex.pause()
    runtime.shutdown()


def test_set_capacity_live_lets_a_blocked_producer_continue() -> None:
    gate = Gate()
    runtime, _ = forever_into(gate, capacity=2)
    ex = runtime.start()
    assert gate.arrived.wait(10)
    runtime.set_capacity("forever.out->gate.in", 10)
    gate.open.set()
    assert eventually(lambda: runtime.stats().edges["forever.out->gate.in"].high_water > 2)
    runtime.stop()
    stats = runtime.stats().edges["forever.out->gate.in"]
    assert stats.capacity == 10
    assert 2 < stats.high_water <= 10
    assert runtime.graph.links["forever.out->gate.in"].capacity == 10
    assert ex.state is ExecutionState.COMPLETED
    runtime.shutdown()


def test_set_capacity_and_priority_check_their_arguments() -> None:
    runtime, _ = forever_into(Collect())
    with pytest.raises(GraphError, match="unknown edge 'nope'.*forever.out->collect.in"):
        runtime.set_capacity("nope", 3)
    with pytest.raises(ValueError, match="capacity must be an int >= 1"):
        runtime.set_capacity("forever.out->collect.in", 0)
    with pytest.raises(ValueError, match="priority must be an int"):
        runtime.set_priority("forever.out->collect.in", 1.5)  # type: ignore[arg-type]


def test_set_priority_before_run_orders_inputs() -> None:
    graph = Subgraph()
    graph.add_node(IterSource(["low"] * 5, name="low"))
    graph.add_node(IterSource(["high"] * 5, name="high"))
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("low", "out"), ("collect", "in"), capacity=5, id="low")
    graph.connect(("high", "out"), ("collect", "in"), capacity=5, id="high")
    runtime = Runtime()
    runtime.register(graph)
    runtime.set_priority("high", 5)
    runtime.run()
    assert runtime.stats().edges["high"].priority == 5
    assert sink.payloads[:5] == ["high"] * 5


def test_control_edges_are_served_before_data_edges() -> None:
    graph = Subgraph()
    graph.add_node(IterSource(range(20), name="data"))
    graph.add_node(IterSource(["halt"], name="admin"))
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("data", "out"), ("collect", "in"), capacity=20)
    graph.connect(("admin", "out"), ("collect", "in"), capacity=1, control=True)
    runtime = Runtime(quantum=4)
    runtime.register(graph)
    runtime.run()
    # Both sources fill their edges before the sink runs; the control message goes first.
    assert sink.payloads[0] == "halt"


def test_two_executions_on_one_runtime_are_isolated() -> None:
    runtime = Runtime()
    sinks = [Collect(f"sink{i}") for i in range(2)]
    executions = []
    for i, sink in enumerate(sinks):
        graph = Subgraph()
        graph.add_node(IterSource(range(i * 100, i * 100 + 50), name="src"))
        graph.add_node(sink)
        graph.connect(("src", "out"), (sink.name(), "in"), capacity=3)
        executions.append(runtime.launch(runtime.open_execution(graph)))
    for ex in executions:
        assert ex.wait(10)
        ex.raise_if_failed()
    assert sinks[0].payloads == list(range(50))
    assert sinks[1].payloads == list(range(100, 150))
    with pytest.raises(ExecutionError, match="only once"):
        runtime.launch(executions[0])
    runtime.shutdown()


def test_run_after_start_waits_for_the_execution() -> None:
    sink = Collect()
    graph = Subgraph()
    graph.add_node(IterSource(range(10)))
    graph.add_node(sink)
    graph.connect(("iter_source", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.start()
    runtime.run()
    assert runtime.wait(1)
    assert sink.payloads == list(range(10))
    runtime.shutdown()


def test_a_graceful_stop_of_a_paused_execution_resumes_it_to_drain() -> None:
    runtime, source, gate, ex = paused_run()
    ex.request_stop()
    assert ex.wait(10)
    assert ex.state is ExecutionState.COMPLETED
    assert gate.payloads == list(range(source.i))
    runtime.shutdown()


def test_stop_right_after_start_stops_an_execution_the_loop_has_not_begun() -> None:
    runtime, _ = forever_into(Collect())
    ex = runtime.start()  # the loop thread may not have taken it up yet
    runtime.stop(timeout=10)
    assert ex.done
    assert ex.state in (ExecutionState.COMPLETED, ExecutionState.CANCELLED)
    runtime.shutdown()


def test_an_execution_launched_twice_says_so() -> None:
    runtime, _ = forever_into(Collect())
    ex = runtime.start()
    try:
        with pytest.raises(ExecutionError, match="launched already"):
            runtime.launch(ex)
    finally:
        runtime.stop(timeout=10)
        runtime.shutdown()


def test_a_stop_after_a_paused_execution_was_cancelled_does_nothing() -> None:
    runtime, _, _, ex = paused_run()
    ex.request_stop(drain=False)
    assert ex.wait(10)
    assert ex.state is ExecutionState.CANCELLED
    ex.request_stop()  # it has ended: nothing to do
    assert ex.state is ExecutionState.CANCELLED
    runtime.shutdown()


def test_a_pause_after_a_graceful_stop_does_not_hold_up_the_drain() -> None:
    gate = Gate()
    runtime, source = forever_into(gate, capacity=4)
    ex = runtime.start()
    assert gate.arrived.wait(10)  # the loop is inside the gate's hook: both calls queue
    ex.request_stop()
    ex.pause()  # still running when asked, so accepted here; dropped when its turn comes
    gate.open.set()
    assert ex.wait(10)
    assert ex.state is ExecutionState.COMPLETED
    assert gate.payloads == list(range(source.i))
    with pytest.raises(ExecutionError, match="completed"):
        ex.pause()
    runtime.shutdown()


def test_resume_right_after_pause_applies_both_in_order() -> None:
    runtime, _source, _gate, ex = paused_run()
    ex.resume()
    ex.pause()
    ex.resume()  # before the pause has taken effect: no "not paused" error
    assert ex.stop(timeout=10)
    assert ex.state is ExecutionState.COMPLETED
    runtime.shutdown()
