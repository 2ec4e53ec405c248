"""Where time goes (issue 12): busy, backpressured and idle seconds, sampled latency, and
the Runtime Service's metric names, on a fake clock that the nodes themselves move."""

from __future__ import annotations

import pytest

from arachne import Input, IterSource, Message, Node, Output, Runtime, Subgraph, node
from arachne.runtime import ExecutionStats, FakeClock
from tests.runtime.nodes import Collect

STEP = 0.002  # virtual seconds each call of Slow takes


class Slow(Node):
    """Doubles its input; each call moves the fake clock on by STEP, as a slow call would."""

    inp = Input(int, name="in")
    out = Output(int)
    error_policy = "skip"

    def __init__(self, clock: FakeClock, fail_on: int | None = None) -> None:
        self.clock = clock
        self.fail_on = fail_on

    def on_message(self, port: str, msg: Message) -> None:
        self.clock.advance(STEP)
        if msg.payload == self.fail_on:
            raise ValueError(f"no {msg.payload}")
        self.emit("out", msg.payload * 2)


def run(
    count: int,
    *,
    capacity: int = 100,
    overflow: str = "block",
    fail_on: int | None = None,
    metrics: bool = True,
) -> ExecutionStats:
    clock = FakeClock()
    graph = Subgraph()
    graph.add_node(IterSource(range(count), schema=int, name="numbers"))
    graph.add_node(Slow(clock, fail_on), name="slow")
    graph.add_node(Collect(), name="sink")
    graph.connect(("numbers", "out"), ("slow", "in"), capacity=capacity, overflow=overflow)
    graph.connect(("slow", "out"), ("sink", "in"))
    runtime = Runtime(clock=clock, metrics=metrics)
    runtime.register(graph)
    runtime.run()
    return runtime.execution.stats()


def test_a_nodes_busy_time_is_the_time_its_calls_took() -> None:
    stats = run(10)
    slow, sink = stats.nodes["slow"], stats.nodes["sink"]
    assert slow.busy_seconds == pytest.approx(10 * STEP)
    assert stats.elapsed == pytest.approx(10 * STEP)
    # The sink lives the whole run, waiting while slow works: its whole life is idle.
    assert sink.busy_seconds == pytest.approx(0.0)
    assert sink.idle_seconds == pytest.approx(stats.elapsed)
    for part in (slow, sink):
        parts = part.busy_seconds + part.backpressured_seconds + part.idle_seconds
        assert parts == pytest.approx(stats.elapsed)
    assert slow.busy_fraction == pytest.approx(1.0)


class HeldSink(Node):
    """Takes nothing until its second tick, one cadence (virtual seconds) in."""

    inp = Input(int, name="in")
    cadence = 0.05

    def on_start(self) -> None:
        self.ticks = 0
        self.hold_input(True)

    def on_tick(self) -> None:
        self.ticks += 1
        if self.ticks == 2:
            self.hold_input(False)

    def on_message(self, port: str, msg: Message) -> None:
        pass


def test_a_producer_held_by_a_full_edge_counts_that_time_as_backpressured() -> None:
    graph = Subgraph()
    graph.add_node(IterSource(range(10), schema=int, name="numbers"))
    graph.add_node(HeldSink(), name="sink")
    graph.connect(("numbers", "out"), ("sink", "in"), capacity=4)
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    runtime.run()
    stats = runtime.execution.stats()
    # The source fills the 4 slots at once and waits until the sink's first tick.
    numbers = stats.nodes["numbers"]
    assert numbers.backpressured_seconds == pytest.approx(HeldSink.cadence)
    assert numbers.busy_seconds == pytest.approx(0.0)
    assert stats.edges["numbers.out->sink.in"].blocked_spells >= 1


def test_latency_is_sampled_per_node_and_from_source_to_sink() -> None:
    stats = run(10)
    slow, sink = stats.nodes["slow"].latency, stats.nodes["sink"].latency
    assert slow.count >= 1
    assert sink.count >= 1
    # A message slow handles waits for the ones before it in its chunk and its own call.
    assert STEP <= slow.max <= 10 * STEP + 1e-9
    assert slow.p50 <= slow.p99 <= slow.max
    assert stats.latency.count >= 1
    assert STEP <= stats.latency.max <= 10 * STEP + 1e-9
    # Every sample is at most 10 * STEP = 20 ms: the 25 ms bucket holds them all, and the
    # 1 ms one none (each waits at least its own 2 ms call).
    buckets = dict(stats.latency.buckets)
    assert buckets[0.025] == stats.latency.count
    assert buckets[0.001] == 0


def test_without_metrics_nothing_is_timed_and_the_counters_stay() -> None:
    stats = run(10, metrics=False)
    slow = stats.nodes["slow"]
    assert (slow.received, slow.emitted) == (10, 10)
    assert (slow.busy_seconds, slow.backpressured_seconds, slow.idle_seconds) == (0, 0, 0)
    assert slow.latency.count == 0
    assert stats.latency.count == 0


def test_the_runtime_services_metrics_match_a_hand_computed_run() -> None:
    # Ten numbers pulled at once into a 4-slot "drop" edge: 0 to 3 are kept, 4 to 9 dropped.
    # slow fails on 3 (skipped) and passes 0, 2 and 4 on to the sink.
    stats = run(10, capacity=4, overflow="drop", fail_on=3)
    metrics = stats.service_metrics().to_dict()
    assert list(metrics) == [
        "messagesProcessed",
        "messagesEmitted",
        "componentInvocations",
        "avgLatencyMs",
        "maxLatencyMs",
        "errorCount",
        "backpressureEvents",
    ]
    assert metrics["messagesProcessed"] == 4 + 3  # slow's 4, the sink's 3
    assert metrics["messagesEmitted"] == 10 + 3  # the source's 10 (6 then dropped), slow's 3
    assert stats.nodes["numbers"].ticks == 1  # one pull
    assert metrics["componentInvocations"] == 1 + 4 + 3
    assert metrics["errorCount"] == 1
    assert metrics["backpressureEvents"] == 6  # the drops; nothing blocked
    samples = [node.latency for node in stats.nodes.values()]
    assert metrics["maxLatencyMs"] == pytest.approx(max(s.max for s in samples) * 1000)
    mean = sum(s.sum for s in samples) / sum(s.count for s in samples) * 1000
    assert metrics["avgLatencyMs"] == pytest.approx(mean)
    # A probed message into slow waits at least for its own call.
    assert metrics["maxLatencyMs"] >= STEP * 1000


class Ticker(Node):
    """Emits on a 10 ms cadence (virtual), each tick taking STEP; finishes after 20 ticks."""

    out = Output(int)
    cadence = 0.01

    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.n = clock, 0

    def on_tick(self) -> None:
        self.clock.advance(STEP)
        self.n += 1
        self.emit("out", self.n)
        if self.n == 20:
            self.finish()


def test_timed_ticks_are_busy_time_and_start_latency_probes() -> None:
    clock = FakeClock()
    graph = Subgraph()
    graph.add_node(Ticker(clock), name="ticker")
    graph.add_node(Collect(), name="sink")
    graph.connect(("ticker", "out"), ("sink", "in"))
    runtime = Runtime(clock=clock)
    runtime.register(graph)
    runtime.run()
    stats = runtime.execution.stats()
    ticker = stats.nodes["ticker"]
    assert ticker.busy_seconds == pytest.approx(20 * STEP)
    assert ticker.idle_seconds == pytest.approx(stats.elapsed - 20 * STEP)
    assert stats.nodes["sink"].latency.count == 20  # each tick's value, 10 ms apart
    assert stats.latency.count == 20


@pytest.mark.parametrize("mode", ["thread", "async"])
def test_latency_is_sampled_below_a_node_that_runs_off_the_loop(mode: str) -> None:
    class Off(Node):
        inp = Input(int, name="in")
        out = Output(int)

        def on_message(self, port: str, msg: Message) -> None:
            self.emit("out", msg.payload)

    Off.mode = mode  # type: ignore[assignment]
    graph = Subgraph()
    graph.add_node(IterSource(range(5), schema=int, name="numbers"))
    graph.add_node(Off(), name="off")
    graph.add_node(Collect(), name="sink")
    graph.connect(("numbers", "out"), ("off", "in"))
    graph.connect(("off", "out"), ("sink", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    stats = runtime.execution.stats()
    assert stats.nodes["off"].latency.count >= 1
    assert stats.nodes["sink"].latency.count >= 1
    assert stats.latency.count >= 1


def test_an_injected_message_is_probed_from_its_arrival() -> None:
    clock = FakeClock()
    graph = Subgraph()
    graph.add_node(Slow(clock), name="slow")
    graph.add_node(Collect(), name="sink")
    graph.connect(("slow", "out"), ("sink", "in"))
    runtime = Runtime(clock=clock)
    runtime.register(graph)
    execution = runtime.execution
    execution.inject("slow", "in", 1)
    runtime.run()
    stats = execution.stats()
    assert stats.nodes["slow"].latency.count == 1
    assert stats.nodes["slow"].latency.max == pytest.approx(STEP, rel=0.02)
    assert stats.latency.count == 1


def test_a_fused_chain_that_ends_the_graph_records_end_to_end_latency() -> None:
    @node
    def double(x: int) -> int:
        return x * 2

    @node
    def record(x: int) -> None:
        return None

    graph = Subgraph()
    graph.add_node(IterSource(range(100), schema=int, name="numbers"))
    graph.add_node(double())
    graph.add_node(record())
    graph.connect(("numbers", "out"), ("double", "in"))
    graph.connect(("double", "out"), ("record", "in"))
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    runtime.run()
    assert runtime.execution.chains  # fused
    assert runtime.execution.stats().latency.count >= 1


def test_an_ended_run_keeps_its_latency_read_out_and_lets_its_histograms_go() -> None:
    from arachne.runtime.timing import Latency

    latency = Latency()
    for micros in (100, 200, 300, 5000):
        latency.record(micros / 1e6)
    before = latency.stats()
    latency.freeze()
    latency.record(9.0)  # (after the end: ignored)
    assert latency.stats() == before
    assert latency.count == 4
    assert latency._hist is None

    graph = Subgraph()
    graph.add_node(IterSource(range(200), name="src", schema=int))
    graph.add_node(Collect("sink"))
    graph.connect(("src", "out"), ("sink", "in"))
    runtime = Runtime(metrics=True)
    runtime.register(graph)
    runtime.run()
    ex = runtime.execution
    assert all(rn.timing.latency._hist is None for rn in ex.wiring.nodes.values())
    stats = runtime.stats()
    assert stats.nodes["sink"].latency.count >= 1  # still read out after the end
    assert stats.latency.count >= 1
