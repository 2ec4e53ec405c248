from __future__ import annotations

from typing import Any

import pytest

from arachne import (
    Coalesce,
    DeadLetters,
    ErrorRecord,
    ExecutionError,
    IterSource,
    Message,
    Node,
    Output,
    Retry,
    Runtime,
    Subgraph,
)
from arachne.model.policies import error_policy_from_data, error_policy_to_data
from arachne.runtime import FakeClock
from tests.runtime.nodes import Collect


def line(capacity: int = 4) -> tuple[Runtime, Collect]:
    graph = Subgraph()
    graph.add_node(IterSource(range(20), name="src"))
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("collect", "in"), capacity=capacity, id="feed")
    runtime = Runtime()
    runtime.register(graph)
    return runtime, sink


def test_set_overflow_before_and_during_a_run() -> None:
    runtime, sink = line()
    runtime.set_overflow("feed", "latest")
    assert runtime.graph.links["feed"].overflow == "latest"
    runtime.set_overflow("feed", Coalesce(lambda a, b: b))
    runtime.set_overflow("feed", "block")
    runtime.run()
    assert sink.payloads == list(range(20))
    with pytest.raises(ValueError, match="unknown overflow policy"):
        runtime.set_overflow("feed", "spill")  # type: ignore[arg-type]


def test_switching_a_full_block_edge_to_drop_unblocks_its_producer() -> None:
    class Burst(Node):
        out = Output(int)

        def on_tick(self) -> None:
            for i in range(10):
                self.emit("out", i)
            self.finish()

    class Switcher(Collect):
        def on_message(self, port: str, msg: Any) -> None:
            super().on_message(port, msg)
            if msg.payload == 0:
                runtime.set_overflow("feed", "drop")
                runtime.set_capacity("feed", 2)

    graph = Subgraph()
    graph.add_node(Burst())
    sink = Switcher("sink")
    graph.add_node(sink)
    graph.connect(("burst", "out"), ("sink", "in"), capacity=4, id="feed")
    runtime = Runtime(quantum=1)
    runtime.register(graph)
    runtime.run()  # ends: the producer, held back by a full block edge, was let go
    # The 9 queued behind 0 met the new policy at the new bound: the newest 7 dropped, counted.
    assert sink.payloads == [0, 1, 2]
    feed = runtime.stats().edges["feed"]
    assert (feed.overflow, feed.dropped) == ("drop", 7)


def test_inject_into_an_ended_execution_is_refused_saying_so() -> None:
    runtime, _ = line()
    runtime.run()
    with pytest.raises(ExecutionError, match=r"has ended \(completed\)"):
        runtime.execution.inject("collect", "in", 1)


def test_injected_messages_get_trace_headers_or_keep_their_own() -> None:
    class Hold(Node):
        keep_alive = True
        out = Output(int)

    graph = Subgraph()
    graph.add_node(Hold())
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("hold", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.execution
    ex.inject("collect", "in", 1)
    ex.inject("collect", "in", Message(2, trace_id="given"))
    records = [ErrorRecord("collect", "in", "E", "e", 1, 3, {"trace_id": "r"})]
    records.append(ErrorRecord("collect", None, "E", "tick", 1, None, {}))
    assert ex.replay(records) == 1
    ex.request_stop()
    runtime.run()
    assert sink.payloads == [1, 2, 3]
    assert sink.messages[0].trace_id.startswith(ex.id)
    assert [m.trace_id for m in sink.messages[1:]] == ["given", "r"]


def test_timed_source_retries_its_tick_on_the_fake_clock() -> None:
    clock = FakeClock()

    class Sensor(Node):
        cadence = 1.0
        error_policy = Retry(max_attempts=3, backoff=0.25, then="skip")
        out = Output(float)

        def __init__(self) -> None:
            self.calls: list[float] = []

        def on_tick(self) -> None:
            self.calls.append(clock.now())
            if len(self.calls) in (2, 3):
                raise OSError("sensor busy")
            if len(self.calls) > 5:
                self.finish()
                return
            self.emit("out", clock.now())

    sensor = Sensor()
    graph = Subgraph()
    graph.add_node(sensor)
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("sensor", "out"), ("collect", "in"))
    runtime = Runtime(clock=clock)
    runtime.register(graph)
    runtime.run()
    assert sensor.calls[:4] == pytest.approx([0.0, 1.0, 1.25, 1.75])
    assert sink.payloads[:2] == pytest.approx([0.0, 1.75])
    assert runtime.stats().nodes["sensor"].retried == 2


def test_untimed_source_retries_its_tick() -> None:
    clock = FakeClock()

    class Once(Node):
        error_policy = Retry(max_attempts=2, backoff=0.5)
        out = Output(int)

        def __init__(self) -> None:
            self.calls = 0

        def on_tick(self) -> None:
            self.calls += 1
            if self.calls == 1:
                raise OSError("warming up")
            self.emit("out", self.calls)
            self.finish()

    graph = Subgraph()
    graph.add_node(Once())
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("once", "out"), ("collect", "in"))
    runtime = Runtime(clock=clock)
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [2]
    assert clock.now() == pytest.approx(0.5)


def test_dead_letters_keeps_at_most_its_limit() -> None:
    letters = DeadLetters(limit=2)
    with pytest.raises(ValueError, match="limit must be >= 1"):
        DeadLetters(limit=0)
    for i in range(3):
        letters.on_message("in", Message(ErrorRecord("n", "in", "E", "e", 1, i)))
    assert [r.payload for r in letters.records] == [1, 2]
    assert letters.overflowed == 1
    assert [r.payload for r in letters.drain()] == [1, 2]
    assert letters.records == []


@pytest.mark.parametrize(
    "policy", ["fail", "skip", "dead_letter", Retry(max_attempts=5, jitter=0.2, then="skip")]
)
def test_error_policies_round_trip_as_data(policy: Any) -> None:
    assert error_policy_from_data(error_policy_to_data(policy)) == policy


def test_error_policy_data_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown error policy"):
        error_policy_from_data("explode")
    with pytest.raises(ValueError, match="retry: "):
        error_policy_from_data({"retry": {"tries": 3}})
