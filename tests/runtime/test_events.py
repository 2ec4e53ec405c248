"""Typed events and the event bus: registry, wanted kinds, filtering, failing subscribers."""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

import pytest

from arachne.model.delta import GraphDelta
from arachne.runtime import events
from arachne.runtime.events import (
    EVENT_KINDS,
    EdgeEvent,
    Event,
    EventBus,
    ExecutionStateChanged,
    MessageDropped,
    NodeEvent,
    NodeFailed,
    NodeStarted,
    NodeStopped,
    Subscription,
    kinds_of,
)

# A value for every required field of every concrete kind.
FIELD_VALUES: dict[str, Any] = {
    "execution_id": "e1",
    "node_id": "parse",
    "edge_id": "parse.out->sink.in",
    "old": "created",
    "new": "running",
    "hook": "on_message",
    "error_type": "ValueError",
    "error": "boom",
    "port": "in",
    "attempts": 3,
    "attempt": 1,
    "delay": 0.5,
    "cadence": 1.0,
    "late_by": 0.25,
    "skipped": 2,
    "reason": "drop",
    "producer_id": "parse",
    "blocked_seconds": 0.1,
    "previous": "e0",
    "delta": GraphDelta(),
    "dropped": {},
    "checkpoint": 3,
    "seconds": 0.01,
    "size": 120,
}

NODE_KINDS = [kind for kind in EVENT_KINDS if issubclass(kind, NodeEvent)]
EDGE_KINDS = [kind for kind in EVENT_KINDS if issubclass(kind, EdgeEvent)]


def sample(kind: type[Event], **overrides: Any) -> Event:
    required = {
        f.name: FIELD_VALUES[f.name]
        for f in dataclasses.fields(kind)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    return kind(**{**required, **overrides})


class Recorder:
    """A subscriber that appends every event it gets."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    @property
    def kinds(self) -> list[type[Event]]:
        return [type(event) for event in self.events]


class Boom:
    """A subscriber that raises on every call and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, event: Event) -> None:
        self.calls += 1
        raise RuntimeError("subscriber broke")

    def __repr__(self) -> str:
        return "<Boom subscriber>"


def test_event_kinds_are_the_concrete_kinds_in_definition_order() -> None:
    assert [kind.__name__ for kind in EVENT_KINDS] == [
        "ExecutionStateChanged",
        "ExecutionRestarted",
        "GraphCommitted",
        "CommitRolledBack",
        "CheckpointCommitted",
        "CheckpointRestored",
        "CheckpointAborted",
        "NodeStarted",
        "NodeFinished",
        "NodeStopped",
        "NodeFailed",
        "MessageSkipped",
        "DeadLettered",
        "RetryScheduled",
        "TickOverran",
        "MessageDropped",
        "MessageCoalesced",
        "MessageRejected",
        "BackpressureBegan",
        "BackpressureEnded",
        "NodeAdded",
        "NodeRemoved",
        "NodeReconfigured",
        "EdgeAdded",
        "EdgeRemoved",
    ]
    assert Event not in EVENT_KINDS
    assert NodeEvent not in EVENT_KINDS
    assert EdgeEvent not in EVENT_KINDS
    # The registry holds the classes the module exports, not the first builds slots=True
    # threw away.
    assert all(getattr(events, kind.__name__) is kind for kind in EVENT_KINDS)


@pytest.mark.parametrize("kind", EVENT_KINDS, ids=lambda kind: kind.__name__)
def test_every_kind_is_frozen_slotted_registered_and_documented(kind: type[Event]) -> None:
    event = sample(kind)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.execution_id = "other"  # type: ignore[misc]
    assert not hasattr(event, "__dict__")
    assert kind in kinds_of()
    assert kind.__doc__ is not None
    assert kind.__doc__.startswith("Fires when")
    assert "\n" not in kind.__doc__


def test_equality_ignores_the_timestamp() -> None:
    first = NodeStarted(execution_id="e1", node_id="n", ts_ns=1)
    second = NodeStarted(execution_id="e1", node_id="n", ts_ns=2)
    assert first == second
    assert hash(first) == hash(second)
    assert NodeStarted(execution_id="e1", node_id="n").ts_ns > 0


def test_kinds_of_expands_bases() -> None:
    assert kinds_of() == frozenset(EVENT_KINDS)
    assert kinds_of(Event) == frozenset(EVENT_KINDS)
    assert kinds_of(NodeEvent) == frozenset(NODE_KINDS)
    assert kinds_of(EdgeEvent) == frozenset(EDGE_KINDS)
    assert kinds_of(NodeFailed, MessageDropped) == {NodeFailed, MessageDropped}
    assert ExecutionStateChanged not in kinds_of(NodeEvent, EdgeEvent)


def test_a_kind_defined_elsewhere_registers_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_KINDS", list(events._KINDS))

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Abstract(NodeEvent):
        _abstract = True

    def make() -> type[Abstract]:
        @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
        class Custom(Abstract):
            detail: str = ""

        return Custom

    Custom = make()
    Twin = make()  # same name, module and qualified name: still a kind of its own
    assert Custom in kinds_of(NodeEvent)
    assert kinds_of(Abstract) == {Custom, Twin}
    assert all("__slots__" in kind.__dict__ for kind in kinds_of())
    bus = EventBus()
    recorder = Recorder()
    bus.subscribe(recorder, NodeEvent)
    bus.publish(Custom(execution_id="e1", node_id="n"))
    bus.publish(Twin(execution_id="e1", node_id="n"))
    assert recorder.kinds == [Custom, Twin]


def test_a_plain_subclass_registers_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_KINDS", list(events._KINDS))

    class Plain(NodeStarted):
        __slots__ = ()

    assert kinds_of(NodeStarted) == {NodeStarted, Plain}


def test_reprs_name_the_subscriber_and_the_counts() -> None:
    bus = EventBus()
    sub = bus.subscribe(Boom(), NodeEvent)
    assert repr(sub) == f"<Subscription <Boom subscriber> to {len(NODE_KINDS)} kinds, active>"
    assert repr(bus) == f"<EventBus 1 subscriptions, {len(NODE_KINDS)} kinds wanted>"
    sub.unsubscribe()
    assert repr(sub).endswith("inactive>")


def test_subscribing_to_node_event_gets_node_kinds_only() -> None:
    bus = EventBus()
    recorder = Recorder()
    sub = bus.subscribe(recorder, NodeEvent)
    assert sub.kinds == frozenset(NODE_KINDS)
    for kind in EVENT_KINDS:
        bus.publish(sample(kind))
    assert recorder.kinds == NODE_KINDS


def test_no_kinds_means_every_kind() -> None:
    bus = EventBus()
    recorder = Recorder()
    bus.subscribe(recorder)
    for kind in EVENT_KINDS:
        bus.publish(sample(kind))
    assert recorder.kinds == list(EVENT_KINDS)


def test_wanted_follows_subscriptions() -> None:
    bus = EventBus()
    assert bus.wanted == frozenset()
    assert len(bus) == 0
    assert bus  # an empty bus is still a bus

    failed = bus.subscribe(Recorder(), NodeFailed)
    assert bus.wanted == {NodeFailed}
    before = bus.wanted
    edges = bus.subscribe(Recorder(), EdgeEvent)
    assert bus.wanted == {NodeFailed, *EDGE_KINDS}
    assert before == {NodeFailed}  # replaced, not mutated
    assert len(bus) == 2

    failed.unsubscribe()
    assert bus.wanted == frozenset(EDGE_KINDS)
    edges.unsubscribe()
    edges.unsubscribe()  # idempotent
    assert bus.wanted == frozenset()
    assert len(bus) == 0
    assert not failed.active
    assert not edges.active


def test_a_kind_nobody_wants_is_not_built_or_delivered() -> None:
    bus = EventBus()
    recorder = Recorder()
    bus.subscribe(recorder, NodeFailed)
    assert MessageDropped not in bus.wanted
    bus.publish(sample(MessageDropped))
    assert recorder.events == []


def test_delivery_follows_subscription_order() -> None:
    bus = EventBus()
    order: list[str] = []
    bus.subscribe(lambda event: order.append("first"), NodeStarted)
    bus.subscribe(lambda event: order.append("second"))
    bus.subscribe(lambda event: order.append("third"), NodeEvent)
    bus.publish(sample(NodeStarted))
    assert order == ["first", "second", "third"]


def test_execution_id_filter() -> None:
    bus = EventBus()
    mine = Recorder()
    everyone = Recorder()
    bus.subscribe(mine, NodeStarted, execution_id="e1")
    bus.subscribe(everyone, NodeStarted)
    bus.publish(sample(NodeStarted, execution_id="e1", node_id="a"))
    bus.publish(sample(NodeStarted, execution_id="e2", node_id="b"))
    assert [event.execution_id for event in mine.events] == ["e1"]
    assert [event.execution_id for event in everyone.events] == ["e1", "e2"]


def test_a_raising_subscriber_is_logged_once_and_removed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    boom = Boom()
    before = Recorder()
    after = Recorder()
    bus.subscribe(before, NodeFailed)
    broken = bus.subscribe(boom, NodeFailed)
    bus.subscribe(after)

    with caplog.at_level(logging.ERROR, logger="arachne.runtime"):
        bus.publish(sample(NodeFailed))
        bus.publish(sample(NodeFailed))

    assert boom.calls == 1
    assert not broken.active
    assert isinstance(broken.failed, RuntimeError)
    assert len(before.events) == 2
    assert len(after.events) == 2
    assert len(bus) == 2
    records = [record for record in caplog.records if record.name == "arachne.runtime"]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert "<Boom subscriber>" in records[0].getMessage()
    assert "NodeFailed" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert records[0].exc_info[1] is broken.failed
    assert "subscriber broke" in caplog.text  # the traceback is in the output


def test_a_raising_sole_subscriber_empties_wanted(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    bus.subscribe(Boom(), NodeFailed)
    with caplog.at_level(logging.ERROR, logger="arachne.runtime"):
        bus.publish(sample(NodeFailed))
    assert bus.wanted == frozenset()


def test_unsubscribing_itself_inside_the_callback() -> None:
    bus = EventBus()
    seen: list[Event] = []

    def once(event: Event) -> None:
        seen.append(event)
        sub.unsubscribe()

    sub = bus.subscribe(once, NodeStarted)
    bus.publish(sample(NodeStarted))
    bus.publish(sample(NodeStarted))
    assert len(seen) == 1
    assert not sub.active
    assert bus.wanted == frozenset()


def test_unsubscribing_another_inside_a_callback_stops_it_at_once() -> None:
    bus = EventBus()
    later = Recorder()

    def cut(event: Event) -> None:
        later_sub.unsubscribe()

    bus.subscribe(cut, NodeStarted)
    later_sub = bus.subscribe(later, NodeStarted)
    bus.publish(sample(NodeStarted))
    assert later.events == []


def test_subscribing_inside_a_callback_starts_with_the_next_event() -> None:
    bus = EventBus()
    added = Recorder()
    subs: list[Subscription] = []

    def add(event: Event) -> None:
        if not subs:
            subs.append(bus.subscribe(added, NodeStarted))

    bus.subscribe(add, NodeStarted)
    bus.publish(sample(NodeStarted, node_id="first"))
    assert added.events == []
    bus.publish(sample(NodeStarted, node_id="second"))
    assert added.events == [sample(NodeStarted, node_id="second")]


def test_leaving_with_unsubscribes() -> None:
    bus = EventBus()
    recorder = Recorder()
    with bus.subscribe(recorder, NodeStopped) as sub:
        assert sub.active
        bus.publish(sample(NodeStopped))
    assert not sub.active
    bus.publish(sample(NodeStopped))
    assert len(recorder.events) == 1
    assert sub.failed is None


@pytest.mark.parametrize(
    "kind",
    [str, "NodeFailed", NodeStarted(execution_id="e1", node_id="n"), None],
    ids=["class", "name", "instance", "none"],
)
def test_a_kind_that_is_not_an_event_class_raises(kind: object) -> None:
    bus = EventBus()
    with pytest.raises(TypeError, match="pass the class itself"):
        bus.subscribe(Recorder(), NodeFailed, kind)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="pass the class itself"):
        kinds_of(kind)  # type: ignore[arg-type]
    assert len(bus) == 0


def test_a_callback_that_is_not_callable_raises() -> None:
    bus = EventBus()
    with pytest.raises(TypeError, match="pass the function itself"):
        bus.subscribe(None, NodeFailed)  # type: ignore[call-overload]


def test_an_execution_id_that_is_not_a_string_raises() -> None:
    with pytest.raises(TypeError, match="execution_id must be a str"):
        EventBus().subscribe(Recorder(), execution_id=7)  # type: ignore[call-overload]


def test_subscribing_from_threads_while_publishing() -> None:
    bus = EventBus()
    steady = Recorder()
    bus.subscribe(steady, NodeStarted)
    workers = 4
    rounds = 100
    publishes = 2000
    start = threading.Barrier(workers + 1)
    errors: list[BaseException] = []

    def churn(index: int) -> None:
        try:
            start.wait()
            for round_ in range(rounds):
                kind = NodeStarted if round_ % 2 else NodeEvent
                with bus.subscribe(Recorder(), kind, execution_id=f"e{index}"):
                    pass
                bus.subscribe(Recorder()).unsubscribe()
        except BaseException as exc:
            errors.append(exc)

    def publish() -> None:
        try:
            start.wait()
            event = sample(NodeStarted)
            for _ in range(publishes):
                bus.publish(event)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(i,)) for i in range(workers)]
    threads.append(threading.Thread(target=publish))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(steady.events) == publishes
    assert len(bus) == 1
    assert bus.wanted == {NodeStarted}
