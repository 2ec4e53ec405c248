"""Frozen snapshots of the runtime's counters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["EdgeStats", "ExecutionStats", "NodeStats"]


@dataclass(frozen=True, slots=True)
class EdgeStats:
    """Counters of one edge at one instant.

    Frozen so an exporter on another thread can hold it while the edge keeps counting.
    ``offered == dequeued + dropped + coalesced + failed + depth`` always holds.
    ``kind`` is ``link`` for an edge of the graph, ``inject`` for one the runtime made to
    carry ``inject`` calls; ``fused`` says a fused chain runs through it (see runtime docs).
    """

    id: str
    source: str
    target: str
    capacity: int
    overflow: str
    priority: int
    control: bool
    depth: int
    offered: int
    enqueued: int
    dequeued: int
    dropped: int
    coalesced: int
    failed: int
    high_water: int
    blocked_seconds: float
    closed: bool
    kind: str = "link"
    fused: bool = False


@dataclass(frozen=True, slots=True)
class NodeStats:
    """Counters of one node at one instant.

    ``errors`` counts every call that raised; ``retried`` the retries it led to; ``skipped``
    and ``dead_lettered`` the messages given up on under those policies; ``unrouted`` what was
    emitted on an unconnected output; ``in_flight`` the calls running (non-inline modes).
    """

    id: str
    state: str
    received: int
    emitted: int
    ticks: int
    unrouted: int
    errors: int
    retried: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    in_flight: int = 0


@dataclass(frozen=True, slots=True)
class ExecutionStats:
    """Every node and edge counter of one execution, taken together."""

    id: str
    state: str
    nodes: Mapping[str, NodeStats]
    edges: Mapping[str, EdgeStats]
    activations: int = 0

    @property
    def in_flight(self) -> int:
        """Messages waiting in edges."""
        return sum(edge.depth for edge in self.edges.values())
