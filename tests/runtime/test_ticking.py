from __future__ import annotations

import pytest

from arachne import GraphError, Node, Output, Runtime, Subgraph
from arachne.model.policies import Mode
from arachne.runtime import FakeClock
from tests.runtime.nodes import Collect


class Timed(Node):
    """Emits the clock's time on each of its first ``n`` ticks."""

    out = Output(float)

    def __init__(self, clock: FakeClock, n: int, cadence: float, finish: bool = False) -> None:
        self.clock, self.n, self.explicit = clock, n, finish
        self.cadence = cadence  # type: ignore[misc]  # per-instance override of the class default
        self.ticks = 0

    def on_tick(self) -> None:
        self.ticks += 1
        if self.ticks <= self.n:
            self.emit("out", self.clock.now())
        elif self.explicit:
            self.finish()


def run_timed(source: Node, clock: FakeClock) -> Collect:
    graph = Subgraph()
    graph.add_node(source)
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("timed", "out"), ("collect", "in"))
    runtime = Runtime(clock=clock)
    runtime.register(graph)
    runtime.run()
    return sink


def test_ticks_follow_the_cadence_on_the_fake_clock() -> None:
    clock = FakeClock()
    sink = run_timed(Timed(clock, 4, cadence=0.25, finish=True), clock)
    assert sink.payloads == [0.0, 0.25, 0.5, 0.75]


def test_timed_source_can_finish_explicitly() -> None:
    clock = FakeClock(start=10.0)
    source = Timed(clock, 2, cadence=1.0, finish=True)
    sink = run_timed(source, clock)
    assert sink.payloads == [10.0, 11.0]
    assert source.ticks == 3


def test_housekeeping_ticks_on_a_node_with_inputs() -> None:
    clock = FakeClock()

    class Flusher(Node):
        cadence = 0.5

        def inputs(self) -> dict[str, object]:
            return {"in": float}

        def outputs(self) -> dict[str, object]:
            return {"out": list}

        def on_start(self) -> None:
            self.pending: list[float] = []
            self.flushes = 0

        def on_message(self, port: str, msg: object) -> None:
            self.pending.append(msg.payload)  # type: ignore[attr-defined]

        def on_tick(self) -> None:
            self.flushes += 1
            if self.pending:
                self.emit("out", self.pending)
                self.pending = []

        def on_finish(self) -> None:
            if self.pending:
                self.emit("out", self.pending)

    source = Timed(clock, 5, cadence=0.2, finish=True)
    flusher = Flusher()
    graph = Subgraph()
    graph.add_node(source)
    graph.add_node(flusher)
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("timed", "out"), ("flusher", "in"))
    graph.connect(("flusher", "out"), ("collect", "in"))
    runtime = Runtime(clock=clock)
    runtime.register(graph)
    runtime.run()
    flat = [x for batch in sink.payloads for x in batch]
    assert flat == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert len(sink.payloads) >= 2
    assert flusher.flushes >= 2


def test_cadence_zero_on_a_node_with_inputs_is_refused() -> None:
    class Bad(Collect):
        cadence = 0

        def on_tick(self) -> None:
            pass

    graph = Subgraph()
    clock = FakeClock()
    graph.add_node(Timed(clock, 1, cadence=1.0))
    graph.add_node(Bad("bad"))
    graph.connect(("timed", "out"), ("bad", "in"))
    runtime = Runtime(clock=clock)
    runtime.register(graph)
    with pytest.raises(GraphError, match="cadence 0"):
        runtime.run()


def test_negative_cadence_is_refused() -> None:
    clock = FakeClock()
    runtime = Runtime(clock=clock)
    runtime.register(Timed(clock, 1, cadence=-1.0))
    with pytest.raises(GraphError, match="cadence must be a number >= 0"):
        runtime.run()


def test_keep_alive_source_waits_for_stop() -> None:
    clock = FakeClock()

    class Poller(Node):
        keep_alive = True
        out = Output(int)

        def __init__(self) -> None:
            self.polls = 0
            self.times: list[float] = []

        def on_tick(self) -> None:
            self.polls += 1
            self.times.append(clock.now())
            if self.polls == 50:
                runtime.execution.request_stop()

    poller = Poller()
    runtime = Runtime(clock=clock)
    runtime.register(poller)
    runtime.run()
    assert poller.polls == 50
    # An idle keep-alive source is polled again every idle_poll (1 ms) of the fake clock.
    gaps = [b - a for a, b in zip(poller.times[1:], poller.times[2:], strict=False)]
    assert gaps == pytest.approx([0.001] * 48)


class Hiccups(Node):
    """Emits 1..6, but ticks 3 and 4 raise (after consuming their item) under ``skip``."""

    out = Output(int)
    error_policy = "skip"

    def __init__(self, mode: Mode = "inline") -> None:
        super().__init__(name="hiccups")
        self.mode = mode  # per instance
        self.items = iter(range(1, 7))

    def on_tick(self) -> None:
        item = next(self.items, None)
        if item is None:
            self.finish()
        elif item in (3, 4):
            raise ValueError(f"bad item {item}")
        else:
            self.emit("out", item)


@pytest.mark.parametrize("mode", ["inline", "thread"])
def test_ticks_that_fail_in_a_row_do_not_make_a_source_look_idle(mode: str) -> None:
    graph = Subgraph()
    sink = Collect()
    graph.add_node(Hiccups(mode))
    graph.add_node(sink)
    graph.connect(("hiccups", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [1, 2, 5, 6]
    assert runtime.stats().nodes["hiccups"].skipped == 2
