"""Which node holds a full edge back: backpressure traced to its cause, from one snapshot.

A ``block`` edge that is full holds its producer back. Its consumer is either the cause
(slower than what arrives) or itself held back by a full output of its own, and so on down
the graph: the cause is the first node along the full edges that is not held back. A stalled
sink is thus named for every edge above it; a slow node in the middle for the edges above it,
and for none below (they drain).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arachne.runtime.stats import EdgeStats, ExecutionStats

__all__ = ["Backpressure", "backpressure"]


@dataclass(frozen=True, slots=True)
class Backpressure:
    """A full ``block`` edge, and the node that holds it back.

    ``path`` runs from the edge's consumer to ``cause`` along full edges (just the cause when
    the consumer is the cause).
    """

    edge: str
    cause: str
    path: tuple[str, ...]


def backpressure(stats: ExecutionStats) -> list[Backpressure]:
    """Return every full ``block`` edge of ``stats`` with the node causing it, by edge id.

    A node held back by several full outputs is followed along the first of them by edge id,
    so the answer does not depend on the order edges were made in.
    """
    full = [
        edge
        for edge in stats.edges.values()
        if edge.kind == "link" and edge.overflow == "block" and edge.depth >= edge.capacity
    ]
    held: dict[str, list[EdgeStats]] = {}  # node -> its full outputs, by edge id
    for edge in sorted(full, key=lambda e: e.id):
        held.setdefault(edge.source, []).append(edge)
    found = []
    for edge in sorted(full, key=lambda e: e.id):
        node = edge.target
        path = [node]
        while held.get(node):
            following = held[node][0].target
            if following in path:  # a cycle cannot form in a DAG; stop if one ever does
                break
            path.append(following)
            node = following
        found.append(Backpressure(edge.id, node, tuple(path)))
    return found
