"""What ``arachne run`` shows on a terminal while it runs, and the summary at the end."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Collection

    from arachne.runtime.stats import ExecutionStats

__all__ = ["Rates", "live_table", "summary_table"]


class Rates:
    """Messages per second per node, from successive snapshots."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._at = time.monotonic()
        self.rates: dict[str, float] = {}

    def update(self, stats: ExecutionStats) -> None:
        """Take a snapshot and work out each node's rate since the previous one."""
        now = time.monotonic()
        span = max(now - self._at, 1e-6)
        for node_id, node in stats.nodes.items():
            done = node.received or node.emitted
            self.rates[node_id] = (done - self._last.get(node_id, 0)) / span
            self._last[node_id] = done
        self._at = now


def live_table(stats: ExecutionStats, rates: Rates, elapsed: float) -> Table:
    """Return the live view: each node's counts and rate, each edge's queue depth."""
    table = Table(title=f"{stats.id} · {stats.state} · {elapsed:.1f} s", title_justify="left")
    for column in ("node", "state", "in", "out", "errors", "msgs/s"):
        table.add_column(column, justify="left" if column in ("node", "state") else "right")
    for node_id, node in stats.nodes.items():
        rate = rates.rates.get(node_id, 0.0)
        table.add_row(
            node_id,
            node.state,
            f"{node.received:,}",
            f"{node.emitted:,}",
            f"{node.errors:,}",
            f"{rate:,.0f}",
        )
    queued = [edge for edge in stats.edges.values() if edge.depth]
    for edge in queued[:8]:
        table.add_row(f"  {edge.id}", "queue", f"{edge.depth:,}/{edge.capacity:,}", "", "", "")
    return table


def summary_table(
    stats: ExecutionStats, elapsed: float, printed: int, shown: Collection[str] | None = None
) -> Table:
    """Return the end-of-run summary: state, time, outputs and each node's counters.

    With ``shown`` (the document's nodes), the nodes the command added to feed and print
    (``cli-input-1``, ...) appear only if something failed there.
    """
    table = Table(
        title=(
            f"{stats.state} in {elapsed:.3f} s · {printed:,} value(s) out · "
            f"{stats.activations:,} activations"
        ),
        title_justify="left",
    )
    for column in ("node", "in", "out", "errors", "skipped", "dead letters"):
        table.add_column(column, justify="left" if column == "node" else "right")
    for node_id, node in stats.nodes.items():
        if shown is not None and node_id not in shown and not (node.errors or node.skipped):
            continue
        table.add_row(
            node_id,
            f"{node.received:,}",
            f"{node.emitted:,}",
            f"{node.errors:,}",
            f"{node.skipped:,}",
            f"{node.dead_lettered:,}",
        )
    return table
