"""LeaderElection: one leader per key at a time, each term published with an epoch that grows.

A lease plus a published epoch. Each *candidate* contends for the lease on ``key`` from a
shared :class:`~arachne.primitives.lease.Lessor`: on its heartbeat (a tick on the runtime's
clock) it renews the lease it holds, or acquires it once nobody holds it. The holder leads
while its lease holds by its own clock, with more than ``margin`` seconds to spare. Each time
leadership changes hands the new leader publishes its *epoch*, the lease's fencing token
(it only grows, and no two grants share one), as an :class:`Elected` record on its ``leader``
port. A leader publishes :class:`Deposed` when it learns it lost the lease (a renewal refused:
the lease ran out, or another holds it now) and when it steps down at the end of its input.

Believing is not leading: a leader whose clock runs slow, or that paused, may still act
after its lease ran out, while a newer leader already does. So a candidate also stamps its
work: what comes on ``in`` leaves ``out``, while it leads, as a :class:`Fenced` write carrying
its epoch, for a FencedWrite, which refuses a deposed leader's late writes by that epoch. A
candidate that does not lead holds the item (its input waits: backpressure) until it is
elected. As a Lease does, a LeaderElection requires the FencedResource capability, and a
candidate whose writes reach no FencedWrite is refused before the run.

One primitive per candidate, not one holding them all: candidates run in different places
(partitions, processes), each installed where it runs, sharing only the Lessor, as a Lease's
holders do. A candidate fed on ``in`` steps down (releases the lease) when its input ends;
one with nothing linked into ``in`` contends until the run stops. The lease lives in the
Lessor, so a candidate checkpoints nothing; one restarted under the same name while its lease
still holds takes that lease back with the same epoch (it is the same leader).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
from arachne.primitives.lease import FENCE_KIND, PAUSE, Fenced, Grant, Lessor
from arachne.runtime.simulation import fault

if TYPE_CHECKING:
    from arachne.model.message import Message
    from arachne.model.primitive_mark import WholeGraph

__all__ = ["Candidate", "Deposed", "Elected", "LeaderElection"]

CANDIDATE = "candidate"
"""The id of the election's one node inside it."""

EXPIRED = "expired"
SUPERSEDED = "superseded"
STEPPED_DOWN = "stepped-down"


@dataclass(frozen=True, slots=True)
class Elected:
    """``holder`` leads on ``key`` from ``at`` (the runtime's clock) with epoch ``epoch``."""

    key: str
    holder: str
    epoch: int
    at: float


@dataclass(frozen=True, slots=True)
class Deposed:
    """``holder`` no longer leads on ``key`` under ``epoch``: learnt at ``at``, and why.

    ``reason`` is ``"expired"`` (its lease ran out before it renewed), ``"superseded"``
    (another candidate holds the lease now) or ``"stepped-down"`` (it released the lease).
    A leader learns the first two at its next renewal, so ``at`` may come after its
    successor's :class:`Elected`.
    """

    key: str
    holder: str
    epoch: int
    at: float
    reason: str


class Candidate(Node):
    """The node a LeaderElection becomes: contends, publishes its terms, stamps its work."""

    mode = "async"
    keep_alive = True  # (with nothing linked into 'in', it contends until the run stops)
    inp = Input(None, name="in")
    out = Output(Fenced)
    leader = Output(Elected | Deposed)

    def __init__(
        self,
        lessor: Lessor,
        key: str,
        candidate: str,
        margin: float,
        heartbeat: float,
        clock: Callable[[float], float] | None = None,
        pause: float = 0.0,
    ) -> None:
        self.lessor, self.key, self.candidate, self.margin = lessor, key, candidate, margin
        self.cadence = heartbeat
        self.clock = clock  # (the candidate's view of the runtime's time: skewed, in a test)
        self.pause = pause  # (how long the lease.pause fault point holds it up)
        self.grant: Grant | None = None  # the lease it believes it holds: its term
        self.expires = -math.inf  # when that lease ends, by its own clock
        self.elected = self.deposed = self.sent = self.waits = 0
        self.waiting = False

    async def on_tick(self) -> None:
        """Renew the lease, or acquire it once free; publish a change of leader."""
        self._beat()

    async def on_message(self, port: str, msg: Message) -> None:
        """Send the item on stamped with this leader's epoch; wait to be elected first."""
        epoch = await self._leading()
        if self.pause and fault(PAUSE):  # (it checked its term; now it stalls, as in a GC)
            await self.sleep(self.pause)
        self.sent += 1
        self.emit("out", Fenced(self.key, epoch, self.candidate, msg.payload))

    def on_finish(self) -> None:
        """Step down at the end of its input: let the lease go, and say so."""
        grant = self.grant
        if grant is not None:
            now = self.now()
            reason = STEPPED_DOWN if self.lessor.release(grant) else self._why(grant, now)
            self._depose(grant, now, reason)

    def on_stop(self) -> None:
        """Let the lease go, so another candidate need not wait for it to run out."""
        if self.grant is not None:
            self.lessor.release(self.grant)
            self.grant = None

    async def _leading(self) -> int:
        """Return this leader's epoch once it may act, by its own clock; wait until then."""
        while True:
            now = self.now()
            if self.grant is not None and self.expires - self._local(now) > self.margin:
                return self.grant.token  # (its own clock says the term holds: no round trip)
            grant = self._beat()
            if grant is not None:
                return grant.token
            # Another leads: try again at its deadline or the next heartbeat, whichever is
            # first (its input waits meanwhile, as behind a full edge).
            wait = self.cadence or self.lessor.ttl
            current = self.lessor.holder(self.key, now)
            if current is not None:
                wait = min(wait, current.remaining(now))
            self.waits += 1
            self.waiting = True
            try:  # (at least a microsecond: a deadline a rounding away would never come)
                await self.sleep(max(wait, 1e-6))
            finally:
                self.waiting = False

    def _beat(self) -> Grant | None:
        """Renew the lease or acquire it now; publish a change; return the term it leads in."""
        now = self.now()
        held = self.grant
        grant = self.lessor.renew(held, now) if held is not None else None
        if held is not None and grant is None:
            self._depose(held, now, self._why(held, now))
        if grant is None:
            grant = self.lessor.acquire(self.key, self.candidate, now)
        if grant is None:
            return None
        self.expires = self._local(now) + grant.remaining(now)
        self.grant = grant
        if held is None or held.token != grant.token:
            self.elected += 1
            self.emit("leader", Elected(self.key, self.candidate, grant.token, now))
        return grant

    def _depose(self, grant: Grant, now: float, reason: str) -> None:
        self.grant = None
        self.expires = -math.inf
        self.deposed += 1
        self.emit("leader", Deposed(self.key, self.candidate, grant.token, now, reason))

    def _why(self, grant: Grant, now: float) -> str:
        """Return why ``grant`` is no longer the key's lease: another holds it, or it ran out."""
        current = self.lessor.holder(self.key, now)
        return SUPERSEDED if current is not None and current.token != grant.token else EXPIRED

    def _local(self, now: float) -> float:
        return self.clock(now) if self.clock is not None else now


def _install(name: str, options: Mapping[str, Any]) -> Fragment:
    lessor: Lessor = options["lessor"]
    heartbeat = options["heartbeat"]
    if heartbeat is None:
        heartbeat = (lessor.ttl - options["margin"]) / 3
    unit = Subgraph(name)
    unit.add_node(
        Candidate(
            lessor,
            options["key"],
            options["candidate"],
            options["margin"],
            float(heartbeat),
            options["clock"],
            float(options["pause"]),
        ),
        name=CANDIDATE,
        config={
            "key": options["key"],
            "candidate": options["candidate"],
            "margin": options["margin"],
            "heartbeat": heartbeat,
        },
    )
    unit.expose_input("in", (CANDIDATE, "in"))
    unit.expose_output("out", (CANDIDATE, "out"))
    unit.expose_output("leader", (CANDIDATE, "leader"))
    return Fragment(unit, checks=(_writes_reach_a_fence,), health=_health)


def _writes_reach_a_fence(graph: WholeGraph, path: str) -> list[Issue]:
    """Refuse a candidate whose writes reach no FencedWrite (a leader's acts unfenced)."""
    start = inside(path, CANDIDATE)
    fed = any(link.target.node == start for link in graph.links.values())
    if not fed and not graph.leads_out(start, "out"):
        return []  # (it only takes part in the election: it writes nothing)
    if any(ref.node == start and ref.port == "out" for ref in graph.exposed):
        return []  # (it leads out: the enclosing graph's check decides)
    seen: set[str] = set()
    todo = [
        link.target.node
        for link in graph.links.values()
        if link.source.node == start and link.source.port == "out"
    ]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        if graph.nodes[node].kind == FENCE_KIND:
            return []
        seen.add(node)
        todo += [link.target.node for link in graph.links.values() if link.source.node == node]
    if any(ref.node in seen for ref in graph.exposed):
        return []
    return [
        Issue(
            "error",
            "primitive-wiring",
            f"LeaderElection {path!r}: its writes reach no FencedWrite, so a deposed leader "
            "could still write under its old epoch; connect its 'out' to a FencedWrite's 'in' "
            "(directly or through other nodes)",
            path,
        )
    ]


def _health(nodes: Mapping[str, Node]) -> dict[str, Any]:
    candidate = part(nodes, CANDIDATE, Candidate)
    grant = candidate.grant
    state = "leading" if grant is not None else "waiting" if candidate.waiting else "following"
    return {
        "state": state,
        "candidate": candidate.candidate,
        "epoch": grant.token if grant is not None else None,
        "elected": candidate.elected,
        "deposed": candidate.deposed,
        "sent": candidate.sent,
        "waits": candidate.waits,
    }


def _seconds(value: object) -> bool:
    """Whether ``value`` is a finite number of seconds, 0 or more."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value >= 0
    )


def _checked(options: Mapping[str, Any]) -> Iterator[str]:
    lessor = options["lessor"]
    if not isinstance(lessor, Lessor):
        yield f"lessor {lessor!r}: give a Lessor (one shared by every candidate)"
        lessor = None
    for name in ("key", "candidate"):
        if not isinstance(options[name], str) or not options[name]:
            yield f"{name} {options[name]!r}: give a non-empty name"
    margin, heartbeat = options["margin"], options["heartbeat"]
    if not _seconds(margin):
        yield f"margin {margin!r}: give seconds, 0 or more"
        margin = None
    elif lessor is not None and margin >= lessor.ttl:
        yield (
            f"margin {margin!r}: it must be below the lessor's ttl ({lessor.ttl}), or no lease "
            "is ever long enough to lead under"
        )
        margin = None
    if heartbeat is not None:
        if not _seconds(heartbeat) or heartbeat == 0:
            yield f"heartbeat {heartbeat!r}: give seconds between renewals, above 0 (or None)"
        elif lessor is not None and margin is not None and heartbeat >= lessor.ttl - margin:
            yield (
                f"heartbeat {heartbeat!r}: it must be below the lessor's ttl less the margin "
                f"({lessor.ttl - margin:g}), or a leader's lease runs out between two renewals"
            )
    if options["clock"] is not None and not callable(options["clock"]):
        yield "clock: give a function of the runtime's time, or None"
    if not _seconds(options["pause"]):
        yield f"pause {options['pause']!r}: give seconds, 0 or more"


SCENARIOS = "tests/primitives/test_leader_election_sim.py"

LeaderElection = Primitive.define(
    name="LeaderElection",
    layer="distributed",
    requires=("RuntimeClock", "FencedResource"),
    provides=("LeaderEpoch",),
    state=("the lease it holds now, whose token is its epoch (kept by the Lessor)",),
    policies=(
        Policy("lessor", REQUIRED, "the Lessor that grants the lease (shared by every candidate)"),
        Policy("key", REQUIRED, "what is led: one leader at a time per key"),
        Policy("candidate", REQUIRED, "who stands, by name"),
        Policy(
            "margin",
            0.0,
            "seconds of lease that must remain, by its own clock, to act as leader",
            convert=float,
        ),
        Policy(
            "heartbeat",
            None,
            "seconds between renewals (None: a third of the ttl less the margin)",
        ),
        Policy("clock", None, "the candidate's view of the runtime's time (tests: a skewed one)"),
        Policy("pause", 0.0, "seconds the `lease.pause` fault point stalls it, under simulation"),
    ),
    failure_semantics=(
        FailureRow(
            "clock_skew",
            "A leader whose clock runs slow believes its term holds after its lease ran out "
            "(it was down, or paused), and may write while a newer leader already does: never "
            "under the same epoch, and the fenced resource refuses its late writes.",
            f"{SCENARIOS}::test_a_crashed_leader_is_replaced_and_its_late_writes_are_fenced",
        ),
        FailureRow(
            "stale_owner",
            "A deposed leader learns it at its next renewal and publishes `Deposed`; until "
            "then its writes carry its old epoch and a FencedWrite refuses them (`stale-owner` "
            "taint). Published epochs strictly increase; no two candidates publish one epoch.",
            f"{SCENARIOS}::test_a_paused_leader_is_superseded_and_its_late_write_is_refused",
        ),
        FailureRow(
            "timeout",
            "A leader paused between checking its term and writing (the `lease.pause` fault "
            "point) misses its renewals: its lease runs out, another is elected with a higher "
            "epoch, and the paused write is refused.",
            f"{SCENARIOS}::test_a_paused_leader_is_superseded_and_its_late_write_is_refused",
        ),
        FailureRow(
            "crash",
            "A crashed candidate stops renewing: its lease runs out (nothing need release it) "
            "and another candidate is elected with a higher epoch; back, the crashed one "
            "publishes `Deposed` and waits for a new term. No epoch goes back.",
            f"{SCENARIOS}::test_a_crashed_leader_is_replaced_and_its_late_writes_are_fenced",
        ),
    ),
    installer=_install,
    validation=(_checked,),
    maturity=Maturity.FAULT_TESTED,
    summary=(
        "One leader per key at a time: a candidate contends for a lease from a shared Lessor "
        "(renewed on its heartbeat), leads while more than `margin` remains by its own clock, "
        "and publishes each term's epoch (the lease's fencing token, which only grows). "
        "Ports: `in` (work for the leader), `out` (Fenced writes stamped with the epoch, for "
        "a FencedWrite), `leader` (Elected and Deposed records)."
    ),
)
