from __future__ import annotations

import pytest

from arachne import Coalesce, Message
from arachne.model.context import NodeContext
from arachne.model.errors import EdgeFull
from arachne.model.port import PortSpec
from arachne.model.specs import LinkSpec, NodeSpec, PortRef
from arachne.runtime.edge import CONTROL_RANK, Edge
from arachne.runtime.ready_queue import NOT_QUEUED, ReadyQueue
from arachne.runtime.running_node import RunningNode
from tests.runtime.nodes import Collect


def running(node_id: str) -> RunningNode:
    spec = NodeSpec(node_id, "test", (PortSpec("in"),), (PortSpec("out"),))
    return RunningNode(spec, Collect(node_id), NodeContext.create(node_id))


def make_edge(capacity: int = 2, overflow: object = "block", **kw: object) -> Edge:
    spec = LinkSpec(
        "a.out->b.in",
        PortRef("a", "out"),
        PortRef("b", "in"),
        capacity,
        overflow,
        **kw,  # type: ignore[arg-type]
    )
    return Edge(spec, running("a"), running("b"), ReadyQueue())


def invariant(edge: Edge) -> None:
    s = edge.stats()
    assert s.offered == s.dequeued + s.dropped + s.coalesced + s.failed + s.depth


def test_block_accepts_and_marks_the_producer_blocked_when_full() -> None:
    edge = make_edge(2)
    edge.push(Message(1))
    assert not edge.source.blocked
    edge.push(Message(2))
    assert edge.source.blocked
    assert edge.full
    edge.push(Message(3))  # one hook call may overshoot; nothing is lost
    assert [m.payload for m in edge.queue] == [1, 2, 3]
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


def test_drop_rejects_the_newest() -> None:
    edge = make_edge(2, "drop")
    for i in range(5):
        edge.push(Message(i))
    assert [m.payload for m in edge.queue] == [0, 1]
    assert edge.stats().dropped == 3
    invariant(edge)


def test_latest_evicts_the_oldest() -> None:
    edge = make_edge(2, "latest")
    for i in range(5):
        edge.push(Message(i))
    assert [m.payload for m in edge.queue] == [3, 4]
    assert edge.stats().dropped == 3
    invariant(edge)


def test_coalesce_merges_into_the_tail_keeping_new_headers() -> None:
    edge = make_edge(1, Coalesce(lambda old, new: old + new))
    edge.push(Message(1, trace_id="a"))
    edge.push(Message(2, trace_id="b"))
    edge.push(Message(3, trace_id="c"))
    assert [m.payload for m in edge.queue] == [6]
    assert edge.queue[0].headers["trace_id"] == "c"
    assert edge.stats().coalesced == 2
    invariant(edge)


def test_fail_raises_edge_full() -> None:
    edge = make_edge(1, "fail")
    edge.push(Message(1))
    with pytest.raises(EdgeFull, match="'a.out->b.in' is full") as info:
        edge.push(Message(2))
    assert info.value.edge_id == "a.out->b.in"
    assert edge.stats().failed == 1
    invariant(edge)


def test_blocked_time_is_measured_while_full() -> None:
    edge = make_edge(1)
    edge.push(Message(1))
    assert edge.stats().blocked_seconds > 0
    edge.queue.popleft()
    edge.dequeued += 1
    edge.drained()
    frozen = edge.stats().blocked_seconds
    assert edge.stats().blocked_seconds == frozen
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
        edge.set_capacity(True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="priority"):
        edge.set_priority("high")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown overflow policy"):
        edge.set_overflow("spill")
    edge.set_overflow("drop")
    assert not edge.is_block
    assert edge.stats().overflow == "drop"


def test_ready_queue_serves_higher_ranks_first_and_skips_stale_entries() -> None:
    ready = ReadyQueue()
    a, b, c = running("a"), running("b"), running("c")
    ready.add(a, 0)
    ready.add(b, 0)
    ready.add(c, 5)
    ready.add(a, 7)  # raised: its rank-0 entry goes stale
    ready.add(a, 1)  # lower than its queued rank: ignored
    assert len(ready) == 4
    assert [ready.pop(), ready.pop(), ready.pop()] == [a, c, b]
    assert ready.pop() is None
    ready.add(b, 0)
    ready.discard(b)
    assert ready.pop() is None
