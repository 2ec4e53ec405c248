"""Primitives: parts defined once by a contract and installed into graphs as ordinary nodes.

``Primitive.define(...)`` makes a :class:`Contract`; ``contract.install(graph, name, ...)``
lowers it into the graph (``contract.fragment`` without touching one). The primitives Arachne
ships are defined here: :data:`RateLimiter`, :data:`KillSwitch`, :data:`Lease`,
:data:`FencedWrite`, :data:`LeaderElection` and :data:`DurableQueue` (a contract; the class
``arachne.durable.DurableQueue`` is the queue in a store it lowers to). docs/primitives.md
tells the whole story, and docs/primitives/ holds one page per primitive, generated from its
contract.
"""

from __future__ import annotations

from arachne.primitives.contract import (
    BASE_CAPABILITIES,
    REQUIRED,
    Contract,
    FailureRow,
    Fragment,
    Installed,
    Maturity,
    Policy,
    Primitive,
    PrimitiveError,
    contracts,
)
from arachne.primitives.durable_queue import (
    MAX_QUEUE_CAPACITY,
    QUEUE_ATTEMPT,
    QUEUE_ID,
    DurableQueue,
    QueueEgress,
    QueueIngress,
)
from arachne.primitives.event_clock import EventClock, EventStamper
from arachne.primitives.joins import IntervalJoin, IntervalJoinNode, Join, JoinNode, JoinRow
from arachne.primitives.kill_switch import KillGate, KillSwitch, KillSwitchAborted
from arachne.primitives.leader_election import Candidate, Deposed, Elected, LeaderElection
from arachne.primitives.lease import (
    STALE_OWNER,
    Fenced,
    FencedWrite,
    FenceGate,
    Grant,
    Lease,
    LeaseGuard,
    Lessor,
)
from arachne.primitives.rate_limiter import RateGate, RateLimiter
from arachne.primitives.windows import (
    Late,
    Session,
    Sliding,
    Tumbling,
    Window,
    WindowMeta,
    WindowNode,
    WindowResult,
)

__all__ = [
    "BASE_CAPABILITIES",
    "MAX_QUEUE_CAPACITY",
    "QUEUE_ATTEMPT",
    "QUEUE_ID",
    "REQUIRED",
    "STALE_OWNER",
    "Candidate",
    "Contract",
    "Deposed",
    "DurableQueue",
    "Elected",
    "EventClock",
    "EventStamper",
    "FailureRow",
    "FenceGate",
    "Fenced",
    "FencedWrite",
    "Fragment",
    "Grant",
    "Installed",
    "IntervalJoin",
    "IntervalJoinNode",
    "Join",
    "JoinNode",
    "JoinRow",
    "KillGate",
    "KillSwitch",
    "KillSwitchAborted",
    "Late",
    "LeaderElection",
    "Lease",
    "LeaseGuard",
    "Lessor",
    "Maturity",
    "Policy",
    "Primitive",
    "PrimitiveError",
    "QueueEgress",
    "QueueIngress",
    "RateGate",
    "RateLimiter",
    "Session",
    "Sliding",
    "Tumbling",
    "Window",
    "WindowMeta",
    "WindowNode",
    "WindowResult",
    "contracts",
]
