"""The live view of one execution as data: what a dashboard draws on its graph, frame by frame.

``LiveView.frame(stats)`` turns a snapshot (``Execution.stats()``) into a JSON-ready frame
whose rates and shares are since the previous frame (since the start, for the first), worked
out as ``arachne top`` works them out (``arachne.observability.top``), so the terminal view and
the dashboard never disagree. Per node: messages in and out per second, p99 latency, busy and
held-back shares, errors. Per edge: queue depth against capacity, messages per second through
it, and for a full ``block`` edge the node causing its backpressure. For the whole execution:
its rate, p99 latency and the errors and drops since the previous frame, for sparklines.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from arachne.observability.top import render

if TYPE_CHECKING:
    from arachne.runtime.stats import ExecutionStats

__all__ = ["LiveView"]


class LiveView:
    """Frames of one execution's live view; each frame's rates are since the one before."""

    def __init__(self) -> None:
        self._previous: ExecutionStats | None = None
        self._at: float | None = None

    def frame(self, stats: ExecutionStats, *, now: float | None = None) -> dict[str, Any]:
        """Return the frame for ``stats`` and keep ``stats`` for the next one.

        ``now`` (a monotonic clock's reading) times the span between two frames; without it,
        the snapshots' ``elapsed`` does.
        """
        before = self._previous
        span = None if now is None or self._at is None else now - self._at
        if span is None:
            span = stats.elapsed - (before.elapsed if before is not None else 0.0)
        drawn = render(stats, before, span=span, edge_rows=len(stats.edges))
        causes = {item.edge: item for item in drawn.backpressure}
        was_edges = before.edges if before is not None else {}
        nodes = {
            row.id: {
                "in": _number(row.received),
                "out": _number(row.emitted),
                "p99": _number(row.p99),
                "busy": round(row.busy, 4),
                "held": round(row.held, 4),
                "errors": row.errors,
                "received": stats.nodes[row.id].received,
                "emitted": stats.nodes[row.id].emitted,
                "deadLettered": stats.nodes[row.id].dead_lettered,
                "state": stats.nodes[row.id].state,
            }
            for row in drawn.nodes
        }
        edges: dict[str, dict[str, Any]] = {}
        for edge in stats.edges.values():
            was = was_edges.get(edge.id)
            moved = edge.dequeued - (was.dequeued if was is not None else 0)
            cause = causes.get(edge.id)
            edges[edge.id] = {
                "source": edge.source,
                "target": edge.target,
                "kind": edge.kind,
                "depth": edge.depth,
                "capacity": edge.capacity,
                "overflow": edge.overflow,
                "priority": edge.priority,
                "rate": _number(moved / span if span > 0 else None),
                "offered": edge.offered,
                "dequeued": edge.dequeued,
                "dropped": edge.dropped + edge.coalesced + edge.failed,
                "blocked": cause is not None,
                "cause": cause.cause if cause is not None else None,
                "path": list(cause.path) if cause is not None else [],
            }
        totals = self._totals(stats, before, span)
        self._previous, self._at = stats, now
        return {
            "executionId": stats.id,
            "state": stats.state,
            "elapsed": round(stats.elapsed, 3),
            "nodes": nodes,
            "edges": edges,
            "causes": sorted({item.cause for item in drawn.backpressure}),
            "totals": totals,
        }

    @staticmethod
    def _totals(
        stats: ExecutionStats, before: ExecutionStats | None, span: float
    ) -> dict[str, Any]:
        def processed(snapshot: ExecutionStats | None) -> int:
            return sum(n.received for n in snapshot.nodes.values()) if snapshot else 0

        def errors(snapshot: ExecutionStats | None) -> int:
            return sum(n.errors for n in snapshot.nodes.values()) if snapshot else 0

        def drops(snapshot: ExecutionStats | None) -> int:
            if snapshot is None:
                return 0
            return sum(e.dropped + e.coalesced + e.failed for e in snapshot.edges.values())

        moved = processed(stats) - processed(before)
        latency = stats.latency
        return {
            "rate": _number(moved / span if span > 0 else None),
            "p99": _number(latency.p99 if latency.count else None),
            "errors": errors(stats) - errors(before),
            "dropped": drops(stats) - drops(before),
            "processed": processed(stats),
            "inFlight": stats.in_flight,
        }


def _number(value: float | None) -> float | None:
    """Return ``value`` rounded for JSON, or ``None`` if there is none (or it is not finite)."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, 6)
