"""Stateful model test of one ``Edge`` under every overflow policy.

A ``RuleBasedStateMachine`` drives a standalone edge the way the runtime does (bursts of
pushes from one producer hook call, messages with headers or bare payloads, the ``push_many``
fast path, takes with the unprocessed rest given back, live capacity and policy changes) and
checks it after every step against a plain-Python reference model: a list of
``(payload, trace_id or None)`` pairs and counters kept by the test itself, never read back
from the edge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from arachne import Coalesce, Message
from arachne.model.context import NodeContext
from arachne.model.errors import EdgeFull
from arachne.model.message import as_message
from arachne.model.policies import Overflow
from arachne.model.port import PortSpec
from arachne.model.specs import LinkSpec, NodeSpec, PortRef
from arachne.runtime.clock import FakeClock
from arachne.runtime.edge import Edge
from arachne.runtime.events import EventBus
from arachne.runtime.ready_queue import NOT_QUEUED, ReadyQueue
from arachne.runtime.run_context import RunContext
from arachne.runtime.running_node import RunningNode
from tests.runtime.nodes import Collect, Forever

MAX_BURST = 4
MAX_CAPACITY = 6
PRIORITY = 3
SUM = Coalesce(lambda old, new: old + new)
POLICIES: dict[str, Overflow] = {
    "block": "block",
    "drop": "drop",
    "latest": "latest",
    "fail": "fail",
    "coalesce": SUM,
}

SETTINGS = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class Wakes(ReadyQueue[RunningNode]):
    """A ready queue that records the producer's wake-ups instead of queuing it."""

    def __init__(self, producer_id: str) -> None:
        super().__init__()
        self.producer_id = producer_id
        self.unblocked_calls: list[RunningNode] = []

    def add(self, node: RunningNode, rank: int) -> None:
        if node.id == self.producer_id:
            self.unblocked_calls.append(node)
        else:
            super().add(node, rank)

    def unblocked(self, rn: RunningNode) -> None:
        self.unblocked_calls.append(rn)


Entry = tuple[int, str | None]
"""A queued message as the model sees it: payload and trace id (``None``: a bare payload)."""


@dataclass
class Model:
    """What the edge should hold and count, maintained by hand."""

    capacity: int
    policy: str
    queue: list[Entry] = field(default_factory=list)
    offered: int = 0
    enqueued: int = 0
    dequeued: int = 0
    dropped: int = 0
    coalesced: int = 0
    failed: int = 0
    high_water: int = 0
    blocked: bool = False  # the producer's flag, as the runtime should leave it
    spell: bool = False  # a blocked spell is being timed (opened by a push, closed by a take
    # or a retune that leaves room)
    unblocked: int = 0  # how many times the producer should have been woken
    hold: int = 0  # depth left over from a capacity or policy change, lowered by takes
    raw_excuse: bool = False  # a bare setter left a full block edge with its producer unblocked
    next_payload: int = 1

    @property
    def depth(self) -> int:
        return len(self.queue)

    @property
    def full(self) -> bool:
        return self.depth >= self.capacity

    def push(self, payload: int, trace_id: str | None) -> bool:
        """Apply one offer; return whether the edge should raise ``EdgeFull``."""
        self.offered += 1
        if self.policy != "block" and self.full:
            if self.policy == "drop":
                self.dropped += 1
            elif self.policy == "latest":
                self.queue.pop(0)
                self.queue.append((payload, trace_id))
                self.dropped += 1
                self.enqueued += 1
            elif self.policy == "coalesce":
                old, _ = self.queue[-1]
                self.queue[-1] = (old + payload, trace_id)
                self.coalesced += 1
            else:
                self.failed += 1
                return True
            return False
        self.queue.append((payload, trace_id))
        self.enqueued += 1
        self.high_water = max(self.high_water, self.depth)
        if self.policy == "block":
            self.after_block_push()
        return False

    def push_many(self, items: list[Entry]) -> None:
        self.offered += len(items)
        self.enqueued += len(items)
        self.queue.extend(items)
        self.high_water = max(self.high_water, self.depth)
        self.after_block_push()

    def after_block_push(self) -> None:
        if self.full:
            self.blocked = True
            self.spell = True
        self.raw_excuse = False

    def take(self, count: int) -> list[Entry]:
        got = self.queue[:count]
        del self.queue[:count]
        self.dequeued += count
        if not self.full:
            self.spell = False  # Edge._eased
            self.raw_excuse = False
            if self.blocked:  # recompute, wake the producer
                self.blocked = False
                self.unblocked += 1
        self.hold = min(self.hold, self.depth)
        return got

    def give_back(self, items: list[Entry]) -> None:
        """The consumer's turn ended early: the unprocessed end of its take goes back."""
        self.queue[:0] = items
        self.dequeued -= len(items)
        self.hold = max(self.hold, self.depth)  # back to a depth the edge already held
        if self.policy == "block" and self.full:
            self.blocked = True
            self.spell = True

    def shrink(self, capacity: int) -> None:
        """A smaller capacity: what is queued past it meets the policy (Edge.set_capacity)."""
        excess = self.depth - capacity
        if excess <= 0:
            return
        if self.policy == "drop":
            del self.queue[capacity:]
            self.dropped += excess
        elif self.policy == "latest":
            del self.queue[:excess]
            self.dropped += excess
        elif self.policy == "coalesce":
            total = sum(payload for payload, _ in self.queue[capacity - 1 :])
            self.queue[capacity - 1 :] = [(total, self.queue[-1][1])]
            self.coalesced += excess  # (they were enqueued: that count stays)

    def changed(self, *, retune: bool) -> None:
        """After a capacity or policy change: bare setter, or as ``ExecutionTuning`` does."""
        self.hold = self.depth
        if retune:  # Edge.retuned: a full block edge starts a spell, anything else ends it
            self.raw_excuse = False
            if self.policy == "block" and self.full:
                self.blocked = True
                self.spell = True
            else:
                self.spell = False
                if self.blocked:
                    self.blocked = False
                    self.unblocked += 1
        elif self.policy == "block" and self.full and not self.blocked:
            self.raw_excuse = True


def running(node_id: str, *, source: bool = False) -> RunningNode:
    if source:  # a source that ticks when it has room: woken when its output drains
        spec = NodeSpec(node_id, "test", (), (PortSpec("out"),))
        rn = RunningNode(spec, Forever(node_id), NodeContext.create(node_id))
    else:
        spec = NodeSpec(node_id, "test", (PortSpec("in"),), (PortSpec("out"),))
        rn = RunningNode(spec, Collect(node_id), NodeContext.create(node_id))
    rn.started = True
    return rn


def build_edge(capacity: int, policy: Overflow) -> Edge:
    spec = LinkSpec(
        "a.out->b.in", PortRef("a", "out"), PortRef("b", "in"), capacity, policy, PRIORITY
    )
    ctx = RunContext("x", clock=FakeClock(), bus=EventBus())
    ctx.ready = Wakes("a")
    edge = Edge(spec, running("a", source=True), running("b"), ctx)
    assert edge.producer is edge.source  # no fusion: the source is who blocks and is woken
    edge.source.outputs = {"out": (edge,)}  # so still_blocked() sees this edge
    edge.target.inputs = [edge]
    return edge


def entry(item: Any) -> Entry:
    """A queued item as the model sees it; a ``Message`` exactly when it has headers."""
    msg = as_message(item)
    trace_id = msg.headers.get("trace_id")
    assert (item is msg) == (trace_id is not None)
    return msg.payload, trace_id


def payloads(edge: Edge) -> list[Entry]:
    return [entry(item) for item in edge.peek()]


class EdgeMachine(RuleBasedStateMachine):
    """Drive one edge; subclasses pick the starting policies and whether it may switch."""

    START: ClassVar[tuple[str, ...]] = ("block",)

    edge: Edge
    model: Model
    ex: Wakes
    last_blocked_seconds: float

    @initialize(data=st.data(), capacity=st.integers(1, MAX_CAPACITY))
    def start(self, data: Any, capacity: int) -> None:
        name = data.draw(st.sampled_from(self.START), label="policy")
        self.edge = build_edge(capacity, POLICIES[name])
        self.model = Model(capacity, name)
        wakes = self.edge.ready
        assert isinstance(wakes, Wakes)
        self.ex = wakes
        self.last_blocked_seconds = 0.0

    # -- rules ------------------------------------------------------------------------------

    @precondition(lambda self: not self.edge.source.blocked)
    @rule(n=st.integers(1, MAX_BURST), headers=st.booleans())
    def offer(self, n: int, headers: bool) -> None:
        """One producer hook call emitting ``n`` messages; only a non-blocked producer runs.

        With ``headers`` the producer emits ``Message``s carrying a trace id, else bare
        payloads (what the runtime pushes when tracing is off).
        """
        edge, model = self.edge, self.model
        burst_capacity, start_depth = model.capacity, model.depth
        if model.policy == "block" and start_depth >= burst_capacity:
            # only a bare set_capacity/set_overflow can leave a full edge's producer runnable
            assert model.raw_excuse
        for _ in range(n):
            payload = model.next_payload
            model.next_payload += 1
            trace_id = f"t{payload}" if headers else None
            should_fail = model.push(payload, trace_id)
            msg = Message(payload, trace_id=trace_id) if trace_id else payload
            if should_fail:
                with pytest.raises(EdgeFull, match=rf"\({model.capacity} messages\)") as info:
                    edge.push(msg)
                assert info.value.edge_id == edge.id
            else:
                edge.push(msg)  # an unexpected EdgeFull fails the test
            assert payloads(edge) == model.queue
            if model.queue:  # the consumer was made ready at the edge's rank
                assert edge.target.ready_rank == edge.rank
            if model.policy == "block":
                assert edge.source.blocked == model.full
                if start_depth < burst_capacity:
                    assert len(edge) <= burst_capacity + n - 1
                else:
                    assert len(edge) <= start_depth + n

    @precondition(
        lambda self: self.model.policy == "block" and not self.edge.source.blocked and self.room()
    )
    @rule(data=st.data())
    def offer_many(self, data: Any) -> None:
        """The fast path: append a batch known to fit (``push_many``, ``block`` only)."""
        k = data.draw(st.integers(1, self.room()), label="k")
        items: list[Entry] = []
        for _ in range(k):
            items.append((self.model.next_payload, None))
            self.model.next_payload += 1
        self.model.push_many(items)
        self.edge.push_many([payload for payload, _ in items])
        assert payloads(self.edge) == self.model.queue
        assert self.edge.source.blocked == self.model.full
        assert len(self.edge) <= self.model.capacity
        assert self.edge.target.ready_rank == self.edge.rank

    def room(self) -> int:
        return max(0, self.model.capacity - self.model.depth)

    @precondition(lambda self: bool(self.model.queue))
    @rule(n=st.integers(1, MAX_BURST), data=st.data())
    def take(self, n: int, data: Any) -> None:
        """The scheduler activates the consumer, which takes up to ``n`` messages.

        Its turn may end early (an output filled, a retry): the rest of the take goes back.
        """
        edge, model = self.edge, self.model
        assert edge.ready.pop() is edge.target
        assert edge.ready.pop() is None
        count = min(n, len(edge))
        got = edge.take(n)
        assert [entry(item) for item in got] == model.take(count)
        back = data.draw(st.integers(0, count), label="given back")
        if back:
            edge.give_back(got[count - back :])
            model.give_back([entry(item) for item in got[count - back :]])
        if edge.target.has_input():  # after_turn requeues a consumer with input left
            edge.ready.add(edge.target, edge.target.top_rank())

    @rule(capacity=st.integers(1, MAX_CAPACITY), retune=st.booleans())
    def set_capacity(self, capacity: int, retune: bool) -> None:
        """Live capacity change; what is queued past a smaller one meets the policy."""
        self.edge.set_capacity(capacity)
        if retune:
            self.retune()
        self.model.shrink(capacity)
        self.model.capacity = capacity
        self.model.changed(retune=retune)

    def retune(self) -> None:
        """What ``Wiring.retuned`` does after the bare setter: settle, then wake if freed."""
        self.edge.retuned()
        producer = self.edge.producer
        if producer.blocked and not producer.still_blocked():
            self.ex.unblocked(producer)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def queue_matches(self) -> None:
        assert payloads(self.edge) == self.model.queue

    @invariant()
    def counters_match(self) -> None:
        s, m = self.edge.stats(), self.model
        assert s.offered == s.dequeued + s.dropped + s.coalesced + s.failed + s.depth
        assert (s.offered, s.enqueued, s.dequeued) == (m.offered, m.enqueued, m.dequeued)
        assert (s.dropped, s.coalesced, s.failed) == (m.dropped, m.coalesced, m.failed)
        assert s.depth == m.depth
        assert s.high_water == m.high_water
        assert s.capacity == m.capacity
        assert s.overflow == m.policy
        assert self.edge.target.stats().received == m.dequeued

    @invariant()
    def depth_bounded(self) -> None:
        m = self.model
        if m.policy != "block":
            assert m.depth <= max(m.capacity, m.hold)

    @invariant()
    def blocked_flag_matches(self) -> None:
        assert self.edge.source.blocked == self.model.blocked
        assert len(self.ex.unblocked_calls) == self.model.unblocked
        assert all(rn is self.edge.source for rn in self.ex.unblocked_calls)
        assert self.edge.full == self.model.full

    @invariant()
    def consumer_ready_iff_input(self) -> None:
        expected = self.edge.rank if self.model.queue else NOT_QUEUED
        assert self.edge.target.ready_rank == expected

    @invariant()
    def blocked_time_is_monotonic_and_frozen_between_spells(self) -> None:
        first = self.edge.stats().blocked_seconds
        second = self.edge.stats().blocked_seconds
        assert self.last_blocked_seconds <= first <= second
        if self.model.spell:  # the clock runs: once it has ticked, a snapshot shows more
            tick = time.perf_counter_ns() + 1_000
            while time.perf_counter_ns() < tick:
                pass
            assert self.edge.stats().blocked_seconds > second
        else:
            assert first == second == self.edge.blocked_ns / 1e9
        self.last_blocked_seconds = self.edge.stats().blocked_seconds


class SwitchingEdgeMachine(EdgeMachine):
    """Also changes the overflow policy mid-run, with a bare setter or as tuning does."""

    START: ClassVar[tuple[str, ...]] = tuple(POLICIES)

    @rule(name=st.sampled_from(tuple(POLICIES)), retune=st.booleans())
    def set_overflow(self, name: str, retune: bool) -> None:
        self.edge.set_overflow(POLICIES[name])
        if retune:
            self.retune()
        self.model.policy = name
        self.model.changed(retune=retune)


def machine_for(name: str) -> type[EdgeMachine]:
    return type(f"{name.capitalize()}EdgeMachine", (EdgeMachine,), {"START": (name,)})


def with_settings(machine: type[EdgeMachine]) -> Any:
    case = machine.TestCase
    case.settings = SETTINGS
    return case


TestBlockEdge = with_settings(machine_for("block"))
TestDropEdge = with_settings(machine_for("drop"))
TestLatestEdge = with_settings(machine_for("latest"))
TestFailEdge = with_settings(machine_for("fail"))
TestCoalesceEdge = with_settings(machine_for("coalesce"))
TestSwitchingEdge = with_settings(SwitchingEdgeMachine)
