"""DurableQueue: a bounded queue in a store, installed into a graph as two nodes (SQS-like).

``DurableQueue.install(graph, "jobs", store=store, capacity=1000)`` puts the queue of
:mod:`arachne.durable.queue` between two parts of a graph. Its *ingress* (``in``) enqueues
each value into queue ``jobs`` of ``store``; its *egress* (``out``) leases what the queue
holds, ``batch`` at a time, and emits it. The items wait on disk in between, so either side
may crash, and another process that opens the same file may feed the queue or drain it.

- **Bounded.** ``capacity`` must be given, from 1 to :data:`MAX_QUEUE_CAPACITY`: an unbounded
  buffer is refused when the queue is installed, naming it and the fix. It bounds the items
  waiting in the queue, those no consumer has taken. While ``capacity`` wait, the ingress
  waits on the runtime's clock, trying again every ``poll`` seconds with the value in hand,
  so its input edge fills and holds the producer back. Nothing is dropped. Items leased are
  the consumer's, and not counted: a checkpointed egress holds what it delivered until the
  checkpoint after it commits, and were those counted, a full queue would wait for a
  checkpoint that waits, at the ingress, for room.
- **Acked once downstream has it.** In a run without checkpoints the egress acks what it
  emitted at once, when the edge after it has taken it. In a checkpointed run it acks when
  the checkpoint whose barrier followed the item commits, so every sink has taken it; the
  checkpoint names the items it covers, so a resumed egress removes those it had not yet
  acked, and an item a committed checkpoint covers never comes out again.
- **At least once.** A lease not acked within ``visibility`` seconds runs out, and the item
  comes out again with the same :data:`QUEUE_ID` header, a higher :data:`QUEUE_ATTEMPT` and
  the ``retried`` taint. The queue id is the boundary to deduplicate on (a dedupe keyed on
  it passes each item once). The ingress is at-least-once too: a resumed run enqueues again
  what it enqueued after its checkpoint, as new items.
- **Dead letters stay in the store.** An item delivered ``max_attempts`` times whose last
  lease runs out goes to the queue's dead letters, where ``arachne.durable.DurableQueue``
  lists them (``dead_letters``) and returns them (``redrive``); the health counts them.
  Nothing is dropped there either, so the primitive has no ``dead`` port to leave
  unconnected. What it refuses is an ``out`` that leads nowhere: its items would be leased,
  sent into nothing and acked.

The egress ends once the ingress's input has ended (or it has none) and the queue holds
nothing ready or leased; a queue that other processes keep feeding is read by the
``arachne.durable.queue-reader`` component instead.

Time: the queue's deadlines are on the wall clock read at each node's start and moved on by
the runtime's clock, so they agree with other processes sharing the file (and with the
queue components, which use the wall clock) while a ``FakeClock`` or a simulation drives
the leases. Under simulation the queue's time is the virtual time alone: a seed's run must
not depend on the real clock.

The ingress runs its transactions on the loop (``async``: it must wait on the runtime's
clock while the queue is full, which a worker thread cannot), the egress in a worker thread,
as the queue components do. Those components stay as they are (a file path each, the wall
clock, real waits in their threads), which is why these two nodes are their own.

Naming: the contract is ``arachne.primitives.DurableQueue``, the name it has in the
primitives' registry, its page, the manifest and the query plane, as every contract is named
after its primitive. The class it lowers to stays ``arachne.durable.DurableQueue``, the queue
in a store that any code opens directly; here it is imported as ``StoredQueue``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from arachne.durable.queue import MAX_VISIBILITY, QueueStats
from arachne.durable.queue import DurableQueue as StoredQueue
from arachne.durable.sealed_acks import SealedAcks
from arachne.model.errors import QueueFull
from arachne.model.message import Headers, Message
from arachne.model.node import Node
from arachne.model.port import Input, Output
from arachne.model.primitive_mark import inside
from arachne.model.subgraph import Subgraph
from arachne.model.validation import Issue
from arachne.primitives.contract import (
    REQUIRED,
    FailureRow,
    Fragment,
    Maturity,
    Policy,
    Primitive,
    PrimitiveError,
    part,
)
from arachne.runtime.simulation import current as current_simulation
from arachne.runtime.simulation import sometimes
from arachne.runtime.taints import RETRIED, TAINTS

if TYPE_CHECKING:
    from arachne.durable.queue import Leased
    from arachne.durable.store import Store
    from arachne.model.policies import Delivery
    from arachne.model.primitive_mark import WholeGraph

__all__ = [
    "MAX_QUEUE_CAPACITY",
    "QUEUE_ATTEMPT",
    "QUEUE_ID",
    "DurableQueue",
    "QueueEgress",
    "QueueIngress",
]

MAX_QUEUE_CAPACITY: Final = 10_000_000
"""The largest ``capacity`` a DurableQueue takes. Past it a queue is an unbounded buffer in
all but name: its producers would be held back only after hours of backlog and gigabytes on
disk."""

QUEUE_ID: Final = "queue_id"
"""The header carrying an item's id in its queue: the same on every delivery of the item."""

QUEUE_ATTEMPT: Final = "queue_attempt"
"""The header carrying which delivery of its item a message is (1 the first)."""

INGRESS = "ingress"
EGRESS = "egress"


@dataclass(frozen=True, slots=True)
class _Where:
    """Which queue the two nodes open, and how it is bounded."""

    store: Store
    queue: str
    capacity: int
    visibility: float
    max_attempts: int


def _opened(node: Node, where: _Where) -> StoredQueue:
    """Return the queue for ``node`` (running), on its time (see the module's text)."""
    now = node.now
    epoch = 0.0 if current_simulation() is not None else time.time() - now()
    return StoredQueue(
        where.store,
        where.queue,
        capacity=where.capacity,
        visibility=where.visibility,
        max_attempts=where.max_attempts,
        clock=lambda: epoch + now(),
    )


class QueueIngress(Node):
    """The node a DurableQueue's ``in`` becomes: each value enqueued, waiting while it is full."""

    mode = "async"
    delivery: Delivery = "at-least-once"
    inp = Input(None, name="in", description="Any JSON value")

    def __init__(self, where: _Where, poll: float) -> None:
        self.where, self.poll = where, poll
        self.queue: StoredQueue | None = None
        self.ended = False  # its input has ended: the egress may end once the queue is empty
        self.enqueued = self.waits = 0
        self.waiting = False

    def on_start(self) -> None:
        """Open the queue."""
        self.queue = _opened(self, self.where)

    async def on_message(self, port: str, msg: Message) -> None:
        """Enqueue the value; while ``capacity`` items wait, wait ``poll`` and try again."""
        while not self._enqueued(msg.payload):
            self.waits += 1
            sometimes(True, "a full durable queue held its producer back")
            self.waiting = True
            try:
                await self.sleep(self.poll)
            finally:
                self.waiting = False
        self.enqueued += 1

    def _enqueued(self, value: Any) -> bool:
        """Enqueue ``value`` if fewer than ``capacity`` items wait; whether it was.

        The store bounds the items ready or leased. Leased ones are the consumers' (a
        checkpointed egress holds what it delivered until the checkpoint after it commits),
        so only when that bound is reached are they counted, and allowed for.
        """
        queue = self.queue
        assert queue is not None  # noqa: S101  # opened at on_start
        queue.capacity = self.where.capacity
        try:
            queue.enqueue(value)
        except QueueFull:
            stats = queue.stats()
            if stats.ready >= self.where.capacity:
                return False
            queue.capacity = self.where.capacity + stats.leased
            try:
                queue.enqueue(value)
            except QueueFull:  # (another producer filled it in between)
                return False
        return True

    async def on_tick(self) -> None:
        """End at once: only an ingress no link feeds is ticked, and then the queue is only read."""
        self.finish()

    def on_finish(self) -> None:
        """Note that no more values come: the egress ends once the queue is empty."""
        self.ended = True

    def snapshot(self) -> dict[str, bool]:
        """Save whether its input had ended (a resumed run may start it finished)."""
        return {"ended": self.ended}

    def restore(self, state: Any) -> None:
        """Take back whether its input had ended."""
        self.ended = bool(state["ended"])


class QueueEgress(Node):
    """The node a DurableQueue's ``out`` becomes: items leased, emitted, then acked.

    It acks at once in a run without checkpoints, and when the checkpoint after the items
    commits in a checkpointed one (see the module's text).
    """

    mode = "thread"
    keep_alive = True
    delivery: Delivery = "at-least-once"
    out = Output(None, description="Each item's value, with its queue id and attempt")

    def __init__(self, where: _Where, ingress: QueueIngress, batch: int, poll: float) -> None:
        self.where, self.ingress, self.batch = where, ingress, batch
        self.cadence = poll
        self.queue: StoredQueue | None = None
        self.last: QueueStats | None = None  # the counts when it stopped
        self.delivered = self.redelivered = self.acked = self.late = 0
        self._acks = SealedAcks()  # acked once a checkpoint covers them, when checkpointed

    def on_start(self) -> None:
        """Open the queue; remove what the checkpoint resumed from covered (if resuming)."""
        self.queue = _opened(self, self.where)
        handled = self._acks.take_handled()
        if handled:
            self.acked += self.queue.remove(handled)

    def on_stop(self) -> None:
        """Keep the queue's counts for the health read after the run."""
        if self.queue is not None:
            self.last = self.queue.stats()

    def on_tick(self) -> None:
        """Lease a batch and emit it (ack at once unless checkpointed); end once all is done."""
        queue = self.queue
        assert queue is not None  # noqa: S101  # opened at on_start
        leased = queue.lease(self.batch)
        if not leased:
            if self.ingress.ended and not self._acks.open:
                stats = queue.stats()  # (a crashed run's leases count until they run out)
                if not stats.ready and not stats.leased:
                    self.finish()
            return
        for item in leased:
            self.emit("out", _delivered(item))
            if item.attempt > 1:
                self.redelivered += 1
                sometimes(True, "a durable queue delivered an item again after its lease ran out")
        self.delivered += len(leased)
        if self.context.checkpointed:
            self._acks.add((item.id, item.token) for item in leased)
        else:
            self._ack([item.token for item in leased])

    def snapshot(self) -> dict[str, list[int]]:
        """Seal what was emitted before this barrier, naming it: acked when the checkpoint is."""
        return self._acks.snapshot()

    def restore(self, state: Any) -> None:
        """Take the ids a checkpoint covered: they were handled, and are removed at start."""
        self._acks.restore(state, "queue egress")

    def on_checkpoint(self, checkpoint: int) -> None:
        """Ack what the checkpoint that just committed covers."""
        tokens = self._acks.committed()
        if tokens:
            self._ack(tokens)

    def stats(self) -> QueueStats | None:
        """Return the queue's counts: now while it runs, as they were at its stop after."""
        if self.queue is None or self._arachne_binding is None:
            return self.last
        return self.queue.stats()

    def _ack(self, tokens: list[str]) -> None:
        queue = self.queue
        if queue is None:
            return
        done = queue.ack_many(tokens)
        self.acked += done
        if done < len(tokens):
            self.late += len(tokens) - done
            self.context.logger.warning(
                "%d of %d acks came after their lease ran out (visibility %s s): those items "
                "are delivered again; give the queue a longer visibility",
                len(tokens) - done,
                len(tokens),
                queue.visibility,
            )


def _delivered(item: Leased) -> Message:
    """Return the message an item leaves as: its value, its id and attempt, tainted if again."""
    headers: dict[str, Any] = {QUEUE_ID: item.id, QUEUE_ATTEMPT: item.attempt}
    if item.attempt > 1:
        headers[TAINTS] = (RETRIED,)
    return Message(item.body, Headers(headers))


def _install(name: str, options: Mapping[str, Any]) -> Fragment:
    capacity = options["capacity"]
    if (
        isinstance(capacity, bool)
        or not isinstance(capacity, int)
        or not 1 <= capacity <= MAX_QUEUE_CAPACITY
    ):
        raise PrimitiveError(
            f"DurableQueue {name!r}: capacity {capacity!r}: the queue must be bounded, so a "
            "full one holds its producers back; give the most items it may hold, a whole "
            f"number from 1 to {MAX_QUEUE_CAPACITY:,}"
        )
    where = _Where(
        options["store"],
        options["queue"] or name,
        capacity,
        options["visibility"],
        options["max_attempts"],
    )
    # (in the nodes' specs, so checksums, manifest diffs and a resume see a changed option)
    config = {
        "queue": where.queue,
        "capacity": capacity,
        "visibility": where.visibility,
        "max_attempts": where.max_attempts,
        "poll": options["poll"],
    }
    unit = Subgraph(name)
    ingress = QueueIngress(where, options["poll"])
    unit.add_node(ingress, name=INGRESS, config=config)
    unit.add_node(
        QueueEgress(where, ingress, options["batch"], options["poll"]),
        name=EGRESS,
        config={**config, "batch": options["batch"]},
    )
    unit.expose_input("in", (INGRESS, "in"))
    unit.expose_output("out", (EGRESS, "out"))
    return Fragment(unit, checks=(_out_leads_somewhere,), health=_health)


def _out_leads_somewhere(graph: WholeGraph, path: str) -> list[Issue]:
    """Refuse a queue whose items would be leased, sent into nothing and acked."""
    if graph.leads_out(inside(path, EGRESS), "out"):
        return []
    return [
        Issue(
            "error",
            "primitive-wiring",
            f"DurableQueue {path!r}: its items leave by its 'out' port, which leads nowhere, "
            "so they would be taken from the queue and lost; connect its 'out' port to the "
            "node that takes them (or expose it)",
            path,
        )
    ]


def _health(nodes: Mapping[str, Node]) -> dict[str, Any]:
    ingress = part(nodes, INGRESS, QueueIngress)
    egress = part(nodes, EGRESS, QueueEgress)
    stats = egress.stats()
    health: dict[str, Any] = {
        "state": "full" if ingress.waiting else "healthy",
        "enqueued": ingress.enqueued,
        "held_back": ingress.waits,
        "delivered": egress.delivered,
        "redelivered": egress.redelivered,
        "acked": egress.acked,
        "late_acks": egress.late,
    }
    if stats is not None:
        health.update(
            depth=stats.ready, leased=stats.leased, dead=stats.dead, capacity=stats.capacity
        )
        if stats.dead and not ingress.waiting:
            health["state"] = "dead-letters"
    return health


def _checked(options: Mapping[str, Any]) -> Iterator[str]:
    if not callable(getattr(options["store"], "transaction", None)):
        yield (
            f"store {options['store']!r}: give a store that holds the queue (a SqliteStore; "
            "the run's own will do)"
        )
    queue = options["queue"]
    if queue is not None and (not isinstance(queue, str) or not queue):
        yield f"queue {queue!r}: give the queue's name in the store, or None for the part's name"
    visibility = options["visibility"]
    if not _seconds(visibility) or visibility > MAX_VISIBILITY:
        yield (
            f"visibility {visibility!r}: give the seconds a lease lasts before its item comes "
            f"back, above 0 and at most {MAX_VISIBILITY:.0f}"
        )
    for name, what in (("max_attempts", "deliveries of an item"), ("batch", "items leased")):
        value = options[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            yield f"{name} {value!r}: give the most {what} at a time, a whole number from 1"
    if not _seconds(options["poll"]):
        yield f"poll {options['poll']!r}: give the seconds between looks, a number above 0"


def _seconds(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > 0


SCENARIOS = "tests/primitives/test_durable_queue_sim.py"

DurableQueue = Primitive.define(
    name="DurableQueue",
    layer="durable",
    requires=("RuntimeClock", "BoundedEdges", "Checkpoints"),
    provides=("Append", "Subscribe", "Ack", "Bounded", "Durable", "Backpressure", "DeadLetters"),
    state=(
        "the items in the store: ready, leased (token, deadline, attempts) or dead",
        "the items emitted since the last checkpoint, acked when it commits (checkpointed: "
        "their ids)",
        "whether the ingress's input has ended (checkpointed)",
    ),
    policies=(
        Policy("store", REQUIRED, "the store holding the queue (a `SqliteStore`)"),
        Policy(
            "capacity",
            REQUIRED,
            f"the most items waiting at once (leased ones are the consumer's), 1 to "
            f"{MAX_QUEUE_CAPACITY:,}; a full queue holds its producers back",
        ),
        Policy("queue", None, "the queue's name in the store (`None`: the part's name)"),
        Policy(
            "visibility",
            30.0,
            "seconds a lease lasts before its item comes out again; outlast a checkpoint "
            "interval and the time the graph takes",
            convert=float,
        ),
        Policy(
            "max_attempts",
            5,
            "deliveries of an item before it goes to the dead letters (kept in the store)",
        ),
        Policy("batch", 100, "items leased at a time, at most one batch a `poll`"),
        Policy(
            "poll",
            0.01,
            "seconds between looks at an empty queue, and between tries at a full one",
            convert=float,
        ),
    ),
    failure_semantics=(
        FailureRow(
            "crash",
            "No acked item is lost, and none comes out again: an item is acked once downstream "
            "has it (when the checkpoint after it commits, in a checkpointed run), so across "
            "node crashes and a killed, resumed run every item enqueued comes out at least "
            "once (or is a dead letter, kept in the store); a resumed egress removes what its "
            "checkpoint covered, and the leases the killed run held come back as they run out.",
            f"{SCENARIOS}::test_no_acked_item_is_lost_across_crashes_and_a_killed_run",
        ),
        FailureRow(
            "duplicate",
            "At-least-once: a lease that runs out before its ack (a killed run's, a slow "
            "consumer's) delivers the item again, with the same `queue_id` header, a higher "
            "`queue_attempt` and the `retried` taint: the queue id is the boundary to "
            "deduplicate on. After `max_attempts` deliveries the item goes to the dead "
            "letters, kept in the store. A resumed ingress enqueues again, as new items, what "
            "it enqueued after its checkpoint.",
            f"{SCENARIOS}::test_no_acked_item_is_lost_across_crashes_and_a_killed_run",
        ),
        FailureRow(
            "overload",
            "A full queue holds the ingress back (it waits on the runtime's clock, its input "
            "edge fills, the producer waits): no more than `capacity` items ever wait in the "
            "queue, and none is dropped or reordered.",
            f"{SCENARIOS}::test_a_full_queue_holds_the_producer_back_and_drops_nothing",
        ),
    ),
    installer=_install,
    validation=(_checked,),
    maturity=Maturity.FAULT_TESTED,
    summary=(
        "A bounded queue in a store between two parts of a graph (SQS-like): what comes in "
        "is enqueued, waiting while the queue is full; what the queue holds is leased and "
        "sent on, acked once downstream has it, and sent again if its lease runs out. "
        "Ports: `in`, `out` (each value with its `queue_id` and `queue_attempt` headers)."
    ),
)
