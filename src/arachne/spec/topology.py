"""Topology analysis of a document: Kahn's algorithm for order and levels, cycles named."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from arachne.spec._fields import unknown_node
from arachne.spec._problems import Problems

if TYPE_CHECKING:
    from collections.abc import Mapping

    from arachne.spec.document import GraphDocument

__all__ = ["TopologyReport", "analyze", "cycle_problems"]

_MAX_CYCLES: Final = 10  # enough to show the pattern; the first fix often breaks the others


@dataclass(frozen=True, slots=True)
class TopologyReport:
    """What a document's edges imply about its nodes.

    ``order`` lists every node after all of its upstream nodes (document order among
    equals); ``levels`` gives each node's distance from the inputs, counted along the
    longest path, so a node's level is always above its upstream nodes'; ``inputs`` are the
    nodes without incoming edges and ``outputs`` those without outgoing edges.
    """

    order: tuple[str, ...]
    levels: Mapping[str, int]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    edge_count: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", MappingProxyType(dict(self.levels)))

    @property
    def depth(self) -> int:
        """Number of levels (0 for an empty graph)."""
        return max(self.levels.values(), default=-1) + 1

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (what ``arachne validate --json`` prints)."""
        return {
            "nodes": len(self.order),
            "edges": self.edge_count,
            "depth": self.depth,
            "order": list(self.order),
            "levels": dict(self.levels),
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
        }

    def describe(self) -> list[str]:
        """Return the report as human-readable lines, for ``arachne validate``."""
        by_level: dict[int, list[str]] = {}
        for node in self.order:
            by_level.setdefault(self.levels[node], []).append(node)
        lines = [
            f"{len(self.order)} nodes, {self.edge_count} edges, {self.depth} levels, acyclic",
            f"order: {' -> '.join(self.order) or '(empty)'}",
        ]
        lines.extend(
            f"level {level}: {', '.join(nodes)}" for level, nodes in sorted(by_level.items())
        )
        lines.append(f"inputs (no incoming edges): {', '.join(self.inputs) or '(none)'}")
        lines.append(f"outputs (no outgoing edges): {', '.join(self.outputs) or '(none)'}")
        return lines


def analyze(doc: GraphDocument) -> TopologyReport:
    """Return the topology of ``doc``; raise ``SpecError`` naming each cycle if there is one."""
    problems = Problems()
    for issue in cycle_problems(doc):
        problems.add("", issue, "cycle")
    problems.check()
    ids = [node.id for node in doc.nodes]
    indegree, downstream = _adjacency(doc)
    queue = deque(node for node in ids if indegree[node] == 0)
    levels = dict.fromkeys(queue, 0)
    order: list[str] = []
    while queue:
        node = queue.popleft()
        order.append(node)
        for target in downstream[node]:
            levels[target] = max(levels.get(target, 0), levels[node] + 1)
            indegree[target] -= 1
            if indegree[target] == 0:
                queue.append(target)
    has_input = {edge.target.node for edge in doc.edges}
    has_output = {edge.source.node for edge in doc.edges}
    return TopologyReport(
        order=tuple(order),
        levels={node: levels[node] for node in order},
        inputs=tuple(node for node in ids if node not in has_input),
        outputs=tuple(node for node in ids if node not in has_output),
        edge_count=len(doc.edges),
    )


def cycle_problems(doc: GraphDocument) -> list[str]:
    """Return one message per cycle found (node-disjoint cycles, at most ten), else ``[]``.

    Also reports edges that name undeclared nodes, which only a hand-built document can have.
    """
    known = {node.id for node in doc.nodes}
    messages = [
        f"edges[{index}].{end}.node: {unknown_node(ref.node, known)}"
        for index, edge in enumerate(doc.edges)
        for end, ref in (("source", edge.source), ("target", edge.target))
        if ref.node not in known
    ]
    if messages:
        return messages
    position = {node.id: index for index, node in enumerate(doc.nodes)}
    upstream: dict[str, list[str]] = {node: [] for node in position}
    first_edge: dict[tuple[str, str], str] = {}
    for edge in doc.edges:
        upstream[edge.target.node].append(edge.source.node)
        first_edge.setdefault((edge.source.node, edge.target.node), edge.id)
    remaining = _peel(set(position), upstream)
    while remaining and len(messages) < _MAX_CYCLES:
        cycle = _walk_back(min(remaining, key=position.__getitem__), upstream, remaining)
        start = min(range(len(cycle)), key=lambda i: position[cycle[i]])
        cycle = cycle[start:] + cycle[:start]
        hops = list(zip(cycle, [*cycle[1:], cycle[0]], strict=True))
        edges = ", ".join(repr(first_edge[hop]) for hop in hops)
        noun = "edge" if len(hops) == 1 else "edges"
        messages.append(
            f"cycle: {' -> '.join([*cycle, cycle[0]])} ({noun} {edges}); remove one of these "
            "edges, a graph must be acyclic"
        )
        remaining = _peel(remaining - set(cycle), upstream)
    return messages


def _adjacency(doc: GraphDocument) -> tuple[dict[str, int], dict[str, list[str]]]:
    indegree = {node.id: 0 for node in doc.nodes}
    downstream: dict[str, list[str]] = {node.id: [] for node in doc.nodes}
    for edge in doc.edges:
        indegree[edge.target.node] += 1
        downstream[edge.source.node].append(edge.target.node)
    return indegree, downstream


def _peel(nodes: set[str], upstream: dict[str, list[str]]) -> set[str]:
    """Return the nodes of ``nodes`` that lie on or downstream of a cycle among them."""
    downstream: dict[str, list[str]] = {node: [] for node in nodes}
    indegree = dict.fromkeys(nodes, 0)
    for node in nodes:
        for source in upstream[node]:
            if source in nodes:
                indegree[node] += 1
                downstream[source].append(node)
    queue = [node for node, count in indegree.items() if count == 0]
    left = set(nodes)
    while queue:
        node = queue.pop()
        left.discard(node)
        for target in downstream[node]:
            indegree[target] -= 1
            if indegree[target] == 0:
                queue.append(target)
    return left


def _walk_back(start: str, upstream: dict[str, list[str]], left: set[str]) -> list[str]:
    """Return a cycle in flow order, found by walking upstream inside ``left`` from ``start``.

    Every node left after peeling has an upstream node also left, so the walk must repeat.
    """
    path: list[str] = []
    seen: dict[str, int] = {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(source for source in upstream[node] if source in left)
    return list(reversed(path[seen[node] :]))
