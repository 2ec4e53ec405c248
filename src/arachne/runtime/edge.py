"""The running edge: a bounded FIFO with an overflow policy, owning its queue and counters."""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from arachne.model.errors import EdgeFull
from arachne.model.message import EMPTY_HEADERS, Message, as_message
from arachne.model.policies import Coalesce, Overflow, check_overflow, overflow_name
from arachne.runtime.events import (
    BackpressureBegan,
    BackpressureEnded,
    MessageCoalesced,
    MessageDropped,
    MessageRejected,
)
from arachne.runtime.stats import EdgeStats

if TYPE_CHECKING:
    from arachne.model.node import Emitter
    from arachne.model.specs import LinkSpec
    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import EdgeRecorder, RunningNode, StageRef

__all__ = ["CONTROL_RANK", "Edge", "EdgeKind", "LeanOutput"]

CONTROL_RANK: Final = 1 << 40
"""Added to a control edge's priority so it outranks every data edge."""

COMPACT_AT: Final = 1024
"""Taken slots at the front of the buffer before it is compacted (when they are half of it)."""

EdgeKind: TypeAlias = Literal["link", "inject"]
"""``link``: an edge of the graph; ``inject``: made by the runtime to carry ``inject`` calls."""


MAX_WATERMARKS: Final = 64
"""Watermarks an edge keeps waiting at most; past it the newest takes the last one's place."""

_SERIALS: Final = itertools.count(1)


def _nothing(_on: bool) -> None:
    """Switch no emitter: none was handed out yet (or the last was retired)."""


class LeanOutput:
    """One chunk of a class node's messages, emitting into its one ``block`` edge.

    For the length of the chunk the node's ``emit`` is :attr:`emit`, which only appends (a
    value needing headers, another port, goes through the binding as always); the message
    loop checks ``len(buf) >= limit`` after each call, with locals, and calls :meth:`fill`
    when it holds; :meth:`close` counts what was emitted and queues the consumer. Measured:
    about a third of the cost of a full ``emit`` per value. ``buf`` is the edge's own list,
    for its length only.

    The edge's full emitter is paused for the chunk (a node that kept it goes through the
    binding meanwhile), so everything else that lands on the edge comes through
    :meth:`Edge.push`, which counts: what the chunk appended itself is the growth less those.
    """

    __slots__ = ("_edge", "_end", "_pushes", "_resume", "_start", "buf", "emit", "limit")

    def __init__(self, edge: Edge) -> None:
        self._edge = edge
        self.buf = buf = edge._buf
        self.limit = edge._limit  # nobody takes from the edge during the chunk
        self._start = len(buf)
        self._pushes = edge.pushes
        self._resume = switch = edge._switch
        switch(False)
        source_port, append = edge.source_port, buf.append
        general = edge.source.emit_slow
        live = True

        def emit(port: Any, value: Any) -> None:
            if not live:  # kept past its chunk: the general way, counted and woken
                general(port, value)
                return
            if port is not source_port and port != source_port:
                general(port, value)
                return
            if type(value) is Message:
                if value.headers is not EMPTY_HEADERS:
                    general(port, value)
                    return
                value = value.payload
            append(value)

        def end() -> None:
            nonlocal live
            live = False

        self._end = end
        self.emit: Emitter = emit

    def fill(self) -> None:
        """Hold the producer back: the loop found the edge full."""
        self._edge._fill()

    def close(self) -> None:
        """Count the chunk's emits, queue the consumer if anything arrived, resume the emitter."""
        self._end()
        edge = self._edge
        if edge._switch is self._resume:  # not replaced meanwhile (a replaced one stays off)
            self._resume(True)
        grown = len(self.buf) - self._start
        if grown:
            edge._counts.emitted += grown - (edge.pushes - self._pushes)
            target = edge.target
            if target.ready_rank < edge.rank:
                edge.ready.add(target, edge.rank)


class Edge:
    """A bounded FIFO between one output port and one input port.

    ``push`` applies the overflow policy; under ``block`` the message is always accepted and,
    once the edge is full, its producer is marked blocked so the scheduler stops activating it
    until the edge drains. An edge therefore holds at most ``capacity + k - 1`` messages, where
    ``k`` is the most messages its producer emits on it from one hook call.

    Every change to the queue and every counter happens in these methods. The queue is a list
    read from a moving head (a take is one slice, not a pop per message), compacted as it
    goes. Counters the push path would otherwise write are derived when read: ``enqueued`` is
    what was taken, is queued, or was evicted or discarded; the high-water mark is the depth
    seen before each take, or now. While the edge is fused away (a chain calls its stages
    directly), the chain's counts for this hop are added when read, never stored.
    """

    __slots__ = (
        "_blocked_since",
        "_buf",
        "_counts",
        "_ctx",
        "_head",
        "_high_water",
        "_limit",
        "_switch",
        "barrier_at",
        "blocked_ns",
        "blocked_spells",
        "capacity",
        "closed",
        "coalesced",
        "control",
        "dequeued",
        "discarded",
        "evicted",
        "failed",
        "headed",
        "id",
        "is_block",
        "kind",
        "link",
        "overflow",
        "overlays",
        "port",
        "priority",
        "probe_at",
        "probe_origin",
        "probe_seq",
        "producer",
        "pushes",
        "rank",
        "ready",
        "recorder",
        "refused",
        "serial",
        "shed_merged",
        "source",
        "source_port",
        "tap",
        "target",
        "watermarks",
    )

    def __init__(
        self,
        link: LinkSpec,
        source: RunningNode,
        target: RunningNode,
        ctx: RunContext,
        *,
        kind: EdgeKind = "link",
    ) -> None:
        self.id = link.id
        self.serial = next(_SERIALS)  # tells this edge from a later one under the same id
        self.link = link
        self.kind: EdgeKind = kind
        self.source = source
        # Who is blocked while this edge is full and woken when it drains: the source, or the
        # head of the fused chain the source belongs to.
        self.producer = source
        self.target = target
        self.source_port = link.source.port
        self.port = link.target.port
        self._ctx = ctx
        self.ready = ctx.ready
        self._counts = source.counts
        self._buf: list[Any] = []  # payloads, or Messages when there are headers
        self._head = 0  # index of the oldest queued item
        self.capacity = link.capacity
        self._limit = link.capacity  # len(_buf) at which the edge is full: head + capacity
        self.overflow: Overflow = link.overflow
        self.is_block = link.overflow == "block"
        self.priority = link.priority
        self.control = link.control
        self.rank = link.priority + (CONTROL_RANK if link.control else 0)
        self.closed = False
        self.headed = False  # a queued item may be a Message (else all are bare payloads)
        # (fused chain, stage it feeds) for every chain running through it (a fused edge into
        # a fan-in stage may be part of several).
        self.overlays: list[tuple[StageRef, int]] = []
        self.dequeued = self.coalesced = self.failed = 0
        self.shed_merged = 0  # queued messages a shrink merged (counted in coalesced too)
        self.refused = self.evicted = self.discarded = 0  # dropped: arriving, oldest, all
        self._high_water = 0
        self.blocked_ns = 0
        self.blocked_spells = 0
        self._blocked_since = 0
        self.pushes = 0  # calls to push, and items through push_many (see LeanOutput)
        # The latency probe (see runtime.timing): taken once ``dequeued`` reaches probe_seq
        # (0: none set); stamped at probe_at, carrying the start at a source (-1: unknown).
        self.probe_seq = 0
        self.probe_at, self.probe_origin = 0.0, -1.0
        # Turns the last emitter handed out off (False) or on again (True).
        self._switch: Callable[[bool], None] = _nothing
        # Called with what each take hands out, while the execution is watched (runtime.watch).
        self.tap: Callable[[Edge, list[Any]], None] | None = None
        # A checkpoint's barrier (runtime.checkpointing): the consumer takes nothing past the
        # message whose take makes ``dequeued`` reach it (-1: none). Absolute, like probe_seq.
        self.barrier_at = -1
        # Keeps what the consumer takes, for the event log (runtime.recording); never fused.
        self.recorder: EdgeRecorder | None = None
        # Watermarks on their way (runtime.watermarks): (position, value, idle), oldest first;
        # each is passed once ``dequeued`` reaches its position. None until one is put.
        self.watermarks: deque[tuple[int, float, bool]] | None = None

    # -- producers ----------------------------------------------------------------------------

    def push(self, item: Any) -> None:
        """Offer ``item`` (a ``Message``, or a bare payload); apply the policy if full."""
        self.pushes += 1
        if type(item) is Message:
            self.headed = True
        buf = self._buf
        if self.is_block:
            buf.append(item)
            if len(buf) >= self._limit:
                self._fill()
        elif len(buf) >= self._limit:
            self._overflow(item)
            return
        else:
            buf.append(item)
        target = self.target
        if target.ready_rank < self.rank:
            self.ready.add(target, self.rank)

    def push_many(self, items: list[Any]) -> None:
        """Offer ``items`` in order; under ``block`` in one append (the caller checked room)."""
        if not items:
            return
        if not self.is_block:
            for item in items:
                self.push(item)
            return
        self.pushes += len(items)
        if not self.headed and Message in map(type, items):
            self.headed = True
        buf = self._buf
        buf.extend(items)
        if len(buf) >= self._limit:
            self._fill()
        target = self.target
        if target.ready_rank < self.rank:
            self.ready.add(target, self.rank)

    def emitter(self) -> Emitter:
        """Return an ``emit`` for the producer whose one outlet this edge is.

        One call per value, the push done in place: measured about half the cost of ``emit``
        through the binding and ``push``. A ``Message`` without headers (the blueprint's
        ``emit("out", Message(payload=x))``) goes as its payload, as through the binding. A
        value that needs headers (its own, or those of a message being handled) or another
        port goes the general way, through the binding. Made again whenever the edge's
        priority, policy or its producer's outputs change (the wiring sees to it).
        """
        self.retire_emitter()
        source, source_port, counts = self.source, self.source_port, self._counts
        slow = source.emit_slow
        live = True

        def switch(on: bool) -> None:
            nonlocal live
            live = on

        self._switch = switch
        if not self.is_block:
            push = self.push

            def emit_with_policy(port: Any, value: Any) -> None:
                if (
                    (port is not source_port and port != source_port)
                    or source.current is not None
                    or not live
                ):
                    slow(port, value)
                    return
                if type(value) is Message:
                    if value.headers is not EMPTY_HEADERS:
                        slow(port, value)
                        return
                    value = value.payload
                counts.emitted += 1
                push(value)

            return emit_with_policy
        buf, target, rank, add, fill = self._buf, self.target, self.rank, self.ready.add, self._fill
        append = buf.append
        edge = self

        def emit(port: Any, value: Any) -> None:
            if (
                (port is not source_port and port != source_port)
                or source.current is not None
                or not live
            ):
                slow(port, value)
                return
            if type(value) is Message:
                if value.headers is not EMPTY_HEADERS:
                    slow(port, value)
                    return
                value = value.payload
            counts.emitted += 1
            append(value)
            if len(buf) >= edge._limit:
                fill()
            if target.ready_rank < rank:
                add(target, rank)

        return emit

    def retire_emitter(self) -> None:
        """Make the last emitter handed out go the general way from now on.

        A node may keep its ``emit`` (``send = self.emit``) and call it after its outputs were
        rewired, or after the chunk it was taken in: such a call then goes through the binding,
        which routes, counts and wakes as the outputs are now.
        """
        self._switch(False)
        self._switch = _nothing

    def open_lean(self) -> LeanOutput:
        """Start a chunk of a ``block`` edge's producer's messages with the lean emitter.

        See :class:`LeanOutput`: the producer's message loop emits through it and checks the
        edge's fullness itself; counts and readiness are settled when it is closed.
        """
        return LeanOutput(self)

    def _fill(self) -> None:
        """Hold the producer back: the edge has reached its capacity under ``block``."""
        producer = self.producer
        producer.hold()
        if not self._blocked_since:
            self._blocked_since = time.perf_counter_ns()
            self.blocked_spells += 1
            bus = self._ctx.bus
            if BackpressureBegan in bus.wanted:
                bus.publish(
                    BackpressureBegan(
                        execution_id=self._ctx.execution_id,
                        edge_id=self.id,
                        producer_id=producer.id,
                    )
                )

    def _overflow(self, item: Any) -> None:
        policy = self.overflow
        bus = self._ctx.bus
        if policy == "drop":
            self.refused += 1
            if MessageDropped in bus.wanted:
                bus.publish(self._dropped(1, "drop"))
        elif policy == "latest":
            buf = self._buf
            buf.append(item)
            self._head += 1
            self._limit += 1
            self.evicted += 1
            if self.probe_seq:
                self.probe_seq -= 1  # the queue moved up by one without a take
            if self.barrier_at > self.dequeued:
                self.barrier_at -= 1  # (the evicted one was before it)
            self._compact()
            if MessageDropped in bus.wanted:
                bus.publish(self._dropped(1, "latest"))
        elif isinstance(policy, Coalesce):
            buf = self._buf
            if self.barrier_at >= 0 and self.barrier_at >= self.dequeued + len(buf) - self._head:
                buf.append(item)  # the tail is before a barrier, the new one after: no merge
                self.target_ready()
                return
            tail, new = as_message(buf[-1]), as_message(item)
            merged = policy.merge(tail.payload, new.payload)
            buf[-1] = merged if new.headers is EMPTY_HEADERS else Message(merged, new.headers)
            self.coalesced += 1
            if MessageCoalesced in bus.wanted:
                bus.publish(MessageCoalesced(execution_id=self._ctx.execution_id, edge_id=self.id))
        else:
            self.failed += 1
            if MessageRejected in bus.wanted:
                bus.publish(MessageRejected(execution_id=self._ctx.execution_id, edge_id=self.id))
            raise EdgeFull(self.id, self.capacity)

    def _dropped(
        self, count: int, reason: Literal["drop", "latest", "discarded"]
    ) -> MessageDropped:
        return MessageDropped(
            execution_id=self._ctx.execution_id, edge_id=self.id, count=count, reason=reason
        )

    # -- the consumer -------------------------------------------------------------------------

    def take(self, n: int) -> list[Any]:
        """Remove and return up to ``n`` queued items, oldest first (a new list).

        Never past a checkpoint's barrier: the items after it wait until it is cleared.
        """
        buf, head = self._buf, self._head
        depth = len(buf) - head
        if self.barrier_at >= 0:
            n = min(n, self.barrier_at - self.dequeued)
            if n <= 0:
                return []
        if depth <= 0:
            return []
        if depth > self._high_water:
            self._high_water = depth
        if n >= depth:
            # A copy, then emptied: the list stays the edge's (an emitter holds it).
            items = buf[head:]
            buf.clear()
            self._head = 0
            self._limit = self.capacity
            self.dequeued += depth
            self.headed = False
        else:
            end = head + n
            items = buf[head:end]
            self._head = end
            self._limit = end + self.capacity
            self.dequeued += n
            self._compact()
        if self._blocked_since or self.producer.blocked:
            self._eased()
        if self.tap is not None:
            self.tap(self, items)
        if self.recorder is not None:
            self.recorder.took(items)
        return items

    def take_one(self) -> Any:
        """Remove and return the oldest queued item (``IndexError`` if there is none)."""
        items = self.take(1)
        if not items:
            raise IndexError(f"edge {self.id} is empty")
        return items[0]

    def give_back(self, items: list[Any]) -> None:
        """Put back the unprocessed end of the last :meth:`take`, at the front, uncounted.

        Only the items of the most recent take, with no other take in between: a consumer
        whose turn ended early (an output filled, a call is to be retried) returns the rest.
        """
        count = len(items)
        if not count:
            return
        if self.recorder is not None:
            self.recorder.gave_back(count)
        if self._head >= count:  # still in the buffer, just before the head
            self._head -= count
        else:  # the take emptied or compacted the buffer
            self._buf[self._head : self._head] = items
            if not self.headed and Message in map(type, items):
                self.headed = True
        self._limit = self._head + self.capacity
        self.dequeued -= count
        if self.is_block and len(self._buf) >= self._limit:
            self._fill()

    def landed_probe(self) -> tuple[float, float] | None:
        """Return the probe ``(stamped, origin)`` if its message was taken, clearing it."""
        if not self.probe_seq or self.dequeued < self.probe_seq:
            return None
        self.probe_seq = 0
        return self.probe_at, self.probe_origin

    def probe(self, now: float, origin: float) -> None:
        """Set the latency probe on the newest queued message, stamped ``now``, if none is set.

        A probe carrying a start at a source (``origin``) replaces one that carries none, so
        the chain from source to sink is not cut where it meets a probe set meanwhile.
        """
        if self.probe_seq and (origin < 0 or self.probe_origin >= 0):
            return
        depth = len(self._buf) - self._head
        if depth > 0:
            self.probe_seq = self.dequeued + depth
            self.probe_at, self.probe_origin = now, origin

    def _compact(self) -> None:
        head = self._head
        if head >= COMPACT_AT and head * 2 >= len(self._buf):
            del self._buf[:head]
            self._limit -= head
            self._head = 0

    def _eased(self) -> None:
        """Messages were taken: end a blocked spell and wake the producer if there is room."""
        if len(self._buf) - self._head >= self.capacity:
            return
        producer = self.producer
        if self._blocked_since:
            self._end_spell()
        if producer.blocked and not producer.still_blocked():
            rank = producer.wake_rank()
            if rank is not None:
                self.ready.add(producer, rank)

    def discard(self) -> int:
        """Drop every queued item (counted as dropped, reason ``discarded``); return how many."""
        count = len(self._buf) - self._head
        if count <= 0:
            return 0
        if count > self._high_water:
            self._high_water = count
        self._buf.clear()
        self._head = 0
        self._limit = self.capacity
        self.headed = False
        self.discarded += count
        self.probe_seq = 0
        if self.barrier_at >= 0:
            self.barrier_at = self.dequeued  # what was before it is gone
        if self._blocked_since:
            self._end_spell()
        bus = self._ctx.bus
        if MessageDropped in bus.wanted:
            bus.publish(self._dropped(count, "discarded"))
        return count

    # -- live tuning --------------------------------------------------------------------------

    def set_capacity(self, capacity: int) -> None:
        """Change the bound; messages queued past a smaller one meet the edge's policy.

        ``block`` and ``fail`` keep them (the producer stays held back until they drain; no
        message is lost to a resize); ``drop`` drops the newest of them, ``latest`` the
        oldest, both counted as dropped; a ``Coalesce`` merges them into the last one kept,
        counted as coalesced.
        """
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"edge {self.id}: capacity must be an int >= 1, got {capacity!r}")
        self.capacity = capacity
        self._limit = self._head + capacity
        excess = len(self._buf) - self._limit
        if excess > 0:
            self._shed(excess)

    def _shed(self, excess: int) -> None:
        """Apply the policy to ``excess`` messages queued past a bound that just shrank."""
        policy, buf = self.overflow, self._buf
        depth = len(buf) - self._head
        if depth > self._high_water:
            self._high_water = depth  # it held them, whatever the policy does now
        if policy == "drop":  # the newest are the ones past the bound
            del buf[len(buf) - excess :]
        elif policy == "latest":  # the oldest make way
            del buf[self._head : self._head + excess]
            if self.probe_seq:
                self.probe_seq = max(self.dequeued + 1, self.probe_seq - excess)
        elif isinstance(policy, Coalesce):  # as pushes past the bound would have been merged
            kept = len(buf) - excess - 1
            payload = as_message(buf[kept]).payload
            for item in buf[kept + 1 :]:
                payload = policy.merge(payload, as_message(item).payload)
            headers = as_message(buf[-1]).headers  # the newest's, as a merge keeps
            buf[kept] = payload if headers is EMPTY_HEADERS else Message(payload, headers)
            del buf[kept + 1 :]
            self.coalesced += excess
            self.shed_merged += excess  # accepted once: still counted as enqueued
            if self.probe_seq > self.dequeued + len(buf) - self._head:
                self.probe_seq = self.dequeued + len(buf) - self._head  # merged into the last
            if self.barrier_at > self.dequeued + len(buf) - self._head:
                self.barrier_at = self.dequeued + len(buf) - self._head
            return
        else:  # block, fail: kept; the producer is held back until they drain
            return
        if self.barrier_at >= 0:  # dropped before it, it moves up with what is left
            if policy == "latest":
                self.barrier_at = max(self.dequeued, self.barrier_at - excess)
            else:
                self.barrier_at = min(self.barrier_at, self.dequeued + len(buf) - self._head)
        self.evicted += excess
        self._limit = self._head + self.capacity
        if self.probe_seq > self.dequeued + len(buf) - self._head:
            self.probe_seq = 0  # its message was dropped
        bus = self._ctx.bus
        if MessageDropped in bus.wanted:
            reason: Literal["drop", "latest"] = "drop" if policy == "drop" else "latest"
            bus.publish(self._dropped(excess, reason))

    def set_priority(self, priority: int) -> None:
        """Change the priority that orders the consumer's work."""
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ValueError(f"edge {self.id}: priority must be an int, got {priority!r}")
        self.priority = priority
        self.rank = priority + (CONTROL_RANK if self.control else 0)

    def set_overflow(self, overflow: object) -> None:
        """Change the overflow policy."""
        self.overflow = check_overflow(overflow)
        self.is_block = self.overflow == "block"

    def retuned(self) -> None:
        """Settle backpressure after a capacity or policy change.

        A ``block`` edge that is now full blocks its producer (and starts timing it); otherwise
        any blocked spell ends (the wiring then wakes a producer that may run again).
        """
        if self.is_block and self.full:
            self._fill()
        elif self._blocked_since:
            self._end_spell()

    def _end_spell(self) -> None:
        """End a blocked spell: add it to the blocked time and announce it."""
        spell = time.perf_counter_ns() - self._blocked_since
        self.blocked_ns += spell
        self._blocked_since = 0
        bus = self._ctx.bus
        if BackpressureEnded in bus.wanted:
            bus.publish(
                BackpressureEnded(
                    execution_id=self._ctx.execution_id,
                    edge_id=self.id,
                    producer_id=self.producer.id,
                    blocked_seconds=spell / 1e9,
                )
            )

    # -- reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Return how many queued messages the consumer may take now (all, but a barrier's)."""
        if self.barrier_at >= 0:
            return min(self.barrier_at - self.dequeued, len(self._buf) - self._head)
        return len(self._buf) - self._head

    @property
    def depth(self) -> int:
        """How many messages are queued (a barrier's included)."""
        return len(self._buf) - self._head

    def set_barrier(self) -> None:
        """Put a checkpoint's barrier after the newest queued message."""
        self.barrier_at = self.dequeued + len(self._buf) - self._head

    @property
    def barrier_reached(self) -> bool:
        """Whether the consumer has taken everything before the barrier (or there is none)."""
        return self.barrier_at <= self.dequeued

    def put_watermark(self, value: float, idle: bool) -> None:
        """Put a watermark (or an idle mark) after the newest queued message.

        One that would stand where the last still waits replaces it: nothing came between;
        so does one that finds ``MAX_WATERMARKS`` waiting (the last then passes later, at
        this one's place), which bounds what an edge keeps. Messages evicted by an overflow
        policy do not move a watermark up. So a watermark may pass later than it could,
        never earlier.
        """
        at = self.dequeued + len(self._buf) - self._head
        marks = self.watermarks
        if marks is None:
            marks = self.watermarks = deque()
        elif marks and (marks[-1][0] == at or len(marks) >= MAX_WATERMARKS):
            marks.pop()
        marks.append((at, value, idle))

    def passed_watermarks(self, upto: int | None = None) -> list[tuple[float, bool]]:
        """Remove and return the watermarks passed: ``(value, idle)``, oldest first.

        Passed: everything before it was taken (``dequeued``), or handled, when ``upto`` says
        how far that is (a node with calls in flight has taken more than it has handled).
        """
        marks = self.watermarks
        reached = self.dequeued if upto is None else upto
        passed: list[tuple[float, bool]] = []
        while marks and marks[0][0] <= reached:
            _, value, idle = marks.popleft()
            passed.append((value, idle))
        return passed

    def target_ready(self) -> None:
        """Queue the consumer at this edge's rank, unless it is queued as high already."""
        target = self.target
        if target.ready_rank < self.rank:
            self.ready.add(target, self.rank)

    def peek(self) -> list[Any]:
        """Return a copy of the queued items, oldest first."""
        return self._buf[self._head :]

    @property
    def full(self) -> bool:
        """Whether the edge holds ``capacity`` messages or more."""
        return len(self._buf) >= self._limit

    @property
    def room(self) -> int:
        """How many more messages fit before the edge is full (negative if over)."""
        return self._limit - len(self._buf)

    def received(self) -> int:
        """Return how many messages the consumer has taken, fused hops included."""
        return self.dequeued + sum(chain.passed(index) for chain, index in self.overlays)

    def fold_overlay(self) -> None:
        """Keep the fused chains' counts for this hop as the edge's own (before unfusing)."""
        passed = sum(chain.passed(index) for chain, index in self.overlays)
        self.dequeued += passed
        if passed and not self._high_water:
            self._high_water = 1
        self.overlays.clear()

    def stats(self) -> EdgeStats:
        """Return the counters now, as a frozen snapshot (consistent from any thread)."""
        return self._ctx.gate.read(self._snapshot)

    def blocked_ns_at(self, now_ns: int) -> int:
        """Return the nanoseconds this edge has held its producer back, up to ``now_ns``.

        A spell under way counts up to ``now_ns`` (a ``time.perf_counter_ns()`` reading).
        """
        since = self._blocked_since
        return self.blocked_ns + (now_ns - since if since else 0)

    def _snapshot(self) -> EdgeStats:
        depth = len(self._buf) - self._head
        dequeued = self.received()
        high_water = max(self._high_water, depth)
        if self.overlays and dequeued > self.dequeued:
            high_water = max(high_water, 1)  # a fused hop hands each message on at once
        blocked = self.blocked_ns_at(time.perf_counter_ns())
        enqueued = dequeued + depth + self.evicted + self.discarded + self.shed_merged
        return EdgeStats(
            id=self.id,
            source=self.source.id,
            target=self.target.id,
            capacity=self.capacity,
            overflow=overflow_name(self.overflow),
            priority=self.priority,
            control=self.control,
            depth=depth,
            offered=enqueued + self.refused + self.coalesced - self.shed_merged + self.failed,
            enqueued=enqueued,
            dequeued=dequeued,
            dropped=self.refused + self.evicted + self.discarded,
            coalesced=self.coalesced,
            failed=self.failed,
            high_water=high_water,
            blocked_seconds=blocked / 1e9,
            closed=self.closed,
            kind=self.kind,
            fused=bool(self.overlays),
            blocked_spells=self.blocked_spells,
        )
