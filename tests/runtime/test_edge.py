from __future__ import annotations

from typing import Any

import pytest

from arachne import Coalesce, Message
from arachne.model.context import NodeContext
from arachne.model.errors import EdgeFull
from arachne.model.port import PortSpec
from arachne.model.specs import LinkSpec, NodeSpec, PortRef
from arachne.runtime.clock import FakeClock
from arachne.runtime.edge import COMPACT_AT, CONTROL_RANK, Edge
from arachne.runtime.events import (
    BackpressureBegan,
    BackpressureEnded,
    Event,
    EventBus,
    MessageCoalesced,
    MessageDropped,
    MessageRejected,
)
from arachne.runtime.ready_queue import NOT_QUEUED
from arachne.runtime.run_context import RunContext
from arachne.runtime.running_node import RunningNode
from tests.runtime.nodes import Collect


def running(node_id: str) -> RunningNode:
    spec = NodeSpec(node_id, "test", (PortSpec("in"),), (PortSpec("out"),))
    rn = RunningNode(spec, Collect(node_id), NodeContext.create(node_id))
    rn.started = True
    return rn


def make_edge(capacity: int = 2, overflow: object = "block", **kw: Any) -> Edge:
    spec = LinkSpec(
        "a.out->b.in", PortRef("a", "out"), PortRef("b", "in"), capacity, overflow, **kw
    )
    ctx = RunContext("exec-1", clock=FakeClock(), bus=EventBus())
    source, target = running("a"), running("b")
    edge = Edge(spec, source, target, ctx)
    source.outputs = {"out": (edge,)}
    target.inputs = [edge]
    return edge


def invariant(edge: Edge) -> None:
    s = edge.stats()
    assert s.offered == s.dequeued + s.dropped + s.coalesced + s.failed + s.depth
    assert s.enqueued <= s.offered


def listen(edge: Edge) -> list[Event]:
    seen: list[Event] = []
    edge._ctx.bus.subscribe(seen.append)
    return seen


def test_block_accepts_and_marks_the_producer_blocked_when_full() -> None:
    edge = make_edge(2)
    edge.push(Message(1))
    assert not edge.source.blocked
    edge.push(Message(2))
    assert edge.source.blocked
    assert edge.full
    edge.push(Message(3))  # one hook call may overshoot; nothing is lost
    assert [m.payload for m in edge.peek()] == [1, 2, 3]
    assert edge.stats().high_water == 3
    invariant(edge)


def test_push_queues_the_consumer_once_at_the_edge_rank() -> None:
    edge = make_edge(8, priority=3)
    edge.push(Message(1))
    edge.push(Message(2))
    assert edge.target.ready_rank == 3
    assert edge.ready.pop() is edge.target
    assert edge.ready.pop() is None
    assert edge.target.ready_rank == NOT_QUEUED


def test_drop_rejects_the_newest_and_says_so() -> None:
    edge = make_edge(2, "drop")
    seen = listen(edge)
    for i in range(5):
        edge.push(Message(i))
    assert [m.payload for m in edge.peek()] == [0, 1]
    assert edge.stats().dropped == 3
    drops = [e for e in seen if isinstance(e, MessageDropped)]
    assert [(e.edge_id, e.reason, e.count) for e in drops] == [("a.out->b.in", "drop", 1)] * 3
    invariant(edge)


def test_latest_evicts_the_oldest() -> None:
    edge = make_edge(2, "latest")
    seen = listen(edge)
    for i in range(5):
        edge.push(Message(i))
    assert [m.payload for m in edge.peek()] == [3, 4]
    stats = edge.stats()
    assert (stats.dropped, stats.enqueued, stats.offered) == (3, 5, 5)
    assert [e.reason for e in seen if isinstance(e, MessageDropped)] == ["latest"] * 3
    invariant(edge)


def test_latest_keeps_order_across_many_evictions_and_compactions() -> None:
    edge = make_edge(3, "latest")
    for i in range(5 * COMPACT_AT):
        edge.push(i)
    assert edge.peek() == [5 * COMPACT_AT - 3, 5 * COMPACT_AT - 2, 5 * COMPACT_AT - 1]
    assert len(edge._buf) < 2 * COMPACT_AT + 3  # compacted as it went
    invariant(edge)


def test_coalesce_merges_into_the_tail_keeping_new_headers() -> None:
    edge = make_edge(1, Coalesce(lambda old, new: old + new))
    seen = listen(edge)
    edge.push(Message(1, trace_id="a"))
    edge.push(Message(2, trace_id="b"))
    edge.push(Message(3, trace_id="c"))
    queued = edge.peek()
    assert [m.payload for m in queued] == [6]
    assert queued[0].headers["trace_id"] == "c"
    assert edge.stats().coalesced == 2
    assert sum(isinstance(e, MessageCoalesced) for e in seen) == 2
    invariant(edge)


def test_fail_raises_edge_full() -> None:
    edge = make_edge(1, "fail")
    seen = listen(edge)
    edge.push(Message(1))
    with pytest.raises(EdgeFull, match="'a.out->b.in' is full") as info:
        edge.push(Message(2))
    assert info.value.edge_id == "a.out->b.in"
    assert edge.stats().failed == 1
    assert [type(e) for e in seen] == [MessageRejected]
    invariant(edge)


def test_blocked_time_is_measured_while_full_and_announced() -> None:
    edge = make_edge(1)
    seen = listen(edge)
    edge.push(Message(1))
    assert edge.stats().blocked_seconds > 0
    assert [type(e) for e in seen] == [BackpressureBegan]
    assert edge.take(1)[0].payload == 1
    frozen = edge.stats().blocked_seconds
    assert edge.stats().blocked_seconds == frozen
    ended = seen[-1]
    assert isinstance(ended, BackpressureEnded)
    assert ended.producer_id == "a"
    assert ended.blocked_seconds > 0
    invariant(edge)


def test_take_returns_the_oldest_in_order_and_counts_them() -> None:
    edge = make_edge(100)
    edge.push_many(list(range(10)))
    assert edge.take(3) == [0, 1, 2]
    assert edge.take(0) == []
    assert edge.take(100) == list(range(3, 10))
    assert edge.take(5) == []
    stats = edge.stats()
    assert (stats.dequeued, stats.enqueued, stats.depth, stats.high_water) == (10, 10, 0, 10)
    assert edge.target.stats().received == 10


def test_give_back_puts_the_rest_of_a_take_in_front_uncounted() -> None:
    edge = make_edge(100)
    edge.push_many(list(range(6)))
    got = edge.take(4)
    edge.give_back(got[1:])
    assert edge.peek() == [1, 2, 3, 4, 5]
    assert edge.stats().dequeued == 1
    everything = edge.take(10)  # a take that empties the edge...
    edge.push(99)
    edge.give_back(everything[2:])  # ...and one more item arrived meanwhile
    assert edge.peek() == [3, 4, 5, 99]
    invariant(edge)


def test_give_back_refills_a_block_edge_and_blocks_its_producer_again() -> None:
    edge = make_edge(2)
    edge.push_many([1, 2])
    assert edge.source.blocked
    got = edge.take(2)
    assert not edge.source.blocked
    edge.give_back(got)
    assert edge.source.blocked
    assert edge.peek() == [1, 2]


def test_take_one_and_compaction_keep_every_item() -> None:
    edge = make_edge(10 * COMPACT_AT)
    edge.push_many(list(range(4 * COMPACT_AT)))
    first = [edge.take_one() for _ in range(COMPACT_AT + 1)]
    rest = edge.take(10 * COMPACT_AT)
    assert first + rest == list(range(4 * COMPACT_AT))
    with pytest.raises(IndexError):
        edge.take_one()
    invariant(edge)


def test_emit_pushes_bare_values_and_hands_anything_else_to_the_binding() -> None:
    edge = make_edge(4)
    slow: list[tuple[Any, object]] = []
    edge.source.emit_slow = lambda port, value: slow.append((port, value))
    emit = edge.emitter()
    emit("out", 1)
    emit("other", 2)  # another port
    emit("out", Message(3, trace_id="t"))  # has headers of its own
    edge.source.current = Message(0, trace_id="p").headers  # handling a message with headers
    emit("out", 4)
    assert edge.peek() == [1]
    assert [port for port, _ in slow] == ["other", "out", "out"]
    assert slow[0][1] == 2
    assert slow[2][1] == 4
    assert edge.source.counts.emitted == 1


def test_discard_drops_everything_counted() -> None:
    edge = make_edge(2)
    seen = listen(edge)
    edge.push_many([1, 2, 3])
    assert edge.discard() == 3
    assert len(edge) == 0
    stats = edge.stats()
    assert (stats.dropped, stats.high_water) == (3, 3)
    assert [(e.reason, e.count) for e in seen if isinstance(e, MessageDropped)] == [
        ("discarded", 3)
    ]
    invariant(edge)


def test_control_edges_outrank_any_data_priority() -> None:
    control = make_edge(control=True)
    data = make_edge(priority=10**9)
    assert control.rank == CONTROL_RANK > data.rank
    control.set_priority(2)
    assert control.rank == CONTROL_RANK + 2


def test_setters_validate() -> None:
    edge = make_edge()
    with pytest.raises(ValueError, match="capacity"):
        edge.set_capacity(True)
    with pytest.raises(ValueError, match="priority"):
        edge.set_priority("high")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown overflow policy"):
        edge.set_overflow("spill")
    edge.set_overflow("drop")
    assert not edge.is_block
    assert edge.stats().overflow == "drop"


def test_stats_writes_nothing() -> None:
    edge = make_edge(3)
    edge.push_many([1, 2, 3, 4])
    before = {name: getattr(edge, name) for name in Edge.__slots__}
    edge.stats()
    edge.stats()
    assert {name: getattr(edge, name) for name in Edge.__slots__} == before


@pytest.mark.parametrize(
    ("overflow", "kept", "dropped", "coalesced"),
    [
        ("block", list(range(10)), 0, 0),
        ("fail", list(range(10)), 0, 0),
        ("drop", [0, 1, 2, 3], 6, 0),
        ("latest", [6, 7, 8, 9], 6, 0),
        (Coalesce(lambda old, new: old + new), [0, 1, 2, sum(range(3, 10))], 0, 6),
    ],
    ids=["block", "fail", "drop", "latest", "coalesce"],
)
def test_shrinking_a_full_edge_meets_its_policy_counted(
    overflow: object, kept: list[int], dropped: int, coalesced: int
) -> None:
    edge = make_edge(10, overflow)
    for value in range(10):
        edge.push(value)
    seen = listen(edge)
    edge.set_capacity(4)
    edge.retuned()
    stats = edge.stats()
    assert (stats.depth, stats.dropped, stats.coalesced) == (len(kept), dropped, coalesced)
    assert (stats.offered, stats.enqueued) == (10, 10)  # counters never go back
    invariant(edge)
    if dropped:
        [event] = seen
        assert isinstance(event, MessageDropped)
        assert event.count == dropped
    assert edge.source.blocked is (overflow == "block")  # held until what is kept drains
    assert edge.take(100) == kept


# -- checkpoint barriers -----------------------------------------------------------------------


def test_a_barrier_stops_takes_at_its_place_until_lifted() -> None:
    edge = make_edge(capacity=10)
    for value in (1, 2, 3):
        edge.push(value)
    edge.set_barrier()  # after 3
    edge.push(4)
    assert len(edge) == 3
    assert edge.depth == 4
    assert not edge.barrier_reached
    assert edge.take(10) == [1, 2, 3]
    assert edge.barrier_reached
    assert len(edge) == 0
    assert edge.take(10) == []
    edge.barrier_at = -1
    assert edge.take(10) == [4]
    invariant(edge)


def test_a_barrier_survives_a_give_back_and_a_barrier_on_an_empty_edge_is_reached() -> None:
    edge = make_edge(capacity=10)
    edge.set_barrier()
    assert edge.barrier_reached
    edge.barrier_at = -1
    for value in (1, 2, 3):
        edge.push(value)
    edge.set_barrier()
    edge.push(4)
    taken = edge.take(10)
    edge.give_back(taken[1:])
    assert not edge.barrier_reached
    assert edge.take(10) == [2, 3]
    assert edge.barrier_reached


def test_evictions_and_discards_move_the_barrier_with_what_is_left() -> None:
    latest = make_edge(capacity=2, overflow="latest")
    latest.push(1)
    latest.push(2)
    latest.set_barrier()  # after 2
    latest.push(3)  # evicts 1: the barrier now sits after one message
    assert latest.take(10) == [2]
    assert latest.barrier_reached
    discarded = make_edge(capacity=5)
    discarded.push(1)
    discarded.set_barrier()
    discarded.discard()
    assert discarded.barrier_reached


def test_a_coalescing_edge_never_merges_across_a_barrier() -> None:
    edge = make_edge(capacity=1, overflow=Coalesce(lambda old, new: old + new))
    edge.push(1)
    edge.set_barrier()
    edge.push(10)  # full, but its tail is before the barrier: queued after it, not merged
    edge.push(100)  # merged with 10, both after the barrier
    assert edge.take(10) == [1]
    edge.barrier_at = -1
    assert edge.take(10) == [110]
    invariant(edge)
