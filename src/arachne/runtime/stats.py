"""Frozen snapshots of the runtime's counters, and what they say read together.

A snapshot is taken on the execution's loop (``Execution.stats()``) and may then be read on any
thread: exporters (``arachne.observability``) read these and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Backpressure",
    "EdgeStats",
    "ExecutionStats",
    "LatencyStats",
    "NodeStats",
    "ServiceMetrics",
]


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """A latency histogram read out, in seconds (all 0 when nothing was sampled).

    ``buckets`` holds cumulative counts: ``(bound, samples at most bound seconds)``, for the
    bounds of ``runtime.timing.LATENCY_BOUNDS``; ``sum`` is the total of every sample.
    Percentiles are exact to 2 significant digits; ``max`` and ``mean`` are exact.
    """

    count: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    sum: float = 0.0
    buckets: tuple[tuple[float, int], ...] = ()


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
    blocked_spells: int = 0

    @property
    def backpressured(self) -> bool:
        """Whether this is a full ``block`` edge of the graph, holding its producer back."""
        return self.kind == "link" and self.overflow == "block" and self.depth >= self.capacity


@dataclass(frozen=True, slots=True)
class NodeStats:
    """Counters of one node at one instant.

    ``errors`` counts every call that raised; ``retried`` the retries it led to; ``skipped``
    and ``dead_lettered`` the messages given up on under those policies; ``unrouted`` what was
    emitted on an unconnected output; ``in_flight`` the calls running (non-inline modes);
    ``invocations`` the calls of its hooks (one per message, tick, batch or retry).

    Its life splits into ``busy_seconds`` (running its hooks), ``backpressured_seconds``
    (held back by a full output) and ``idle_seconds`` (the rest); ``latency`` is the sampled
    time from a message's arrival on an input edge to the end of its handling. All four are 0
    when the runtime runs with ``metrics=False``.
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
    invocations: int = 0
    busy_seconds: float = 0.0
    backpressured_seconds: float = 0.0
    idle_seconds: float = 0.0
    latency: LatencyStats = LatencyStats()

    @property
    def busy_fraction(self) -> float:
        """Share of the node's life spent running its hooks (0 to 1)."""
        return _share(self.busy_seconds, self)

    @property
    def backpressured_fraction(self) -> float:
        """Share of the node's life spent held back by a full output (0 to 1)."""
        return _share(self.backpressured_seconds, self)

    @property
    def idle_fraction(self) -> float:
        """Share of the node's life spent waiting for work (0 to 1)."""
        return _share(self.idle_seconds, self)


def _share(part: float, node: NodeStats) -> float:
    whole = node.busy_seconds + node.backpressured_seconds + node.idle_seconds
    return part / whole if whole > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Backpressure:
    """A full ``block`` edge, and the node that holds it back.

    ``path`` runs from the edge's consumer to ``cause`` along full edges (just the cause when
    the consumer is the cause).
    """

    edge: str
    cause: str
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ServiceMetrics:
    """An execution's metrics under the Runtime Service's names (:meth:`to_dict`).

    ``messages_processed``: messages nodes took from their inputs; ``messages_emitted``: what
    they emitted; ``component_invocations``: calls of their hooks; ``avg_latency_ms`` and
    ``max_latency_ms``: over every node's sampled latency; ``error_count``: calls that raised;
    ``backpressure_events``: blocked spells begun plus messages an edge's overflow policy
    dropped, merged or refused.
    """

    messages_processed: int
    messages_emitted: int
    component_invocations: int
    avg_latency_ms: float
    max_latency_ms: float
    error_count: int
    backpressure_events: int

    def to_dict(self) -> dict[str, Any]:
        """Return the metrics keyed by the Runtime Service's names (``messagesProcessed``...)."""
        return {
            "messagesProcessed": self.messages_processed,
            "messagesEmitted": self.messages_emitted,
            "componentInvocations": self.component_invocations,
            "avgLatencyMs": self.avg_latency_ms,
            "maxLatencyMs": self.max_latency_ms,
            "errorCount": self.error_count,
            "backpressureEvents": self.backpressure_events,
        }


@dataclass(frozen=True, slots=True)
class ExecutionStats:
    """Every node and edge counter of one execution, taken together.

    The scheduler's own: ``activations`` (turns given to nodes), ``ready`` (nodes queued for a
    turn), ``loop_lag`` (seconds the last due timer fired late); ``latency`` is the sampled
    end-to-end latency, from a message's start at a source to the end of its handling by a
    node with nothing downstream; ``elapsed`` the seconds since the run started.
    """

    id: str
    state: str
    nodes: Mapping[str, NodeStats]
    edges: Mapping[str, EdgeStats]
    activations: int = 0
    ready: int = 0
    loop_lag: float = 0.0
    elapsed: float = 0.0
    latency: LatencyStats = LatencyStats()

    @property
    def in_flight(self) -> int:
        """Messages waiting in edges."""
        return sum(edge.depth for edge in self.edges.values())

    @property
    def control_messages(self) -> int:
        """Messages the consumers of control edges have taken."""
        return sum(edge.dequeued for edge in self.edges.values() if edge.control)

    @property
    def backpressure(self) -> list[Backpressure]:
        """Every full ``block`` edge with the node causing it, by edge id.

        A full edge holds its producer back; its consumer is the cause, unless it is itself
        held back by a full output, and so on down the graph: the cause is the first node
        along full edges that is not held back. A stalled sink is named for every edge above
        it; a slow node in the middle for the edges above it and for none below (they drain).
        A node held back by several full outputs is followed along the first by edge id.
        """
        full = sorted((edge for edge in self.edges.values() if edge.backpressured), key=_by_id)
        held: dict[str, str] = {}  # node -> the consumer of its first full output
        for edge in full:
            held.setdefault(edge.source, edge.target)
        found = []
        for edge in full:
            node = edge.target
            path = [node]
            while node in held:
                following = held[node]
                if following in path:  # a cycle cannot form in a DAG; stop if one ever does
                    break
                path.append(following)
                node = following
            found.append(Backpressure(edge.id, node, tuple(path)))
        return found

    def service_metrics(self) -> ServiceMetrics:
        """Return the execution's metrics as the Runtime Service names them."""
        nodes = self.nodes.values()
        samples = sum(node.latency.count for node in nodes)
        total = sum(node.latency.sum for node in nodes)
        return ServiceMetrics(
            messages_processed=sum(node.received for node in nodes),
            messages_emitted=sum(node.emitted for node in nodes),
            component_invocations=sum(node.invocations for node in nodes),
            avg_latency_ms=total / samples * 1000 if samples else 0.0,
            max_latency_ms=max((node.latency.max for node in nodes), default=0.0) * 1000,
            error_count=sum(node.errors for node in nodes),
            backpressure_events=sum(
                edge.blocked_spells + edge.dropped + edge.coalesced + edge.failed
                for edge in self.edges.values()
            ),
        )


def _by_id(edge: EdgeStats) -> str:
    return edge.id
