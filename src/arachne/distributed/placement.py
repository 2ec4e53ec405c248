"""Placement: which partition each node runs in, and the graphs the partitions run.

A :class:`Placement` names partitions and the nodes (by flattened id: ``etl/parse``) each one
holds; nodes it does not name go to its ``default`` partition. :func:`plan` checks it against
a graph and finds the links that cross from one partition to another: each becomes a
channel, named by the link's id. :func:`partition_graph` then builds one partition's graph:
its own nodes and the links between them, a ``LinkOut`` node where a link leaves it and a
``LinkIn`` node where one enters, each keeping the link's capacity, overflow, priority and
plane on its local edge. The boundary is graph structure, recorded like any other node and
link, not a deployment script.

Keyed state is placed by key group: :func:`key_group` maps a key to one of a fixed number of
groups (128 by default) with a hash that is the same in every process, so a range of groups
can be owned by one host and moved to another.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import msgspec

from arachne.distributed.link_nodes import LinkIn, LinkOut
from arachne.model.flatten import node_spec
from arachne.model.graph import Graph
from arachne.model.specs import LinkSpec, PortRef

if TYPE_CHECKING:
    from arachne.distributed.host import MeshHost
    from arachne.model.node import Node

__all__ = [
    "KEY_GROUPS",
    "Crossing",
    "PartitionPlan",
    "Placement",
    "key_group",
    "partition_graph",
    "plan",
    "relinked",
]

KEY_GROUPS: Final = 128
"""Key groups a keyed part is split into unless told otherwise (Flink's floor)."""

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_]+")


def key_group(key: object, groups: int = KEY_GROUPS) -> int:
    """Return the key group of ``key`` (0 <= group < ``groups``), the same in every process.

    Keys are strings, numbers, bytes or tuples of them; Python's own ``hash`` differs from one
    process to the next, so this hashes the key's MessagePack encoding instead.
    """
    try:
        encoded = msgspec.msgpack.encode(key)
    except TypeError as exc:
        raise TypeError(
            f"key {key!r} cannot be placed: a key must be a string, number, bytes or a tuple of "
            "them"
        ) from exc
    return zlib.crc32(encoded) % groups


@dataclass(frozen=True, slots=True)
class Placement:
    """Partitions by name, each with the ids of the nodes it holds; the rest go to ``default``."""

    partitions: Mapping[str, tuple[str, ...]]
    default: str | None = None

    @classmethod
    def of(
        cls, partitions: Mapping[str, Iterable[str]], *, default: str | None = None
    ) -> Placement:
        """Return the placement ``{partition: [node ids]}`` (``plan`` checks it against a graph)."""
        if not isinstance(partitions, Mapping) or not partitions:
            raise ValueError("a placement names at least one partition: {'a': ['source'], ...}")
        checked: dict[str, tuple[str, ...]] = {}
        seen: dict[str, str] = {}
        for name, nodes in partitions.items():
            if not isinstance(name, str) or not name or _UNSAFE.search(name.replace("-", "_")):
                raise ValueError(
                    f"partition name {name!r}: use letters, digits, '_' and '-' (it names a host)"
                )
            if isinstance(nodes, str):
                raise TypeError(f"partition {name!r}: list its node ids, not one string {nodes!r}")
            ids = tuple(nodes)
            for node_id in ids:
                if node_id in seen:
                    raise ValueError(
                        f"node {node_id!r} is placed in both {seen[node_id]!r} and {name!r}; "
                        "place each node once"
                    )
                seen[node_id] = name
            checked[name] = ids
        if default is not None and default not in checked:
            checked[default] = ()
        return cls(checked, default)

    def partition_of(self, node_id: str) -> str | None:
        """Return the partition ``node_id`` is placed in (``None``: not placed)."""
        for name, ids in self.partitions.items():
            if node_id in ids:
                return name
        return self.default


@dataclass(frozen=True, slots=True)
class Crossing:
    """A link of the graph that crosses partitions: a channel of a mesh link."""

    channel: str
    link: LinkSpec
    source: str  # the producer's partition
    target: str  # the consumer's partition


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    """A graph split by a placement: each partition's node ids and the links that cross."""

    graph: Graph
    nodes: Mapping[str, tuple[str, ...]]
    crossings: tuple[Crossing, ...] = field(default=())

    def crossing(self, channel: str) -> Crossing:
        """Return the crossing named ``channel``."""
        for crossing in self.crossings:
            if crossing.channel == channel:
                return crossing
        raise KeyError(channel)


def plan(graph: Graph, placement: Placement) -> PartitionPlan:
    """Split ``graph`` by ``placement``; ``ValueError`` naming any node placed wrongly."""
    unknown = [n for ids in placement.partitions.values() for n in ids if n not in graph.nodes]
    if unknown:
        raise ValueError(
            f"the placement names nodes the graph does not have: {', '.join(map(repr, unknown))}; "
            f"its nodes are {', '.join(graph.nodes)}"
        )
    nodes: dict[str, list[str]] = {name: [] for name in placement.partitions}
    where: dict[str, str] = {}
    unplaced = []
    for node_id in graph.nodes:
        part = placement.partition_of(node_id)
        if part is None:
            unplaced.append(node_id)
            continue
        nodes[part].append(node_id)
        where[node_id] = part
    if unplaced:
        raise ValueError(
            f"nodes {', '.join(map(repr, unplaced))} are in no partition; place them, or give "
            "the placement a default partition"
        )
    crossings = tuple(
        Crossing(link.id, link, where[link.source.node], where[link.target.node])
        for link in graph.links.values()
        if where[link.source.node] != where[link.target.node]
    )
    return PartitionPlan(graph, {k: tuple(v) for k, v in nodes.items()}, crossings)


def _node_id(prefix: str, channel: str, taken: set[str]) -> str:
    base = f"{prefix}_{_UNSAFE.sub('_', channel).strip('_')}"
    node_id, n = base, 1
    while node_id in taken:
        n += 1
        node_id = f"{base}_{n}"
    taken.add(node_id)
    return node_id


def partition_graph(
    plan: PartitionPlan, name: str, instances: Mapping[str, Node], host: MeshHost
) -> tuple[Graph, dict[str, Node]]:
    """Return partition ``name``'s graph and node instances, its link nodes bound to ``host``."""
    graph = plan.graph
    own = set(plan.nodes[name])
    specs = [graph.nodes[n] for n in plan.nodes[name]]
    kept = {n: instances[n] for n in plan.nodes[name]}
    links = [
        link for link in graph.links.values() if link.source.node in own and link.target.node in own
    ]
    taken = set(graph.nodes)
    for crossing in plan.crossings:
        link = crossing.link
        if crossing.source == name:
            port = graph.nodes[link.source.node].output(link.source.port)
            schema = port.schema if port is not None else None
            node_id = _node_id("link_out", crossing.channel, taken)
            node: Node = LinkOut(host.sender(crossing.channel, crossing.target), schema=schema)
            links.append(relinked(link, link.source, PortRef(node_id, "in")))
        elif crossing.target == name:
            port = graph.nodes[link.target.node].input(link.target.port)
            schema = port.schema if port is not None else None
            node_id = _node_id("link_in", crossing.channel, taken)
            inbound = host.receiver(crossing.channel, crossing.source)
            node = LinkIn(inbound, schema=schema)
            links.append(relinked(link, PortRef(node_id, "out"), link.target))
        else:
            continue
        specs.append(node_spec(node_id, node))
        kept[node_id] = node
    return Graph(specs, links, name=f"{graph.name}@{name}" if graph.name else name), kept


def relinked(
    link: LinkSpec, source: PortRef, target: PortRef, link_id: str | None = None
) -> LinkSpec:
    """Return ``link`` between other ports (and under ``link_id``), its options kept."""
    return LinkSpec(
        id=link.id if link_id is None else link_id,
        source=source,
        target=target,
        capacity=link.capacity,
        overflow=link.overflow,
        priority=link.priority,
        control=link.control,
    )
