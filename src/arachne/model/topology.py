"""Topology of a graph: order, sources, sinks and cycles (graphlib's Kahn sort)."""

from __future__ import annotations

import graphlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from arachne.model.specs import GraphView

__all__ = ["Topology", "find_cycles"]


@dataclass(frozen=True, slots=True)
class Topology:
    """What the links of a graph imply about its nodes.

    ``order`` lists every node after all of its upstream nodes (empty when there is a cycle);
    ``cycles`` lists each cycle found as the node ids along it, first id repeated at the end.
    """

    order: tuple[str, ...]
    sources: tuple[str, ...]
    sinks: tuple[str, ...]
    cycles: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, graph: GraphView) -> Topology:
        """Compute the topology of ``graph``."""
        upstream: dict[str, set[str]] = {node_id: set() for node_id in graph.nodes}
        downstream: dict[str, set[str]] = {node_id: set() for node_id in graph.nodes}
        for link in graph.links.values():
            upstream[link.target.node].add(link.source.node)
            downstream[link.source.node].add(link.target.node)
        cycles = find_cycles(upstream)
        order: tuple[str, ...] = () if cycles else _order(upstream)
        return cls(
            order=order,
            sources=tuple(n for n, ups in upstream.items() if not ups),
            sinks=tuple(n for n, downs in downstream.items() if not downs),
            cycles=cycles,
        )

    @property
    def is_acyclic(self) -> bool:
        """Whether the graph has no cycle."""
        return not self.cycles


def _order(upstream: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
    # Feed nodes in insertion order so equal graphs always sort the same way.
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for node_id, ups in upstream.items():
        sorter.add(node_id, *sorted(ups))
    return tuple(sorter.static_order())


def find_cycles(upstream: Mapping[str, Iterable[str]]) -> tuple[tuple[str, ...], ...]:
    """Return the cycles in a dependency map, one per group of nodes that loops.

    Each cycle is given in flow order with its first node repeated at the end.
    """
    remaining = {node: set(ups) for node, ups in upstream.items()}
    position = {node: index for index, node in enumerate(upstream)}
    cycles: list[tuple[str, ...]] = []
    while True:
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for node_id, ups in remaining.items():
            sorter.add(node_id, *sorted(u for u in ups if u in remaining))
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            # graphlib lists the cycle in flow order, closed (first node repeated at the end).
            # Rotate it to start at the earliest-added node so the report is deterministic.
            loop = list(exc.args[1][:-1])
            first = min(range(len(loop)), key=lambda i: position[loop[i]])
            loop = loop[first:] + loop[:first]
            found = (*loop, loop[0])
            cycles.append(found)
            for node_id in found:
                remaining.pop(node_id, None)
            continue
        return tuple(cycles)
