"""Events in real runs: where each kind fires, with which fields, and what subscribers cannot break.

The bus itself is tested in ``test_events.py``; here every event comes out of a running graph.
"""

from __future__ import annotations

import itertools
import logging
import threading
from typing import Any

import pytest

from arachne import (
    Coalesce,
    DeadLetters,
    Input,
    IterSource,
    Message,
    Node,
    NodeFailed,
    Output,
    Retry,
    Runtime,
    Subgraph,
    node,
)
from arachne.runtime import EventRelay, ExecutionState, FakeClock, RelayClosed
from arachne.runtime.events import (
    BackpressureBegan,
    BackpressureEnded,
    DeadLettered,
    EdgeAdded,
    EdgeEvent,
    EdgeRemoved,
    Event,
    ExecutionStateChanged,
    MessageCoalesced,
    MessageDropped,
    MessageRejected,
    MessageSkipped,
    NodeAdded,
    NodeEvent,
    NodeFinished,
    NodeRemoved,
    NodeStarted,
    NodeStopped,
    RetryScheduled,
    TickOverran,
)
from arachne.runtime.events import NodeFailed as NodeFailedEvent
from tests.runtime.nodes import Collect, Relay

TIMEOUT = 10.0  # a bound for a hung test, never reached when things work


class Recorder:
    """A subscriber that appends every event it gets."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, *kinds: type[Event]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kinds)]

    @property
    def states(self) -> list[tuple[str, str]]:
        return [(event.old, event.new) for event in self.of(ExecutionStateChanged)]

    @property
    def node_kinds(self) -> list[tuple[str, str]]:
        return [(type(event).__name__, event.node_id) for event in self.of(NodeEvent)]


class Boom:
    """A subscriber that raises on the events ``when`` picks, and counts its calls."""

    def __init__(self, when: Any = None) -> None:
        self.when = when or (lambda event: True)
        self.calls = 0

    def __call__(self, event: Event) -> None:
        self.calls += 1
        if self.when(event):
            raise RuntimeError("subscriber broke")

    def __repr__(self) -> str:
        return "<Boom subscriber>"


class Picky(Node):
    """Fails with ValueError on the payloads in ``bad`` under ``policy``, else passes them on."""

    inp = Input(int, name="in")
    out = Output(int)

    def __init__(self, bad: set[int], policy: Any, name: str = "picky") -> None:
        super().__init__(name=name)
        self.bad = bad
        self.error_policy = policy  # type: ignore[misc]  # per-instance policy
        self.calls: list[int] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.calls.append(msg.payload)
        if msg.payload in self.bad:
            raise ValueError(f"bad value {msg.payload}")
        self.emit("out", msg.payload)


class Burst(Node):
    """Emits ``(payload, i)`` for i in range(k) per message; skips what fails."""

    error_policy = "skip"
    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self, k: int) -> None:
        super().__init__(name="burst")
        self.k = k

    def on_message(self, port: str, msg: Message) -> None:
        for i in range(self.k):
            self.emit("out", (msg.payload, i))


class Breaks(Collect):
    """A sink whose hook named ``hook`` raises."""

    def __init__(self, hook: str) -> None:
        super().__init__(name="breaks")
        self.hook = hook

    def fail(self, hook: str) -> None:
        if hook == self.hook:
            raise OSError(f"{hook} broke")

    def on_start(self) -> None:
        self.fail("on_start")

    def on_message(self, port: str, msg: Message) -> None:
        self.fail("on_message")
        super().on_message(port, msg)

    def on_finish(self) -> None:
        self.fail("on_finish")

    def on_stop(self) -> None:
        self.fail("on_stop")


class Ticker(Node):
    """Emits its tick number every ``cadence``; tick ``slow`` takes ``cost`` seconds."""

    out = Output(int)

    def __init__(self, clock: FakeClock, n: int, *, slow: int = 0, cost: float = 0.0) -> None:
        super().__init__(name="ticker")
        self.cadence = 1.0  # type: ignore[misc]  # per-instance cadence
        self.clock, self.n, self.slow, self.cost = clock, n, slow, cost
        self.times: list[float] = []

    def on_tick(self) -> None:
        if len(self.times) == self.n:
            self.finish()
            return
        self.times.append(self.clock.now())
        if len(self.times) == self.slow:
            self.clock.advance(self.cost)
        self.emit("out", len(self.times))


class Slow(Collect):
    """A sink taking ``cost`` seconds of fake time per message."""

    def __init__(self, clock: FakeClock, cost: float) -> None:
        super().__init__(name="slow")
        self.clock, self.cost = clock, cost

    def on_message(self, port: str, msg: Message) -> None:
        self.clock.advance(self.cost)
        super().on_message(port, msg)


def pipeline(items: Any, *middle: Node, **link: Any) -> tuple[Subgraph, Collect]:
    """src -> middle... -> collect, every link with the options ``link``."""
    graph = Subgraph()
    names = ["src", *(node.name() for node in middle), "collect"]
    sink = Collect()
    for unit in (IterSource(items, name="src"), *middle, sink):
        graph.add_node(unit)
    for source, target in itertools.pairwise(names):
        graph.connect((source, "out"), (target, "in"), **link)
    return graph, sink


def run(graph: Subgraph, *kinds: type[Event], **options: Any) -> tuple[Runtime, Recorder]:
    """Run ``graph`` to the end with a recorder subscribed to ``kinds`` (all if none)."""
    runtime = Runtime(**options)
    recorder = Recorder()
    runtime.subscribe(recorder, *kinds)
    runtime.register(graph)
    runtime.run()
    return runtime, recorder


LIFECYCLE = [
    ("NodeStarted", "src"),
    ("NodeStarted", "relay"),
    ("NodeStarted", "collect"),
    ("NodeFinished", "src"),
    ("NodeFinished", "relay"),
    ("NodeFinished", "collect"),
    ("NodeStopped", "collect"),
    ("NodeStopped", "relay"),
    ("NodeStopped", "src"),
]
COMPLETED = [("pending", "initializing"), ("initializing", "running"), ("running", "completed")]


# -- subscribers that raise ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [
        pytest.param(None, id="every-event"),
        pytest.param(lambda e: isinstance(e, NodeStarted), id="node-started"),
        pytest.param(
            lambda e: isinstance(e, ExecutionStateChanged) and e.new == "running", id="running"
        ),
        pytest.param(
            lambda e: isinstance(e, ExecutionStateChanged) and e.new == "completed",
            id="completed",
        ),
    ],
)
def test_a_raising_subscriber_is_removed_and_logged_and_the_run_completes(
    when: Any, caplog: pytest.LogCaptureFixture
) -> None:
    graph, sink = pipeline(range(50), Relay())
    runtime = Runtime()
    before, after = Recorder(), Recorder()
    boom = Boom(when)
    runtime.subscribe(before)
    broken = runtime.subscribe(boom)
    runtime.subscribe(after)
    runtime.register(graph)
    with caplog.at_level(logging.ERROR, logger="arachne.runtime"):
        ex = runtime.start()
        assert ex.wait(TIMEOUT)
        runtime.shutdown(TIMEOUT)

    assert ex.state is ExecutionState.COMPLETED
    assert ex.error is None
    assert sink.payloads == list(range(50))
    assert not broken.active
    assert isinstance(broken.failed, RuntimeError)
    raised_on = before.events[boom.calls - 1]
    assert when is None or when(raised_on)
    # Both neighbours got every event, before and after the failure.
    assert after.events == before.events
    assert before.states == COMPLETED
    assert before.node_kinds == LIFECYCLE
    records = [r for r in caplog.records if r.name == "arachne.runtime"]
    assert len(records) == 1
    assert "<Boom subscriber>" in records[0].getMessage()
    assert type(raised_on).__name__ in records[0].getMessage()
    assert records[0].exc_info is not None
    assert records[0].exc_info[1] is broken.failed
    assert "subscriber broke" in caplog.text


def test_a_subscriber_raising_on_completed_does_not_break_run_either(
    caplog: pytest.LogCaptureFixture,
) -> None:
    graph, sink = pipeline(range(5), Relay())
    runtime = Runtime()
    boom = Boom(lambda e: isinstance(e, ExecutionStateChanged) and e.new == "completed")
    runtime.subscribe(boom, ExecutionStateChanged)
    runtime.register(graph)
    with caplog.at_level(logging.ERROR, logger="arachne.runtime"):
        runtime.run()
    assert runtime.execution.state is ExecutionState.COMPLETED
    assert runtime.execution.wait(0)
    assert boom.calls == 3
    assert sink.payloads == [0, 1, 2, 3, 4]
    assert len([r for r in caplog.records if r.name == "arachne.runtime"]) == 1


def test_a_subscriber_raising_on_failed_keeps_the_node_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    graph, _ = pipeline(range(5), Picky({2}, "fail"))
    runtime = Runtime()
    recorder = Recorder()
    runtime.subscribe(Boom(lambda e: isinstance(e, ExecutionStateChanged) and e.new == "failed"))
    runtime.subscribe(recorder)
    runtime.register(graph)
    ex = runtime.start()
    assert ex.wait(TIMEOUT)
    runtime.shutdown(TIMEOUT)
    assert ex.state is ExecutionState.FAILED
    assert isinstance(ex.error, NodeFailed)
    assert recorder.states[-1] == ("running", "failed")
    subscriber_logs = [r for r in caplog.records if "event subscriber" in r.getMessage()]
    assert len(subscriber_logs) == 1


# -- lifecycle ---------------------------------------------------------------------------------


def test_lifecycle_events_come_in_order() -> None:
    graph, _ = pipeline(range(3), Relay())
    runtime, recorder = run(graph)
    ex = runtime.execution
    assert recorder.states == COMPLETED
    assert all(e.error is None for e in recorder.of(ExecutionStateChanged))
    assert recorder.node_kinds == LIFECYCLE
    assert {e.execution_id for e in recorder.events} == {ex.id}
    # Starts come between "initializing" and "running"; stops before "completed".
    kinds = [type(e) for e in recorder.events]
    assert kinds[0] is ExecutionStateChanged
    assert kinds[1:4] == [NodeStarted] * 3
    assert kinds[4] is ExecutionStateChanged
    assert kinds[-4:] == [NodeStopped, NodeStopped, NodeStopped, ExecutionStateChanged]


# -- edges: drops, coalescing, rejects, backpressure ------------------------------------------


@pytest.mark.parametrize(
    ("overflow", "payloads"),
    [("drop", [0, 1, 2, 3]), ("latest", [16, 17, 18, 19])],
)
def test_drops_are_announced_one_by_one_and_add_up_to_the_stats(
    overflow: str, payloads: list[int]
) -> None:
    graph, sink = pipeline(range(20), capacity=4, overflow=overflow)
    runtime, recorder = run(graph)
    edge = runtime.stats().edges["src.out->collect.in"]
    drops = recorder.of(MessageDropped)
    assert sink.payloads == payloads
    assert edge.dropped == 16
    assert len(drops) == 16
    assert sum(e.count for e in drops) == edge.dropped
    assert {(e.edge_id, e.reason, e.count) for e in drops} == {("src.out->collect.in", overflow, 1)}
    assert recorder.of(MessageCoalesced, MessageRejected, BackpressureBegan) == []


def test_coalescing_is_announced_per_merge() -> None:
    graph, sink = pipeline(range(20), capacity=4, overflow=Coalesce(lambda a, b: a + b))
    runtime, recorder = run(graph)
    edge = runtime.stats().edges["src.out->collect.in"]
    merges = recorder.of(MessageCoalesced)
    assert sink.payloads == [0, 1, 2, sum(range(3, 20))]
    assert edge.coalesced == 16
    assert len(merges) == 16
    assert {e.edge_id for e in merges} == {"src.out->collect.in"}
    assert recorder.of(MessageDropped) == []


def test_a_rejected_message_is_announced_and_the_producer_skips_the_call() -> None:
    graph = Subgraph()
    graph.add_node(IterSource([10, 20, 30], name="src"))
    graph.add_node(Burst(3))
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("burst", "in"))
    graph.connect(("burst", "out"), ("collect", "in"), capacity=2, overflow="fail")
    clock = FakeClock()  # no time passes, so burst takes all three before collect runs
    runtime, recorder = run(graph, clock=clock)
    stats = runtime.stats()
    edge = stats.edges["burst.out->collect.in"]
    # 10 fills the edge with two values and its third is rejected; 20 and 30 fail at once.
    assert sink.payloads == [(10, 0), (10, 1)]
    assert edge.failed == 3
    rejected = recorder.of(MessageRejected)
    assert [e.edge_id for e in rejected] == ["burst.out->collect.in"] * 3
    skipped = recorder.of(MessageSkipped)
    assert len(skipped) == 3
    assert {(e.node_id, e.port, e.attempts) for e in skipped} == {("burst", "in", 1)}
    full = "EdgeFull: edge 'burst.out->collect.in' is full"
    assert all(e.error.startswith(full) for e in skipped)
    # Each rejection comes just before the skip it causes.
    kinds = [type(e) for e in recorder.of(MessageRejected, MessageSkipped)]
    assert kinds == [MessageRejected, MessageSkipped] * 3
    assert stats.nodes["burst"].skipped == 3
    assert recorder.states[-1] == ("running", "completed")


def test_backpressure_begins_and_ends_on_a_block_edge_that_fills() -> None:
    graph, sink = pipeline(range(10), capacity=2)
    runtime, recorder = run(graph, BackpressureBegan, BackpressureEnded)
    edge = runtime.stats().edges["src.out->collect.in"]
    assert sink.payloads == list(range(10))
    kinds = [type(e) for e in recorder.events]
    assert len(kinds) >= 2
    assert kinds == [BackpressureBegan, BackpressureEnded] * (len(kinds) // 2)
    assert {(e.edge_id, e.producer_id) for e in recorder.events} == {("src.out->collect.in", "src")}
    ended = recorder.of(BackpressureEnded)
    assert all(e.blocked_seconds > 0 for e in ended)
    assert sum(e.blocked_seconds for e in ended) == pytest.approx(edge.blocked_seconds)
    assert edge.high_water == 2


def test_no_backpressure_events_while_the_edge_has_room() -> None:
    graph, _ = pipeline(range(10), capacity=64)
    _, recorder = run(graph, EdgeEvent)
    assert recorder.events == []


class Held(Node):
    """A consumer in a thread that waits for ``release`` before taking each message."""

    mode = "thread"
    inp = Input(None, name="in")

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.got: list[Any] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.release.wait(TIMEOUT)
        self.got.append(msg.payload)


@pytest.mark.parametrize("change", ["capacity", "overflow"])
def test_a_live_retune_that_frees_the_producer_ends_its_backpressure(change: str) -> None:
    edge_id = "src.out->held.in"
    release, began = threading.Event(), threading.Event()
    held = Held(release)
    graph = Subgraph()
    graph.add_node(IterSource(range(10), name="src"))
    graph.add_node(held)
    graph.connect(("src", "out"), ("held", "in"), capacity=2)
    runtime = Runtime()
    recorder = Recorder()
    runtime.subscribe(recorder, BackpressureBegan, BackpressureEnded, MessageDropped)
    spells: list[Event] = []

    def count(event: Event) -> None:
        # The second spell lasts: held has a call in flight, two wait, src waits for room.
        spells.append(event)
        if len(spells) == 2:
            began.set()

    runtime.subscribe(count, BackpressureBegan)
    runtime.register(graph)
    ex = runtime.start()
    try:
        assert began.wait(TIMEOUT)
        if change == "capacity":
            ex.set_capacity(edge_id, 100)
            done = lambda: ex.stats().edges[edge_id].capacity == 100  # noqa: E731
        else:
            ex.set_overflow(edge_id, "drop")
            done = lambda: ex.stats().edges[edge_id].overflow == "drop"  # noqa: E731
        for _ in range(100_000):  # each stats() waits for the loop's next turn
            if done():
                break
        assert done()
    finally:
        release.set()
    assert ex.wait(TIMEOUT)
    runtime.shutdown(TIMEOUT)
    edge = ex.stats().edges[edge_id]
    assert len(held.got) + edge.dropped == 10
    kinds = [type(e) for e in recorder.of(BackpressureBegan, BackpressureEnded)]
    assert kinds == [BackpressureBegan, BackpressureEnded] * (len(kinds) // 2)
    ended = recorder.of(BackpressureEnded)
    assert sum(e.blocked_seconds for e in ended) == pytest.approx(edge.blocked_seconds)


class Feed(Node):
    """A source that waits for ``stop()``; what it carries comes from elsewhere."""

    keep_alive = True
    out = Output(int)


def open_feed(recorder: Recorder) -> tuple[Runtime, dict[str, threading.Event]]:
    """A runtime for feed -> collect, with events set on "running", "paused", extra started."""
    graph = Subgraph()
    graph.add_node(Feed())
    graph.add_node(Collect())
    graph.connect(("feed", "out"), ("collect", "in"))
    runtime = Runtime()
    seen = {name: threading.Event() for name in ("running", "paused", "extra")}

    def watch(event: Event) -> None:
        if isinstance(event, ExecutionStateChanged) and event.new in seen:
            seen[event.new].set()
        if isinstance(event, NodeStarted) and event.node_id == "extra":
            seen["extra"].set()

    runtime.subscribe(recorder)
    runtime.subscribe(watch, ExecutionStateChanged, NodeStarted)
    runtime.register(graph)
    return runtime, seen


def test_live_changes_are_announced() -> None:
    recorder = Recorder()
    runtime, seen = open_feed(recorder)
    ex = runtime.start()
    try:
        assert seen["running"].wait(TIMEOUT)
        # Paused, so the new node cannot run before its edge arrives (see the test below).
        ex.pause()
        assert seen["paused"].wait(TIMEOUT)
        ex.add_node(Collect(name="extra"))
        assert seen["extra"].wait(TIMEOUT)
        edge_id = ex.connect(("feed", "out"), ("extra", "in"))
        ex.resume()
        assert ex.disconnect(edge_id) == 0
        ex.remove_node("extra")
    finally:
        runtime.shutdown(TIMEOUT)
    assert ex.state is ExecutionState.COMPLETED
    changes = [
        (type(e).__name__, getattr(e, "node_id", None) or getattr(e, "edge_id", None))
        for e in recorder.of(NodeAdded, NodeRemoved, EdgeAdded, EdgeRemoved)
    ]
    assert changes == [
        ("NodeAdded", "extra"),
        ("EdgeAdded", "feed.out->extra.in"),
        ("EdgeRemoved", "feed.out->extra.in"),
        ("NodeRemoved", "extra"),
    ]
    [removed] = recorder.of(EdgeRemoved)
    assert removed.dropped == 0
    # Started before it joins the running graph (a commit starts added nodes first), stopped
    # after it has left it.
    life = (NodeStarted, NodeAdded, NodeRemoved, NodeStopped)
    extra = [type(e) for e in recorder.of(*life) if e.node_id == "extra"]
    assert extra == list(life)


def test_a_node_added_live_waits_for_its_first_edge() -> None:
    # Execution.add_node: "the node is started (on_start) and takes part from its first edge on".
    recorder = Recorder()
    runtime, seen = open_feed(recorder)
    ex = runtime.start()
    try:
        assert seen["running"].wait(TIMEOUT)
        ex.add_node(Collect(name="extra"))
        assert seen["extra"].wait(TIMEOUT)
        for _ in range(10):
            ex.stats()  # each read waits for the loop's next turn
        ex.connect(("feed", "out"), ("extra", "in"))
    finally:
        runtime.shutdown(TIMEOUT)
    assert sorted(e.node_id for e in recorder.of(NodeFinished)) == ["collect", "extra", "feed"]
    assert ex.state is ExecutionState.COMPLETED


# -- error policies ----------------------------------------------------------------------------


def test_retries_are_announced_with_their_delays() -> None:
    clock = FakeClock()
    picky = Picky({7}, Retry(max_attempts=4, backoff=0.1, then="dead_letter"))
    graph, sink = pipeline([6, 7, 8], picky)
    graph.add_node(DeadLetters(name="dead"))
    graph.connect(("picky", "error"), ("dead", "in"))
    runtime, recorder = run(graph, clock=clock)
    retries = recorder.of(RetryScheduled)
    assert [(e.node_id, e.port, e.attempt) for e in retries] == [
        ("picky", "in", 1),
        ("picky", "in", 2),
        ("picky", "in", 3),
    ]
    assert [e.delay for e in retries] == pytest.approx([0.1, 0.2, 0.4])
    assert {e.error for e in retries} == {"ValueError: bad value 7"}
    [lettered] = recorder.of(DeadLettered)
    assert (lettered.node_id, lettered.port, lettered.attempts) == ("picky", "in", 4)
    assert lettered.error == "ValueError: bad value 7"
    assert sink.payloads == [6, 8]
    assert picky.calls == [6, 7, 7, 7, 7, 8]
    assert runtime.stats().nodes["picky"].retried == 3
    assert recorder.of(MessageSkipped) == []


def test_a_retry_that_succeeds_fires_no_give_up_event() -> None:
    clock = FakeClock()

    class Healing(Picky):
        def on_message(self, port: str, msg: Message) -> None:
            if self.calls.count(msg.payload) == 2:
                self.bad.discard(msg.payload)
            super().on_message(port, msg)

    graph, sink = pipeline([1, 2], Healing({1}, Retry(max_attempts=5, backoff=0.5)))
    _, recorder = run(graph, clock=clock)
    assert [(e.attempt, e.delay) for e in recorder.of(RetryScheduled)] == [(1, 0.5), (2, 1.0)]
    assert recorder.of(MessageSkipped, DeadLettered, NodeFailedEvent) == []
    assert sink.payloads == [1, 2]


def test_skipped_messages_are_announced(caplog: pytest.LogCaptureFixture) -> None:
    graph, sink = pipeline(range(6), Picky({1, 4}, "skip"))
    runtime, recorder = run(graph)
    skipped = recorder.of(MessageSkipped)
    assert [(e.node_id, e.port, e.attempts, e.error) for e in skipped] == [
        ("picky", "in", 1, "ValueError: bad value 1"),
        ("picky", "in", 1, "ValueError: bad value 4"),
    ]
    assert recorder.of(DeadLettered, NodeFailedEvent) == []
    assert sink.payloads == [0, 2, 3, 5]
    assert runtime.stats().nodes["picky"].skipped == 2
    # With no error port, the log is the only other trace of them.
    assert sum("skipped a message" in r.getMessage() for r in caplog.records) == 2


def test_dead_letters_are_announced_once_each() -> None:
    graph, sink = pipeline(range(6), Picky({1, 4}, "dead_letter"))
    dead = DeadLetters(name="dead")
    graph.add_node(dead)
    graph.connect(("picky", "error"), ("dead", "in"))
    runtime, recorder = run(graph)
    lettered = recorder.of(DeadLettered)
    assert [(e.node_id, e.port, e.attempts, e.error) for e in lettered] == [
        ("picky", "in", 1, "ValueError: bad value 1"),
        ("picky", "in", 1, "ValueError: bad value 4"),
    ]
    assert [record.payload for record in dead.records] == [1, 4]
    assert recorder.of(MessageSkipped) == []
    assert sink.payloads == [0, 2, 3, 5]
    stats = runtime.stats().nodes["picky"]
    assert (stats.dead_lettered, stats.skipped, stats.errors) == (2, 0, 2)


def test_skip_with_a_connected_error_port_sends_records_and_announces_both(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Documented (docs/runtime.md): under skip, a connected error port still gets the record.
    graph, sink = pipeline(range(6), Picky({1, 4}, "skip"))
    errors = Collect(name="errors")
    graph.add_node(errors)
    graph.connect(("picky", "error"), ("errors", "in"))
    runtime, recorder = run(graph)
    assert [record.payload for record in errors.payloads] == [1, 4]
    assert [e.node_id for e in recorder.of(MessageSkipped)] == ["picky", "picky"]
    assert [e.node_id for e in recorder.of(DeadLettered)] == ["picky", "picky"]
    stats = runtime.stats().nodes["picky"]
    assert (stats.skipped, stats.dead_lettered) == (2, 2)
    assert sink.payloads == [0, 2, 3, 5]
    assert not any("skipped a message" in r.getMessage() for r in caplog.records)


def test_a_failing_message_announces_node_failed_and_the_run_fails() -> None:
    graph, _ = pipeline(range(5), Picky({2}, "fail"))
    runtime = Runtime()
    recorder = Recorder()
    runtime.subscribe(recorder)
    runtime.register(graph)
    with pytest.raises(NodeFailed, match="bad value 2"):
        runtime.run()
    [failed] = recorder.of(NodeFailedEvent)
    assert (failed.node_id, failed.hook, failed.error_type, failed.error) == (
        "picky",
        "on_message",
        "ValueError",
        "bad value 2",
    )
    assert recorder.states[-1][1] == "failed"
    final = recorder.of(ExecutionStateChanged)[-1]
    assert final.error is not None
    assert "bad value 2" in final.error
    # Every started node is still stopped, after the failure was announced.
    stops = [e.node_id for e in recorder.of(NodeStopped)]
    assert stops == ["collect", "picky", "src"]
    assert recorder.events.index(failed) < recorder.events.index(recorder.of(NodeStopped)[0])
    assert recorder.of(MessageSkipped, DeadLettered) == []


@pytest.mark.parametrize("hook", ["on_start", "on_message", "on_finish", "on_stop"])
def test_a_failing_hook_announces_node_failed(hook: str) -> None:
    graph = Subgraph()
    graph.add_node(IterSource([1, 2], name="src"))
    graph.add_node(Breaks(hook))
    graph.connect(("src", "out"), ("breaks", "in"))
    runtime = Runtime()
    recorder = Recorder()
    runtime.subscribe(recorder)
    runtime.register(graph)
    with pytest.raises(NodeFailed, match=f"{hook}.* broke"):
        runtime.run()
    [failed] = recorder.of(NodeFailedEvent)
    assert (failed.node_id, failed.hook, failed.error_type, failed.error) == (
        "breaks",
        hook,
        "OSError",
        f"{hook} broke",
    )
    assert runtime.execution.state is ExecutionState.FAILED
    assert recorder.states[-1][1] == "failed"
    started = [e.node_id for e in recorder.of(NodeStarted)]
    stopped = [e.node_id for e in recorder.of(NodeStopped)]
    if hook == "on_start":
        assert started == ["src"]
        assert stopped == ["src"]
        assert recorder.states == [("pending", "initializing"), ("initializing", "failed")]
    else:
        assert started == ["src", "breaks"]
        assert stopped == ["breaks", "src"]
    if hook == "on_stop":
        # The stop is still announced, after the failure.
        assert recorder.node_kinds[-3:] == [
            ("NodeFailed", "breaks"),
            ("NodeStopped", "breaks"),
            ("NodeStopped", "src"),
        ]


@pytest.mark.parametrize("mode", ["inline", "async", "thread"])
def test_policy_events_are_the_same_in_every_mode(mode: str) -> None:
    clock = FakeClock()
    picky = Picky({2, 5}, Retry(max_attempts=3, backoff=0.1, then="dead_letter"))
    picky.mode = mode  # type: ignore[misc]  # per-instance mode
    graph, sink = pipeline(range(8), picky, capacity=4)
    dead = DeadLetters(name="dead")
    graph.add_node(dead)
    graph.connect(("picky", "error"), ("dead", "in"))
    runtime, recorder = run(graph, RetryScheduled, DeadLettered, MessageSkipped, clock=clock)
    assert sink.payloads == [0, 1, 3, 4, 6, 7]
    assert [record.payload for record in dead.records] == [2, 5]
    got = sorted(
        (type(e).__name__, e.node_id, e.port, getattr(e, "attempt", None) or e.attempts, e.error)
        for e in recorder.events
    )
    assert got == sorted(
        [
            ("RetryScheduled", "picky", "in", n, f"ValueError: bad value {x}")
            for x in (2, 5)
            for n in (1, 2)
        ]
        + [("DeadLettered", "picky", "in", 3, f"ValueError: bad value {x}") for x in (2, 5)]
    )
    assert sorted(e.delay for e in recorder.of(RetryScheduled)) == pytest.approx(
        [0.1, 0.1, 0.2, 0.2]
    )
    stats = runtime.stats().nodes["picky"]
    assert (stats.retried, stats.dead_lettered, stats.skipped) == (4, 2, 0)


def test_fusion_changes_no_event() -> None:
    @node
    def inc(x: int) -> int:
        return x + 1

    @node(error_policy="skip")
    def picky(x: int) -> int:
        if x % 7 == 3:
            raise ValueError(f"bad value {x}")
        return x

    def events(fusion: bool) -> tuple[list[tuple[str, str | None, int]], bool]:
        graph = Subgraph()
        for unit in (IterSource(range(40), name="src"), inc(), picky(), Collect()):
            graph.add_node(unit)
        graph.connect(("src", "out"), ("inc", "in"))
        graph.connect(("inc", "out"), ("picky", "in"))
        # What happens to messages and nodes, not how often a small edge filled: drops on a
        # "drop" edge and backpressure spells follow how messages are batched (a fused chain
        # hands on whole batches), which fusion never promised to keep.
        graph.connect(("picky", "out"), ("collect", "in"), capacity=4)
        runtime, recorder = run(graph, fusion=fusion, clock=FakeClock())
        recorder.events = [
            e
            for e in recorder.events
            if not isinstance(e, BackpressureBegan | BackpressureEnded | MessageDropped)
        ]
        fused = bool(runtime.execution.chains)
        return sorted(
            (
                type(e).__name__,
                getattr(e, "node_id", None) or getattr(e, "edge_id", None),
                getattr(e, "count", 0),
            )
            for e in recorder.events
        ), fused

    fused_events, fused = events(True)
    plain_events, unfused = events(False)
    assert (fused, unfused) == (True, False)
    assert fused_events == plain_events
    kinds = {kind for kind, _, _ in plain_events}
    assert {"MessageSkipped", "NodeFinished", "NodeStopped"} <= kinds


# -- ticks -------------------------------------------------------------------------------------


def test_a_slow_tick_announces_the_ticks_it_overran() -> None:
    clock = FakeClock()
    ticker = Ticker(clock, 4, slow=2, cost=3.5)
    graph = Subgraph()
    graph.add_node(ticker)
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("ticker", "out"), ("collect", "in"))
    _, recorder = run(graph, TickOverran, clock=clock)
    # Tick 2 starts at 1.0 and ends at 4.5: the ticks due at 2, 3 and 4 are skipped.
    assert ticker.times == [0.0, 1.0, 5.5, 6.5]
    [overran] = recorder.events
    assert isinstance(overran, TickOverran)
    assert (overran.node_id, overran.cadence, overran.skipped) == ("ticker", 1.0, 3)
    assert overran.late_by == pytest.approx(2.5)
    assert sink.payloads == [1, 2, 3, 4]


def test_a_tick_held_up_by_a_busy_consumer_is_announced() -> None:
    clock = FakeClock()
    ticker = Ticker(clock, 3)
    graph = Subgraph()
    graph.add_node(ticker)
    graph.add_node(Slow(clock, 3.5))
    graph.connect(("ticker", "out"), ("slow", "in"), capacity=1)
    _, recorder = run(graph, TickOverran, clock=clock)
    # The consumer's 3.5 s per message keeps the loop from the ticks due at 1 and 2 (and so on).
    overruns = recorder.of(TickOverran)
    assert overruns
    assert all(e.node_id == "ticker" and e.cadence == 1.0 for e in overruns)
    assert all(e.skipped >= 1 and e.late_by >= 0 for e in overruns)
    assert overruns[0].skipped == 2
    assert overruns[0].late_by == pytest.approx(1.5)
    assert ticker.times[:2] == [0.0, 3.5]


def test_ticks_on_time_announce_nothing() -> None:
    clock = FakeClock()
    graph = Subgraph()
    graph.add_node(Ticker(clock, 5))
    graph.add_node(Collect())
    graph.connect(("ticker", "out"), ("collect", "in"))
    _, recorder = run(graph, TickOverran, clock=clock)
    assert recorder.events == []


# -- cancelling --------------------------------------------------------------------------------


class Stopper(Collect):
    """Cancels the execution (drain=False) on its first message."""

    def on_message(self, port: str, msg: Message) -> None:
        if not self.payloads:
            self.request_stop(drain=False)
        super().on_message(port, msg)


def test_cancelling_discards_queued_messages_and_announces_them() -> None:
    graph = Subgraph()
    graph.add_node(IterSource(range(50), name="src"))
    stopper, idle = Stopper(name="stopper"), Collect(name="idle")
    graph.add_node(stopper)
    graph.add_node(idle)
    graph.connect(("src", "out"), ("stopper", "in"))
    graph.connect(("src", "out"), ("idle", "in"))
    runtime = Runtime()
    recorder = Recorder()
    runtime.subscribe(recorder)
    runtime.register(graph)
    runtime.run()
    ex = runtime.execution
    assert ex.state is ExecutionState.CANCELLED
    edges = ex.stats().edges
    discards = recorder.of(MessageDropped)
    assert discards
    assert {e.reason for e in discards} == {"discarded"}
    for edge_id, edge in edges.items():
        assert sum(e.count for e in discards if e.edge_id == edge_id) == edge.dropped
    assert sum(e.count for e in discards) == sum(edge.dropped for edge in edges.values())
    assert len(idle.payloads) + edges["src.out->idle.in"].dropped == 50
    assert recorder.states[-1] == ("running", "cancelled")


def test_cancelling_a_paused_execution_discards_what_was_injected() -> None:
    graph = Subgraph()
    graph.add_node(Feed())
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("feed", "out"), ("collect", "in"))
    runtime = Runtime()
    recorder = Recorder()
    running, paused = threading.Event(), threading.Event()

    def watch(event: ExecutionStateChanged) -> None:
        {"running": running, "paused": paused}.get(event.new, threading.Event()).set()

    runtime.subscribe(recorder)
    runtime.subscribe(watch, ExecutionStateChanged)
    runtime.register(graph)
    ex = runtime.start()
    assert running.wait(TIMEOUT)
    ex.pause()
    assert paused.wait(TIMEOUT)
    for value in range(5):
        ex.inject("collect", "in", value)
    ex.request_stop(drain=False)
    assert ex.wait(TIMEOUT)
    runtime.shutdown(TIMEOUT)
    assert ex.state is ExecutionState.CANCELLED
    assert sink.payloads == []
    [discarded] = recorder.of(MessageDropped)
    assert (discarded.edge_id, discarded.reason, discarded.count) == (
        "inject->collect.in",
        "discarded",
        5,
    )
    assert ex.stats().edges["inject->collect.in"].dropped == 5
    assert recorder.states[-2:] == [("running", "paused"), ("paused", "cancelled")]


# -- choosing what to hear ---------------------------------------------------------------------


def test_subscribing_to_node_event_gets_node_kinds_only() -> None:
    graph, _ = pipeline(range(20), Picky({3}, "skip"), capacity=4, overflow="drop")
    runtime = Runtime()
    nodes, everything = Recorder(), Recorder()
    runtime.subscribe(nodes, NodeEvent)
    runtime.subscribe(everything)
    runtime.register(graph)
    runtime.run()
    assert nodes.events == everything.of(NodeEvent)
    assert {type(e) for e in nodes.events} == {
        NodeStarted,
        NodeFinished,
        NodeStopped,
        MessageSkipped,
    }
    # The run had other kinds too; the node subscriber heard none of them.
    assert everything.of(MessageDropped)
    assert everything.of(ExecutionStateChanged)


def test_a_kind_nobody_listens_to_is_never_built(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("built a MessageDropped nobody listens to")

    monkeypatch.setattr(MessageDropped, "__init__", refuse)
    graph, sink = pipeline(range(20), capacity=4, overflow="drop")
    runtime, recorder = run(graph, NodeEvent, ExecutionStateChanged)
    assert runtime.stats().edges["src.out->collect.in"].dropped == 16
    assert sink.payloads == [0, 1, 2, 3]
    assert recorder.states == COMPLETED


def test_execution_subscribe_hears_only_its_own_execution() -> None:
    runtime = Runtime()
    everything = Recorder()
    runtime.subscribe(everything)
    executions, mine, sinks = {}, {}, {}
    for name in ("a", "b"):
        graph, sinks[name] = pipeline(range(300), Relay(), capacity=8)
        ex = runtime.open_execution(graph, execution_id=name)
        executions[name], mine[name] = ex, Recorder()
        ex.subscribe(mine[name])
    for ex in executions.values():
        runtime.launch(ex)
    for ex in executions.values():
        assert ex.wait(TIMEOUT)
    runtime.shutdown(TIMEOUT)
    for name, ex in executions.items():
        assert ex.state is ExecutionState.COMPLETED
        assert sinks[name].payloads == list(range(300))
        assert mine[name].events == [e for e in everything.events if e.execution_id == name]
        assert mine[name].states == COMPLETED
        assert mine[name].node_kinds == LIFECYCLE
    assert len(everything.events) == len(mine["a"].events) + len(mine["b"].events)


# -- relaying to another thread ----------------------------------------------------------------


def test_a_relay_hands_a_whole_run_to_a_consumer_thread_in_order() -> None:
    graph, _ = pipeline(range(200), Relay(), capacity=4)
    runtime = Runtime()
    recorder = Recorder()
    relay = EventRelay()
    runtime.subscribe(recorder)
    sub = runtime.subscribe(relay)
    runtime.register(graph)
    received: list[Event] = []
    threads: list[str] = []

    def consume() -> None:
        threads.append(threading.current_thread().name)
        while True:
            try:
                received.append(relay.get(timeout=TIMEOUT))
            except RelayClosed:
                return

    consumer = threading.Thread(target=consume, name="consumer")
    consumer.start()
    ex = runtime.start()
    assert ex.wait(TIMEOUT)
    runtime.shutdown(TIMEOUT)
    sub.unsubscribe()
    relay.close()
    consumer.join(TIMEOUT)
    assert not consumer.is_alive()
    assert threads == ["consumer"]
    assert received == recorder.events
    assert all(a is b for a, b in zip(received, recorder.events, strict=True))
    assert recorder.of(BackpressureBegan)  # a run with more than lifecycle events
    stats = relay.stats()
    assert (stats.delivered, stats.dropped, stats.depth) == (len(recorder.events), 0, 0)


def test_a_small_relay_keeps_the_first_events_and_counts_the_rest() -> None:
    graph, _ = pipeline(range(200), Relay(), capacity=4)
    runtime = Runtime()
    recorder = Recorder()
    relay = EventRelay(maxsize=5)
    runtime.subscribe(recorder)
    runtime.subscribe(relay)
    runtime.register(graph)
    go = threading.Event()
    received: list[Event] = []

    def consume() -> None:
        go.wait(TIMEOUT)  # a consumer that falls behind the whole run
        while True:
            try:
                received.append(relay.get(timeout=TIMEOUT))
            except RelayClosed:
                return

    consumer = threading.Thread(target=consume)
    consumer.start()
    ex = runtime.start()
    assert ex.wait(TIMEOUT)
    runtime.shutdown(TIMEOUT)
    relay.close()
    go.set()
    consumer.join(TIMEOUT)
    assert not consumer.is_alive()
    total = len(recorder.events)
    assert total > 5
    assert received == recorder.events[:5]
    stats = relay.stats()
    assert (stats.delivered, stats.dropped, stats.depth) == (5, total - 5, 0)
