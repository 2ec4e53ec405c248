"""The running edge: a bounded deque with an overflow policy and plain counters."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any, Final, Protocol

from arachne.model.errors import EdgeFull
from arachne.model.message import EMPTY_HEADERS, Message, as_message
from arachne.model.policies import Coalesce, Overflow, check_overflow, overflow_name
from arachne.runtime.stats import EdgeStats

if TYPE_CHECKING:
    from arachne.model.specs import LinkSpec
    from arachne.runtime.ready_queue import ReadyQueue
    from arachne.runtime.running_node import RunningNode

__all__ = ["CONTROL_RANK", "Edge", "Outlet"]

CONTROL_RANK: Final = 1 << 40
"""Added to a control edge's priority so it outranks every data edge."""


class Outlet(Protocol):
    """What a producer pushes into: an ``Edge``, or a fused chain standing in for one."""

    @property
    def id(self) -> str:
        """The edge's id."""
        ...

    @property
    def target(self) -> RunningNode:
        """The node the edge feeds."""
        ...

    closed: bool

    @property
    def is_block(self) -> bool:
        """Whether a full outlet blocks its producer."""
        ...

    @property
    def full(self) -> bool:
        """Whether it is full (under ``block``, the producer must wait)."""
        ...

    @property
    def room(self) -> int:
        """How many more messages fit before it is full."""
        ...

    def push(self, msg: Any) -> None:
        """Offer one message or payload."""
        ...

    def push_many(self, items: list[Any], plain: bool | None = None) -> None:
        """Offer several, known to fit; ``plain`` says none is a ``Message``, if known."""
        ...


class Edge:
    """A bounded FIFO between one output port and one input port.

    ``push`` applies the overflow policy; under ``block`` the message is always accepted and,
    once the edge is full, its producer is marked blocked so the scheduler stops activating it
    until the edge drains. An edge therefore holds at most ``capacity + k - 1`` messages, where
    ``k`` is the most messages its producer emits on it from one hook call.
    """

    __slots__ = (
        "_blocked_since",
        "blocked_ns",
        "capacity",
        "closed",
        "coalesced",
        "control",
        "dequeued",
        "dropped",
        "enqueued",
        "failed",
        "high_water",
        "id",
        "is_block",
        "not_enqueued",
        "overflow",
        "port",
        "priority",
        "producer",
        "queue",
        "rank",
        "ready",
        "source",
        "target",
    )

    def __init__(
        self, spec: LinkSpec, source: RunningNode, target: RunningNode, ready: ReadyQueue
    ) -> None:
        self.id = spec.id
        self.source = source
        # Who is blocked while this edge is full and woken when it drains: the source, or the
        # head of the fused chain the source belongs to.
        self.producer = source
        self.target = target
        self.port = spec.target.port
        self.ready = ready
        self.queue: deque[Any] = deque()  # payloads, or Messages when there are headers
        self.capacity = spec.capacity
        self.overflow: Overflow = spec.overflow
        self.is_block = spec.overflow == "block"
        self.priority = spec.priority
        self.control = spec.control
        self.rank = spec.priority + (CONTROL_RANK if spec.control else 0)
        self.closed = False
        self.enqueued = self.dequeued = self.dropped = self.coalesced = self.failed = 0
        self.not_enqueued = 0
        self.high_water = 0
        self.blocked_ns = 0
        self._blocked_since = 0

    def push(self, msg: Any) -> None:
        """Offer ``msg`` (a ``Message``, or a bare payload); apply the policy if full."""
        queue = self.queue
        if not self.is_block and len(queue) >= self.capacity:
            self._overflow(msg)
            return
        queue.append(msg)
        self.enqueued += 1
        depth = len(queue)
        if depth > self.high_water:
            self.high_water = depth
        if depth >= self.capacity and self.is_block:
            self.mark_full()
        target = self.target
        if target.ready_rank < self.rank:
            self.ready.add(target, self.rank)

    def push_many(self, items: list[Any], plain: bool | None = None) -> None:
        """Append ``items`` in one go; the caller has checked there is room (``block`` only)."""
        self.queue.extend(items)
        self.pushed(len(items))

    def pushed(self, count: int) -> None:
        """Account for ``count`` messages just appended to the queue by a fast path."""
        queue = self.queue
        self.enqueued += count
        depth = len(queue)
        if depth > self.high_water:
            self.high_water = depth
        if depth >= self.capacity:
            self.mark_full()
        target = self.target
        if target.ready_rank < self.rank:
            self.ready.add(target, self.rank)

    def mark_full(self) -> None:
        """Block the producer: the edge has reached its capacity (``block`` policy)."""
        self.producer.blocked = True
        if not self._blocked_since:
            self._blocked_since = time.perf_counter_ns()

    def _overflow(self, msg: Any) -> None:
        policy = self.overflow
        self.not_enqueued += policy != "latest"
        if policy == "drop":
            self.dropped += 1
        elif policy == "latest":
            self.queue.popleft()
            self.dropped += 1
            self.queue.append(msg)
            self.enqueued += 1
        elif isinstance(policy, Coalesce):
            tail, new = as_message(self.queue[-1]), as_message(msg)
            merged = policy.merge(tail.payload, new.payload)
            self.queue[-1] = (
                merged if new.headers is EMPTY_HEADERS else Message(merged, new.headers)
            )
            self.coalesced += 1
        else:
            self.failed += 1
            raise EdgeFull(self.id, self.capacity)

    def drained(self) -> None:
        """Note that the consumer took messages: end a blocked spell if there is room again."""
        if self._blocked_since and len(self.queue) < self.capacity:
            self.blocked_ns += time.perf_counter_ns() - self._blocked_since
            self._blocked_since = 0

    def retuned(self) -> RunningNode | None:
        """Settle backpressure after a capacity or policy change.

        A ``block`` edge that is now full blocks its producer (and starts timing it); otherwise
        any blocked spell ends. Returns the producer if it was blocked and may run again.
        """
        if self.is_block and self.full:
            self.mark_full()
            return None
        if self._blocked_since:
            self.blocked_ns += time.perf_counter_ns() - self._blocked_since
            self._blocked_since = 0
        producer = self.producer
        return producer if producer.blocked and not producer.still_blocked() else None

    def set_capacity(self, capacity: int) -> None:
        """Change the bound; messages already queued stay, the new bound applies to pushes."""
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"edge {self.id}: capacity must be an int >= 1, got {capacity!r}")
        self.capacity = capacity

    def set_priority(self, priority: int) -> None:
        """Change the priority that orders the consumer's work."""
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ValueError(f"edge {self.id}: priority must be an int, got {priority!r}")
        self.priority = priority
        self.rank = priority + (CONTROL_RANK if self.control else 0)

    def set_overflow(self, overflow: Any) -> None:
        """Change the overflow policy."""
        self.overflow = check_overflow(overflow)
        self.is_block = self.overflow == "block"

    @property
    def full(self) -> bool:
        """Whether the edge holds ``capacity`` messages or more."""
        return len(self.queue) >= self.capacity

    @property
    def room(self) -> int:
        """How many more messages fit before the edge is full (negative if over)."""
        return self.capacity - len(self.queue)

    def stats(self) -> EdgeStats:
        """Return the counters now, as a frozen snapshot."""
        blocked = self.blocked_ns
        if self._blocked_since:
            blocked += time.perf_counter_ns() - self._blocked_since
        return EdgeStats(
            id=self.id,
            source=self.source.id,
            target=self.target.id,
            capacity=self.capacity,
            overflow=overflow_name(self.overflow),
            priority=self.priority,
            control=self.control,
            depth=len(self.queue),
            offered=self.enqueued + self.not_enqueued,
            enqueued=self.enqueued,
            dequeued=self.dequeued,
            dropped=self.dropped,
            coalesced=self.coalesced,
            failed=self.failed,
            high_water=self.high_water,
            blocked_seconds=blocked / 1e9,
            closed=self.closed,
        )
