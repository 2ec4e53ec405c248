"""A plain-text report of an execution's counters, for terminals and logs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from arachne.runtime.stats import ExecutionStats

__all__ = ["format_stats"]


def format_stats(stats: ExecutionStats) -> str:
    """Return a table of every edge (depth, capacity, flow, high-water, blocked time) and node."""
    rows = [("edge", "depth/cap", "enq", "deq", "dropped", "high", "blocked s")]
    for edge in stats.edges.values():
        rows.append(
            (
                edge.id,
                f"{edge.depth}/{edge.capacity}",
                str(edge.enqueued),
                str(edge.dequeued),
                str(edge.dropped),
                str(edge.high_water),
                f"{edge.blocked_seconds:.3f}",
            )
        )
    lines = [f"execution {stats.id} ({stats.state})", *_table(rows), ""]
    node_rows = [("node", "state", "received", "emitted", "ticks", "errors")]
    for node in stats.nodes.values():
        node_rows.append(
            (
                node.id,
                node.state,
                str(node.received),
                str(node.emitted),
                str(node.ticks),
                str(node.errors),
            )
        )
    lines.extend(_table(node_rows))
    return "\n".join(lines)


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
