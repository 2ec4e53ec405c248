"""Lease and FencedWrite: one writer at a time per key, and a resource that refuses the stale.

A :class:`Lessor` grants leases: for a key, to one holder at a time, until a deadline on the
lessor's clock (the runtime's). Every grant carries a *fencing token* that only grows, over
all keys, and is never given twice (Kleppmann's scheme; etcd's revision). A lease ends at its
deadline unless renewed, or when released.

Time alone never makes a lease safe: a holder's clock may run slow, or the holder may pause
(a long collection, a swapped-out process) between checking its lease and writing. So:

- **Lease** installs a *guard* on a writer's path. For each item it makes sure it holds the
  lease, acting only while more than ``margin`` seconds remain by its own clock; it renews or
  acquires as needed, waits (holding its input: backpressure) while another holder has it,
  and sends the item on stamped with its token, as a :class:`Fenced` record.
- **FencedWrite** is the resource's side: it keeps the highest token it has accepted per key
  and refuses any write with a lower one. A refused write leaves by ``rejected`` as an audit
  record, carrying the ``stale-owner`` taint; nothing stale reaches ``out``.

The Lease requires the capability FencedWrite provides, and its guard's output must reach a
FencedWrite: a lease-guarded write with no fenced resource behind it is refused before the
run. A Lessor with a store (``SqliteStore``) keeps its tokens there, committed at each grant,
so a restarted lessor never gives a token twice.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

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
    part,
)
from arachne.runtime.simulation import declare, fault, sometimes

if TYPE_CHECKING:
    from arachne.durable.store import Store
    from arachne.model.primitive_mark import WholeGraph

__all__ = [
    "STALE_OWNER",
    "FenceGate",
    "Fenced",
    "FencedWrite",
    "Grant",
    "Lease",
    "LeaseGuard",
    "Lessor",
]

STALE_OWNER = "stale-owner"
"""The taint on a write a FencedWrite refused: its writer's lease had been superseded."""

PAUSE = declare(
    "lease.pause",
    "a lease holder pauses between checking its lease and writing (a long collection)",
)

GUARD = "guard"
FENCE = "fence"
AUDIT = 100
"""Refused writes a FencedWrite remembers for its health (the newest)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """A lease: ``key`` held by ``holder`` until ``deadline`` (lessor's clock), with its token."""

    key: str
    holder: str
    token: int
    deadline: float

    def remaining(self, now: float) -> float:
        """Return the seconds left at ``now``."""
        return self.deadline - now

    def valid(self, now: float, margin: float) -> bool:
        """Whether a holder may act at ``now``: more than ``margin`` seconds remain."""
        return self.deadline - now > margin


@dataclass(frozen=True, slots=True)
class Fenced:
    """A write stamped with the lease it was made under: what a FencedWrite takes."""

    key: str
    token: int
    holder: str
    value: Any


class Lessor:
    """Grants leases (see the module's text); safe from any thread.

    ``ttl`` is how long a grant lasts, in seconds of the lessor's clock, which each call is
    given (``now``). With ``store``, the tokens given are committed there (``name`` tells
    this lessor's apart), and a lessor opened again on it goes on after the last.
    """

    def __init__(self, ttl: float, *, store: Store | None = None, name: str = "lessor") -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise ValueError(f"ttl {ttl!r}: give the seconds a lease lasts, a number above 0")
        if not math.isfinite(ttl):
            raise ValueError(f"ttl {ttl!r}: give a finite number of seconds")
        self.ttl = float(ttl)
        self.name = name
        self._store = store
        self._lock = threading.Lock()
        self._leases: dict[str, Grant] = {}
        self._revision = self._stored_revision()
        self.granted = self.renewed = self.refused = self.released = 0

    def acquire(self, key: str, holder: str, now: float) -> Grant | None:
        """Grant ``key`` to ``holder`` if nobody holds it at ``now`` (a new token); else None.

        A holder that still holds it gets it renewed instead (the same token).
        """
        with self._lock:
            current = self._leases.get(key)
            if current is not None and current.deadline > now:
                if current.holder != holder:
                    self.refused += 1
                    return None
                return self._renew(current, now)
            self._revision = self._next_revision()
            grant = Grant(key, holder, self._revision, now + self.ttl)
            self._leases[key] = grant
            self.granted += 1
            return grant

    def renew(self, grant: Grant, now: float) -> Grant | None:
        """Extend ``grant`` from ``now`` if it is still the key's lease and not expired."""
        with self._lock:
            current = self._leases.get(grant.key)
            if current is None or current.token != grant.token or current.deadline <= now:
                self.refused += 1
                return None
            return self._renew(current, now)

    def release(self, grant: Grant) -> bool:
        """End ``grant`` now, if it is still the key's lease; return whether it was."""
        with self._lock:
            current = self._leases.get(grant.key)
            if current is None or current.token != grant.token:
                return False
            del self._leases[grant.key]
            self.released += 1
            return True

    def holder(self, key: str, now: float) -> Grant | None:
        """Return the lease on ``key`` at ``now``, if one is held."""
        with self._lock:
            current = self._leases.get(key)
            return current if current is not None and current.deadline > now else None

    @property
    def revision(self) -> int:
        """The last token given."""
        return self._revision

    def _renew(self, current: Grant, now: float) -> Grant:
        renewed = Grant(current.key, current.holder, current.token, now + self.ttl)
        self._leases[current.key] = renewed
        self.renewed += 1
        return renewed

    def _stored_revision(self) -> int:
        if self._store is None:
            return 0
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT revision FROM lease_revisions WHERE lessor = ?", (self.name,)
            ).fetchone()
        return int(row[0]) if row else 0

    def _next_revision(self) -> int:
        """Return the next token: committed to the store first, if there is one."""
        revision = self._revision + 1
        if self._store is not None:
            with self._store.transaction() as db:
                db.execute(
                    "INSERT INTO lease_revisions (lessor, revision) VALUES (?, ?) "
                    "ON CONFLICT (lessor) DO UPDATE SET revision = excluded.revision",
                    (self.name, revision),
                )
        return revision


class LeaseGuard(Node):
    """The node a Lease becomes: each item sent on under the lease, stamped (module's text)."""

    mode = "async"
    inp = Input(None, name="in")
    out = Output(Fenced)

    def __init__(
        self,
        lessor: Lessor,
        key: str,
        holder: str,
        margin: float,
        clock: Callable[[float], float] | None = None,
        pause: float = 0.0,
    ) -> None:
        self.lessor, self.key, self.holder, self.margin = lessor, key, holder, margin
        self.clock = clock  # (the holder's view of the runtime's time: skewed, in a test)
        self.pause = pause  # (how long the lease.pause fault point holds it up)
        self.grant: Grant | None = None
        self.sent = self.waits = 0
        self.waiting = False

    async def on_message(self, port: str, msg: Message) -> None:
        """Hold the lease (acquire, renew or wait for it), then send the item stamped."""
        grant = await self._held()
        if self.pause and fault(PAUSE):  # (it checked its lease; now it stalls, as in a GC)
            await self.sleep(self.pause)
        self.sent += 1
        self.emit("out", Fenced(self.key, grant.token, self.holder, msg.payload))

    async def _held(self) -> Grant:
        """Return a grant this holder may act under now, by its own clock; wait for one."""
        while True:
            now = self.now()
            local = self.clock(now) if self.clock is not None else now
            grant = self.grant
            if grant is not None and grant.valid(local, self.margin):
                return grant
            grant = (
                self.lessor.renew(grant, now) if grant is not None else None
            ) or self.lessor.acquire(self.key, self.holder, now)
            self.grant = grant
            if grant is not None and grant.valid(local, self.margin):
                return grant
            # Another holds it, or this holder's clock runs so far ahead that even a fresh
            # lease looks too short: wait (its input waits meanwhile, as a full edge would).
            current = self.lessor.holder(self.key, now)
            wait = self.lessor.ttl / 4
            if current is not None and current.holder != self.holder:
                wait = current.remaining(now)
            self.waits += 1
            self.waiting = True
            try:  # (at least a microsecond: a deadline a rounding away would never come)
                await self.sleep(max(wait, 1e-6))
            finally:
                self.waiting = False

    def on_stop(self) -> None:
        """Let the lease go, so another holder need not wait for its deadline."""
        if self.grant is not None:
            self.lessor.release(self.grant)
            self.grant = None


class FenceGate(Node):
    """The node a FencedWrite becomes: the highest token per key; older writes refused."""

    inp = Input(Fenced, name="in")
    out = Output(Fenced)
    rejected = Output(dict)
    stateful: ClassVar[bool | None] = True

    def __init__(self) -> None:
        self.highest: dict[str, int] = {}
        self.accepted = self.refused = 0
        self.audit: deque[dict[str, Any]] = deque(maxlen=AUDIT)

    def on_message(self, port: str, msg: Message) -> None:
        """Accept a write whose token is the highest seen for its key; refuse an older one."""
        write = msg.payload
        if not isinstance(write, Fenced):
            raise TypeError(
                f"a FencedWrite takes Fenced records (from a Lease's guard), got "
                f"{type(write).__name__}; send the write through a Lease"
            )
        highest = self.highest.get(write.key, 0)
        if write.token >= highest:
            self.highest[write.key] = write.token
            self.accepted += 1
            self.emit("out", write)
            return
        self.refused += 1
        record = {
            "key": write.key,
            "token": write.token,
            "holder": write.holder,
            "highest": highest,
            "at": self.now(),
        }
        self.audit.append(record)
        sometimes(True, "a stale write reached a fenced resource and was refused")
        self.emit("rejected", Message(record, Headers({"taints": (STALE_OWNER,)})))

    def snapshot(self) -> dict[str, Any]:
        """Save the highest token per key (a resumed resource refuses the same writes)."""
        return {"highest": dict(self.highest)}

    def restore(self, state: Any) -> None:
        """Take the saved highest tokens back."""
        self.highest = {str(key): int(token) for key, token in state["highest"].items()}


def _install_lease(name: str, options: Mapping[str, Any]) -> Fragment:
    unit = Subgraph(name)
    unit.add_node(
        LeaseGuard(
            options["lessor"],
            options["key"],
            options["holder"],
            float(options["margin"]),
            options["clock"],
            float(options["pause"]),
        ),
        name=GUARD,
        config={"key": options["key"], "holder": options["holder"], "margin": options["margin"]},
    )
    unit.expose_input("in", (GUARD, "in"))
    unit.expose_output("out", (GUARD, "out"))
    return Fragment(unit, checks=(_writes_reach_a_fence,), health=_guard_health)


def _install_fence(name: str, options: Mapping[str, Any]) -> Fragment:
    unit = Subgraph(name)
    unit.add_node(FenceGate(), name=FENCE)
    unit.expose_input("in", (FENCE, "in"))
    unit.expose_output("out", (FENCE, "out"))
    unit.expose_output("rejected", (FENCE, "rejected"))
    return Fragment(unit, checks=(_refusals_lead_somewhere,), health=_fence_health)


FENCE_KIND = f"{FenceGate.__module__}:{FenceGate.__qualname__}"


def _writes_reach_a_fence(graph: WholeGraph, path: str) -> list[Issue]:
    """Refuse a guard whose writes reach no FencedWrite (a lease-guarded write unfenced)."""
    start = inside(path, GUARD)
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        for link in graph.links.values():
            target = link.target.node
            if link.source.node == node and target not in seen:
                if graph.nodes[target].kind == FENCE_KIND:
                    return []
                seen.add(target)
                todo.append(target)
    if any(ref.node in seen for ref in graph.exposed):
        return []  # (it leads out: the enclosing graph's check decides)
    return [
        Issue(
            "error",
            "primitive-wiring",
            f"Lease {path!r}: its writes reach no FencedWrite, so a holder whose lease ran out "
            "could still write; connect its 'out' to a FencedWrite's 'in' (directly or "
            "through other nodes)",
            path,
        )
    ]


def _refusals_lead_somewhere(graph: WholeGraph, path: str) -> list[Issue]:
    """Refuse a fence whose refused writes would go nowhere (they are its audit trail)."""
    if graph.leads_out(inside(path, FENCE), "rejected"):
        return []
    return [
        Issue(
            "error",
            "primitive-wiring",
            f"FencedWrite {path!r}: refused writes leave by its 'rejected' port, which leads "
            "nowhere; connect it to a sink or dead-letter node (its audit trail)",
            path,
        )
    ]


def _guard_health(nodes: Mapping[str, Node]) -> dict[str, Any]:
    guard = part(nodes, GUARD, LeaseGuard)
    grant = guard.grant
    return {
        "state": "waiting" if guard.waiting else "holding" if grant is not None else "idle",
        "holder": guard.holder,
        "token": grant.token if grant is not None else None,
        "sent": guard.sent,
        "waits": guard.waits,
    }


def _fence_health(nodes: Mapping[str, Node]) -> dict[str, Any]:
    fence = part(nodes, FENCE, FenceGate)
    return {
        "state": "healthy",
        "accepted": fence.accepted,
        "rejected": fence.refused,
        "highest": dict(fence.highest),
        "recent_rejections": list(fence.audit)[-5:],
    }


def _checked_lease(options: Mapping[str, Any]) -> Iterator[str]:
    if not isinstance(options["lessor"], Lessor):
        yield f"lessor {options['lessor']!r}: give a Lessor (one shared by every holder)"
    for name in ("key", "holder"):
        if not isinstance(options[name], str) or not options[name]:
            yield f"{name} {options[name]!r}: give a non-empty name"
    margin = options["margin"]
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not margin >= 0:
        yield f"margin {margin!r}: give seconds, 0 or more"
    elif isinstance(options["lessor"], Lessor) and margin >= options["lessor"].ttl:
        yield (
            f"margin {margin!r}: it must be below the lessor's ttl ({options['lessor'].ttl}), "
            "or no lease is ever long enough to act under"
        )
    if options["clock"] is not None and not callable(options["clock"]):
        yield "clock: give a function of the runtime's time, or None"


SCENARIOS = "tests/primitives/test_lease_sim.py"

FencedWrite = Primitive.define(
    name="FencedWrite",
    layer="distributed",
    requires=("BoundedEdges",),
    provides=("FencedResource",),
    state=("the highest fencing token accepted per key (checkpointed)",),
    policies=(),
    failure_semantics=(
        FailureRow(
            "stale_owner",
            "A write stamped with a lower token than one already accepted for its key is "
            "refused: it leaves by `rejected` as an audit record with the `stale-owner` taint, "
            "and nothing stale reaches `out`.",
            f"{SCENARIOS}::test_no_stale_write_is_accepted_under_skew_pauses_and_crashes",
        ),
    ),
    installer=_install_fence,
    maturity=Maturity.FAULT_TESTED,
    summary=(
        "The resource's side of a lease: keeps the highest fencing token accepted per key "
        "and refuses older writes. Ports: `in` (Fenced writes from Lease guards), `out` "
        "(accepted), `rejected` (audit records, tainted `stale-owner`)."
    ),
)

Lease = Primitive.define(
    name="Lease",
    layer="distributed",
    requires=("RuntimeClock", "FencedResource"),
    provides=("LeaseGuarded",),
    state=("the grant it holds now (its token and deadline)",),
    policies=(
        Policy("lessor", REQUIRED, "the Lessor that grants the lease (shared by every holder)"),
        Policy("key", REQUIRED, "what the lease is for: one holder at a time per key"),
        Policy("holder", REQUIRED, "who holds it, by name"),
        Policy("margin", 0.0, "seconds of lease that must remain, by its own clock, to act"),
        Policy("clock", None, "the holder's view of the runtime's time (tests: a skewed one)"),
        Policy("pause", 0.0, "seconds the `lease.pause` fault point stalls it, under simulation"),
    ),
    failure_semantics=(
        FailureRow(
            "clock_skew",
            "A holder whose clock runs slow may write after its lease ran out; the write "
            "carries its old token, and the fenced resource refuses it once a newer holder "
            "wrote.",
            f"{SCENARIOS}::test_no_stale_write_is_accepted_under_skew_pauses_and_crashes",
        ),
        FailureRow(
            "timeout",
            "A holder paused past its deadline (between checking its lease and writing) loses "
            "the lease to another; its late write is refused the same way.",
            f"{SCENARIOS}::test_no_stale_write_is_accepted_under_skew_pauses_and_crashes",
        ),
        FailureRow(
            "crash",
            "A guard that crashes before a write retries it under the lease it holds (or a new "
            "one); a lessor with a store never gives a token twice, even once restarted.",
            f"{SCENARIOS}::test_no_stale_write_is_accepted_under_skew_pauses_and_crashes",
        ),
    ),
    installer=_install_lease,
    validation=(_checked_lease,),
    maturity=Maturity.FAULT_TESTED,
    summary=(
        "One writer at a time per key: a guard on a writer's path holds a lease from a "
        "shared Lessor (acquire, renew, wait), acts only while more than `margin` remains, "
        "and stamps each write with its fencing token for a FencedWrite. Ports: `in`, `out` "
        "(Fenced writes)."
    ),
)
