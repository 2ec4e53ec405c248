from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from arachne import (
    DeadLetters,
    ErrorRecord,
    GraphError,
    Input,
    IterSource,
    Node,
    NodeFailed,
    Output,
    Retry,
    Runtime,
    Subgraph,
    node,
)
from arachne.runtime import FakeClock
from tests.runtime.nodes import Collect


class Flaky(Node):
    """Fails on the payloads in ``bad``; counts calls; keeps state across failures."""

    inp = Input(int, name="in")
    out = Output(int)

    def __init__(self, bad: set[int], *, policy: Any = "fail", clock: FakeClock | None = None):
        super().__init__(name="flaky")
        self.bad = bad
        self.error_policy = policy  # type: ignore[misc]  # per-instance policy
        self.clock = clock
        self.calls: list[tuple[int, float]] = []
        self.seen = 0

    def on_message(self, port: str, msg: Any) -> None:
        self.calls.append((msg.payload, self.clock.now() if self.clock else 0.0))
        self.seen += 1
        if msg.payload in self.bad:
            raise ValueError(f"bad value {msg.payload}")
        self.emit("out", msg.payload)


def build(
    flaky: Node, items: Any, *, letters: bool = True
) -> tuple[Subgraph, Collect, DeadLetters]:
    graph = Subgraph()
    graph.add_node(IterSource(items, name="src", schema=int))
    graph.add_node(flaky)
    sink = Collect()
    graph.add_node(sink)
    dead = DeadLetters(name="dead")
    graph.connect(("src", "out"), (flaky.name(), "in"), capacity=16)
    graph.connect((flaky.name(), "out"), ("collect", "in"), capacity=16)
    if letters:
        graph.add_node(dead)
        graph.connect((flaky.name(), "error"), ("dead", "in"), capacity=16)
    return graph, sink, dead


def run(graph: Subgraph, **kwargs: Any) -> Runtime:
    runtime = Runtime(**{"trace": True, **kwargs})
    runtime.register(graph)
    runtime.run()
    return runtime


def test_skip_counts_logs_keeps_state_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky({2, 5}, policy="skip")
    graph, sink, _ = build(flaky, range(8), letters=False)
    runtime = run(graph)
    assert sink.payloads == [0, 1, 3, 4, 6, 7]
    assert flaky.seen == 8
    stats = runtime.stats().nodes["flaky"]
    assert (stats.errors, stats.skipped, stats.dead_lettered) == (2, 2, 0)
    assert sum("skipped a message" in r.message for r in caplog.records) == 2


def test_dead_letter_records_carry_type_message_node_attempts_and_headers() -> None:
    flaky = Flaky({3}, policy="dead_letter")
    graph, sink, dead = build(flaky, range(5))
    runtime = run(graph)
    assert sink.payloads == [0, 1, 2, 4]
    [record] = dead.records
    assert isinstance(record, ErrorRecord)
    assert record.node_id == "flaky"
    assert record.port == "in"
    assert record.error_type == "ValueError"
    assert record.error == "bad value 3"
    assert record.attempts == 1
    assert record.payload == 3
    assert record.headers["seq"] == 4
    assert record.to_dict()["payload"] == 3
    assert runtime.stats().nodes["flaky"].dead_lettered == 1


def test_dead_letter_without_a_connected_error_port_is_refused() -> None:
    graph, _, _ = build(Flaky({1}, policy="dead_letter"), range(3), letters=False)
    runtime = Runtime()
    runtime.register(graph)
    with pytest.raises(GraphError, match="'error' port is not connected"):
        runtime.run()


def test_fail_ends_the_run_even_with_an_error_port() -> None:
    graph, sink, dead = build(Flaky({1}), range(3))
    runtime = Runtime()
    runtime.register(graph)
    with pytest.raises(NodeFailed, match="on_message\\('in'\\) raised ValueError: bad value 1"):
        runtime.run()
    assert dead.records == []
    assert sink.payloads in ([], [0])


def test_retry_timing_is_exact_on_the_fake_clock() -> None:
    clock = FakeClock()
    policy = Retry(max_attempts=4, backoff=0.1, then="dead_letter")
    flaky = Flaky({7}, policy=policy, clock=clock)
    graph, sink, dead = build(flaky, [7, 8])
    runtime = run(graph, clock=clock)
    times = [t for payload, t in flaky.calls if payload == 7]
    assert times == pytest.approx([0.0, 0.1, 0.3, 0.7])
    assert dead.records[0].attempts == 4
    assert sink.payloads == [8]
    assert runtime.stats().nodes["flaky"].retried == 3


def test_retry_keeps_order_and_succeeds_when_the_cause_clears() -> None:
    clock = FakeClock()

    class Recovering(Flaky):
        def on_message(self, port: str, msg: Any) -> None:
            if msg.payload == 2 and len([c for c in self.calls if c[0] == 2]) == 2:
                self.bad.discard(2)
            super().on_message(port, msg)

    flaky = Recovering({2}, policy=Retry(max_attempts=5, backoff=1.0), clock=clock)
    graph, sink, _ = build(flaky, range(5))
    run(graph, clock=clock)
    assert sink.payloads == [0, 1, 2, 3, 4]
    assert [t for p, t in flaky.calls if p == 2] == pytest.approx([0.0, 1.0, 3.0])


def test_retry_falls_back_to_fail_by_default() -> None:
    clock = FakeClock()
    graph, _, _ = build(Flaky({0}, policy=Retry(max_attempts=2), clock=clock), range(2))
    runtime = Runtime(clock=clock)
    runtime.register(graph)
    with pytest.raises(NodeFailed, match="after 2 attempts"):
        runtime.run()


def test_retry_jitter_is_bounded_and_repeatable_with_a_seed() -> None:
    def times(seed: int) -> list[float]:
        clock = FakeClock()
        policy = Retry(max_attempts=3, backoff=1.0, jitter=0.5, then="skip")
        flaky = Flaky({1}, policy=policy, clock=clock)
        graph, _, _ = build(flaky, [1])
        run(graph, clock=clock, seed=seed)
        return [t for _, t in flaky.calls]

    first = times(7)
    assert first == times(7)
    gaps = [b - a for a, b in itertools.pairwise(first)]
    assert 0.5 <= gaps[0] <= 1.5
    assert 1.0 <= gaps[1] <= 3.0


def test_tick_failures_follow_the_policy() -> None:
    class Shaky(Node):
        error_policy = "skip"
        out = Output(int)

        def __init__(self) -> None:
            self.i = 0

        def on_tick(self) -> None:
            self.i += 1
            if self.i == 3:
                raise RuntimeError("hiccup")
            if self.i > 5:
                self.finish()
                return
            self.emit("out", self.i)

    graph = Subgraph()
    graph.add_node(Shaky())
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("shaky", "out"), ("collect", "in"))
    runtime = run(graph)
    assert sink.payloads == [1, 2, 4, 5]
    assert runtime.stats().nodes["shaky"].skipped == 1


@pytest.mark.parametrize("mode", ["async", "thread"])
def test_policies_apply_to_calls_off_the_loop(mode: str) -> None:
    clock = FakeClock()
    attempts: dict[int, int] = {}

    def body(x: int) -> int:
        attempts[x] = attempts.get(x, 0) + 1
        if x % 4 == 0 and attempts[x] < 3:
            raise OSError(f"transient {x}")
        if x == 6:
            raise ValueError("permanent")
        return x

    policy = Retry(max_attempts=3, backoff=0.5, then="dead_letter")
    if mode == "async":

        async def call(x: int) -> int:
            return body(x)

        unit = node(call, name="call", error_policy=policy, concurrency=2)()
    else:
        unit = node(body, name="call", mode="thread", error_policy=policy, concurrency=2)()
    graph, sink, dead = build(unit, range(10))
    runtime = run(graph, clock=clock)
    assert sink.payloads == [0, 1, 2, 3, 4, 5, 7, 8, 9]
    assert [(r.payload, r.attempts, r.error_type) for r in dead.records] == [(6, 3, "ValueError")]
    assert runtime.stats().nodes["call"].retried == 2 * 3 + 2


def test_hundred_thousand_messages_split_exactly_between_sink_and_dead_letters() -> None:
    rng = random.Random(1234)
    bad = {i for i in range(100_000) if rng.random() < 0.05}

    @node(error_policy="dead_letter")
    def check(x: int) -> int:
        if x in bad:
            raise ValueError(x)
        return x

    graph, sink, dead = build(check(name="flaky"), range(100_000))
    run(graph)
    delivered = sink.payloads
    lettered = [record.payload for record in dead.records]
    assert len(delivered) + len(lettered) == 100_000
    assert set(delivered).isdisjoint(lettered)
    assert sorted(delivered + lettered) == list(range(100_000))
    assert set(lettered) == bad
    assert delivered == sorted(delivered)


def test_dead_letters_can_be_replayed_into_the_running_graph() -> None:
    class Feed(Node):
        keep_alive = True
        out = Output(int)

    fixed: set[int] = set()

    @node(error_policy="dead_letter")
    def picky(x: int) -> int:
        if x % 3 == 0 and x not in fixed:
            raise ValueError(x)
        return x

    graph = Subgraph()
    graph.add_node(Feed())
    graph.add_node(picky())
    sink = Collect()
    dead = DeadLetters(name="dead", limit=100)
    graph.add_node(sink)
    graph.add_node(dead)
    graph.connect(("feed", "out"), ("picky", "in"))
    graph.connect(("picky", "out"), ("collect", "in"))
    graph.connect(("picky", "error"), ("dead", "in"))
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.start()
    for i in range(10):
        ex.inject("picky", "in", i)
    while len(sink.payloads) + len(dead.records) < 10:
        ex.wait(0.001)
    fixed.update(range(10))
    assert ex.replay(dead.drain()) == 4
    while len(sink.payloads) < 10:
        ex.wait(0.001)
    runtime.stop()
    assert sorted(sink.payloads) == list(range(10))
    assert sink.payloads[:6] == [1, 2, 4, 5, 7, 8]
    runtime.shutdown()


def test_inject_validates_its_arguments() -> None:
    graph, _, _ = build(Flaky(set()), range(1))
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.execution
    with pytest.raises(GraphError, match="unknown node 'nope'"):
        ex.inject("nope", "in", 1)
    with pytest.raises(GraphError, match="no input port 'out'"):
        ex.inject("flaky", "out", 1)
    with pytest.raises(ValueError, match="inject into flaky.in: expected int, got str"):
        ex.inject("flaky", "in", "one")


def test_retry_policy_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="max_attempts must be >= 1"):
        Retry(max_attempts=0)
    with pytest.raises(ValueError, match="jitter is a fraction"):
        Retry(jitter=2)
    with pytest.raises(ValueError, match="then must be one of"):
        Retry(then="explode")  # type: ignore[arg-type]
