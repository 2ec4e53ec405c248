from __future__ import annotations

import pytest

from arachne import (
    ExecutionError,
    Input,
    IterSource,
    Message,
    Node,
    NodeFailed,
    Output,
    Runtime,
    Subgraph,
)
from arachne.runtime import FakeClock
from arachne.runtime.events import Event, ExecutionStateChanged, NodeEvent
from tests.runtime.nodes import Collect, Relay


class Emitter(Node):
    """A source that emits what its ``plan`` says, in one tick, then finishes."""

    out = Output(None)
    spare = Output(None)

    def __init__(self, plan: list[tuple[object, object]]) -> None:
        self.plan = plan

    def on_tick(self) -> None:
        for port, value in self.plan:
            self.emit(port, value)  # type: ignore[arg-type]
        self.finish()


def run_emitter(
    plan: list[tuple[object, object]], *, relay: bool = False, trace: bool = True
) -> tuple[Runtime, Collect]:
    graph = Subgraph()
    graph.add_node(Emitter(plan))
    sink = Collect()
    graph.add_node(sink)
    if relay:
        graph.add_node(Relay())
        graph.connect(("emitter", "out"), ("relay", "in"))
        graph.connect(("relay", "out"), ("collect", "in"))
    else:
        graph.connect(("emitter", "out"), ("collect", "in"))
    runtime = Runtime(trace=trace)
    runtime.register(graph)
    runtime.run()
    return runtime, sink


def test_source_values_get_fresh_trace_headers() -> None:
    _, sink = run_emitter([("out", "a"), ("out", "b")])
    first, second = sink.messages
    assert first.headers["seq"] == 1
    assert second.headers["seq"] == 2
    assert first.trace_id != second.trace_id
    assert first.headers["ts"] <= second.headers["ts"]


def test_derived_values_share_the_parent_headers_object() -> None:
    runtime, sink = run_emitter([("out", 1)], relay=True)
    assert sink.messages[0].headers["seq"] == 1
    relay_in = runtime.stats().nodes["relay"]
    assert relay_in.received == relay_in.emitted == 1


def test_messages_with_headers_pass_unchanged_and_bare_messages_are_stamped() -> None:
    _, sink = run_emitter([("out", Message("x", trace_id="mine")), ("out", Message("y"))])
    assert sink.messages[0].trace_id == "mine"
    assert sink.messages[1].trace_id is not None
    assert sink.payloads == ["x", "y"]


def test_emit_accepts_a_port_spec() -> None:
    _, sink = run_emitter([(Emitter.out, 5)])
    assert sink.payloads == [5]


def test_unconnected_output_is_a_counting_plug() -> None:
    runtime, sink = run_emitter([("spare", 1), ("spare", 2), ("out", 3)])
    assert sink.payloads == [3]
    assert runtime.stats().nodes["emitter"].unrouted == 2


def test_emit_on_an_undeclared_port_fails_the_run_naming_the_ports() -> None:
    with pytest.raises(NodeFailed, match="not one of its output ports \\(error, out, spare\\)"):
        run_emitter([("typo", 1)])


def test_finish_from_a_node_with_inputs_is_refused() -> None:
    class Quitter(Collect):
        def on_message(self, port: str, msg: Message) -> None:
            self.finish()

    graph = Subgraph()
    graph.add_node(Emitter([("out", 1)]))
    graph.add_node(Quitter("quitter"))
    graph.connect(("emitter", "out"), ("quitter", "in"))
    runtime = Runtime()
    runtime.register(graph)
    with pytest.raises(NodeFailed, match="finish\\(\\) is for sources"):
        runtime.run()


def test_subscribers_receive_lifecycle_events_in_order() -> None:
    events: list[Event] = []
    graph = Subgraph()
    graph.add_node(Emitter([("out", 1)]))
    graph.add_node(Collect())
    graph.connect(("emitter", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.subscribe(events.append)
    runtime.register(graph)
    runtime.run()
    states = [e.new for e in events if isinstance(e, ExecutionStateChanged)]
    assert states == ["initializing", "running", "completed"]
    kinds = [(type(e).__name__, e.node_id) for e in events if isinstance(e, NodeEvent)]
    assert kinds == [
        ("NodeStarted", "emitter"),
        ("NodeStarted", "collect"),
        ("NodeFinished", "emitter"),
        ("NodeFinished", "collect"),
        ("NodeStopped", "collect"),
        ("NodeStopped", "emitter"),
    ]
    assert all(e.execution_id == runtime.execution.id for e in events)


def test_context_carries_ids_config_and_state_kept_from_before_the_run() -> None:
    seen: dict[str, object] = {}

    class Probe(Collect):
        def on_start(self) -> None:
            ctx = self.context
            seen.update(
                node=ctx.node_id,
                execution=ctx.execution_id,
                config=dict(ctx.config),
                state=dict(ctx.state),
            )

    probe = Probe("probe")
    probe.context.state["warm"] = True
    graph = Subgraph()
    graph.add_node(Emitter([("out", 1)]))
    graph.add_node(probe, config={"level": 3})
    graph.connect(("emitter", "out"), ("probe", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert seen == {
        "node": "probe",
        "execution": runtime.execution.id,
        "config": {"level": 3},
        "state": {"warm": True},
    }


def test_without_tracing_messages_carry_no_headers() -> None:
    _, sink = run_emitter([("out", "a"), ("out", Message("b"))], relay=True, trace=False)
    assert sink.payloads == ["a", "b"]
    assert [dict(m.headers) for m in sink.messages] == [{}, {}]


class Napper(Node):
    """Waits half a minute on the runtime's clock before passing each value on."""

    inp = Input(int, name="in")
    out = Output(int)
    mode = "async"

    async def on_message(self, port: str, msg: Message) -> None:  # type: ignore[override]
        await self.sleep(30)
        self.emit("out", msg.payload)


def test_sleep_waits_on_the_runtime_s_clock() -> None:
    clock = FakeClock()
    sink = Collect()
    graph = Subgraph()
    graph.add_node(IterSource([1, 2], name="src"))
    graph.add_node(Napper(name="nap"))
    graph.add_node(sink)
    graph.connect(("src", "out"), ("nap", "in"))
    graph.connect(("nap", "out"), ("collect", "in"))
    runtime = Runtime(clock=clock)
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [1, 2]
    assert clock.now() >= 60  # two naps of 30 s, on the fake clock: no real wait
    with pytest.raises(ExecutionError, match="sleep\\(\\) while not running"):
        Napper().sleep(1)
