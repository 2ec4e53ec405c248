"""Primitives: parts defined once by a contract and installed into graphs as ordinary nodes.

``Primitive.define(...)`` makes a :class:`Contract`; ``contract.install(graph, name, ...)``
lowers it into the graph (``contract.fragment`` without touching one). The primitives Arachne
ships are defined here: :data:`RateLimiter`, :data:`KillSwitch`, :data:`Lease` and
:data:`FencedWrite`. docs/primitives.md tells the whole story, and docs/primitives/ holds one
page per primitive, generated from its contract.
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
from arachne.primitives.kill_switch import KillGate, KillSwitch, KillSwitchAborted
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

__all__ = [
    "BASE_CAPABILITIES",
    "REQUIRED",
    "STALE_OWNER",
    "Contract",
    "FailureRow",
    "FenceGate",
    "Fenced",
    "FencedWrite",
    "Fragment",
    "Grant",
    "Installed",
    "KillGate",
    "KillSwitch",
    "KillSwitchAborted",
    "Lease",
    "LeaseGuard",
    "Lessor",
    "Maturity",
    "Policy",
    "Primitive",
    "PrimitiveError",
    "RateGate",
    "RateLimiter",
    "contracts",
]
