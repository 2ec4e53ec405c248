"""The desired state of a graph as plain, immutable data."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from arachne.model.dot import graph_to_dot
from arachne.model.errors import GraphError
from arachne.model.graph_io import graph_checksum, graph_parts, graph_to_dict
from arachne.model.specs import LinkSpec, NodeSpec
from arachne.model.topology import Topology

if TYPE_CHECKING:
    from arachne.model.primitive_mark import PrimitiveMark

__all__ = ["Graph"]


class Graph:
    """Nodes and links, keyed by id; immutable, so a changed graph is a new ``Graph``.

    Build one with :meth:`arachne.model.subgraph.Subgraph.to_graph` or :meth:`from_dict`.
    Links must name existing nodes and ports; use ``Subgraph.validate()`` for a full report.
    """

    __slots__ = ("_links", "_nodes", "_primitives", "_topology", "name")

    _topology: Topology | None

    def __init__(
        self,
        nodes: Iterable[NodeSpec],
        links: Iterable[LinkSpec],
        name: str = "",
        primitives: Mapping[str, PrimitiveMark] | None = None,
    ) -> None:
        self.name = name
        self._primitives = dict(primitives or {})
        self._nodes: dict[str, NodeSpec] = {}
        for spec in nodes:
            if spec.id in self._nodes:
                raise GraphError(f"duplicate node id {spec.id!r}; give each node its own name")
            self._nodes[spec.id] = spec
        self._links: dict[str, LinkSpec] = {}
        for link in links:
            if link.id in self._links:
                raise GraphError(f"duplicate link id {link.id!r}; pass a distinct id= to connect")
            self._check_endpoints(link)
            self._links[link.id] = link
        self._topology: Topology | None = None

    def _check_endpoints(self, link: LinkSpec) -> None:
        for ref, side in ((link.source, "output"), (link.target, "input")):
            spec = self._nodes.get(ref.node)
            if spec is None:
                raise GraphError(f"link {link.id}: unknown node {ref.node!r}; add the node first")
            port = spec.output(ref.port) if side == "output" else spec.input(ref.port)
            if port is None:
                raise GraphError(f"link {link.id}: node {ref.node!r} has no {side} {ref.port!r}")

    @property
    def primitives(self) -> Mapping[str, PrimitiveMark]:
        """The primitives installed in the graph, by path (their nodes' ids start ``path/``)."""
        return MappingProxyType(self._primitives)

    @property
    def nodes(self) -> Mapping[str, NodeSpec]:
        """Nodes by id, in insertion order."""
        return MappingProxyType(self._nodes)

    @property
    def links(self) -> Mapping[str, LinkSpec]:
        """Links by id, in insertion order."""
        return MappingProxyType(self._links)

    @property
    def topology(self) -> Topology:
        """Order, sources, sinks and cycles, computed once."""
        if self._topology is None:
            self._topology = Topology.of(self)
        return self._topology

    def links_into(self, node_id: str) -> list[LinkSpec]:
        """Return the links whose target is ``node_id``."""
        return [link for link in self._links.values() if link.target.node == node_id]

    def links_from(self, node_id: str) -> list[LinkSpec]:
        """Return the links whose source is ``node_id``."""
        return [link for link in self._links.values() if link.source.node == node_id]

    def replace_link(self, link_id: str, **changes: Any) -> Graph:
        """Return a graph where link ``link_id`` has ``changes`` (capacity, priority, ...)."""
        self._check_link_id(link_id)
        links = dict(self._links)
        links[link_id] = dataclasses.replace(links[link_id], **changes)
        return Graph(self._nodes.values(), links.values(), self.name, self._primitives)

    def replace_node(self, node_id: str, **changes: Any) -> Graph:
        """Return a graph where node ``node_id`` has ``changes`` (its config, say)."""
        if node_id not in self._nodes:
            known = ", ".join(self._nodes) or "none"
            raise GraphError(f"unknown node {node_id!r}; known nodes: {known}")
        nodes = [
            dataclasses.replace(spec, **changes) if spec.id == node_id else spec
            for spec in self._nodes.values()
        ]
        return Graph(nodes, self._links.values(), self.name, self._primitives)

    def with_node(self, spec: NodeSpec) -> Graph:
        """Return a graph with node ``spec`` added (``GraphError`` if its id is taken)."""
        return Graph(
            (*self._nodes.values(), spec), self._links.values(), self.name, self._primitives
        )

    def without_node(self, node_id: str) -> Graph:
        """Return a graph without node ``node_id``, which no link may touch any more."""
        if node_id not in self._nodes:
            known = ", ".join(self._nodes) or "none"
            raise GraphError(f"unknown node {node_id!r}; known nodes: {known}")
        touching = [
            link.id
            for link in self._links.values()
            if node_id in (link.source.node, link.target.node)
        ]
        if touching:
            linked = ", ".join(touching)
            raise GraphError(
                f"node {node_id!r} is still linked ({linked}); remove those links first"
            )
        nodes = [spec for spec in self._nodes.values() if spec.id != node_id]
        return Graph(nodes, self._links.values(), self.name, self._primitives)

    def with_link(self, link: LinkSpec) -> Graph:
        """Return a graph with ``link`` added (``GraphError`` for a taken id or bad endpoints)."""
        return Graph(
            self._nodes.values(), (*self._links.values(), link), self.name, self._primitives
        )

    def without_link(self, link_id: str) -> Graph:
        """Return a graph without link ``link_id``."""
        self._check_link_id(link_id)
        links = [link for link in self._links.values() if link.id != link_id]
        return Graph(self._nodes.values(), links, self.name, self._primitives)

    def _check_link_id(self, link_id: str) -> None:
        """Raise ``GraphError`` naming the known links if ``link_id`` is not one of them."""
        if link_id not in self._links:
            known = ", ".join(self._links) or "none"
            raise GraphError(f"unknown link {link_id!r}; known links: {known}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        # Order matters: it decides the topological order and the checksum.
        return (self.name, list(self._nodes.items()), list(self._links.items())) == (
            other.name,
            list(other._nodes.items()),
            list(other._links.items()),
        )

    def __hash__(self) -> int:
        return hash((self.name, tuple(self._nodes), tuple(self._links)))

    def __repr__(self) -> str:
        return f"Graph(name={self.name!r}, nodes={len(self._nodes)}, links={len(self._links)})"

    def to_dict(self) -> dict[str, Any]:
        """Return the graph as JSON-ready data (see ``arachne.model.graph_io``)."""
        return graph_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Graph:
        """Return the graph described by ``data``, as written by :meth:`to_dict`."""
        nodes, links, name = graph_parts(data)
        return cls(nodes, links, name)

    def checksum(self) -> str:
        """Return a SHA-256 of the canonical form: equal graphs, equal checksums."""
        return graph_checksum(self)

    def to_dot(self) -> str:
        """Return the graph in Graphviz DOT."""
        return graph_to_dot(self)
