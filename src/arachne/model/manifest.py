"""The graph manifest: a deterministic, diffable description of a graph, and its digest.

A :class:`Manifest` is typed, frozen records built from a ``Graph`` (or a document):

- one :class:`NodeRecord` per node: its component and contract version, a digest of its
  config (never the values: a manifest may hold no secret), how it runs, its error policy and
  its delivery promise;
- one :class:`Route` per port: node, port, direction, schema and schema version;
- one :class:`EdgeRecord` per edge, with its flow policy (capacity, overflow, priority, plane);
- placement constraints (none yet: distribution fills them).

Ids come only from the author's names (node ids, and edge ids or the endpoints they join), so
the same graph always has the same manifest, whatever the process, the hash seed or the order
things were built in. :meth:`Manifest.canonical` is its JSON with sorted keys and fixed
separators, and :attr:`Manifest.digest` that text's SHA-256. :meth:`Manifest.from_dict` reads a
manifest back and checks every field, naming the one at fault.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from arachne.model.errors import SpecError
from arachne.model.flatten import flatten
from arachne.model.policies import error_policy_to_data, overflow_name

if TYPE_CHECKING:
    from arachne.model.graph import Graph
    from arachne.model.node import Node
    from arachne.model.port import PortSpec
    from arachne.model.subgraph import Subgraph

__all__ = [
    "COMPATIBLE",
    "MANIFEST_VERSION",
    "Contracts",
    "EdgeRecord",
    "Manifest",
    "NodeRecord",
    "Route",
    "manifest_of",
    "subgraph_manifest",
]

MANIFEST_VERSION: Final = "arachne.manifest/1"
"""The format this module writes and reads."""

COMPATIBLE: Final = ">=0.1,<2"
"""The Arachne versions that read this format."""


class Contract(Protocol):
    """A component as a registry describes it: its id and its contract version."""

    @property
    def id(self) -> str: ...

    @property
    def version(self) -> str: ...


class Contracts(Protocol):
    """What gives a node kind its component and contract (a ``Registry`` does)."""

    def __contains__(self, component_id: object, /) -> bool:
        """Whether ``component_id`` names a component it knows."""
        ...

    def resolve(self, component_id: str, *, where: str = ...) -> Contract:
        """Return the component ``component_id`` names."""
        ...


@dataclass(frozen=True, slots=True)
class Route:
    """One port of one node: which way it faces, and the schema (and its version) it carries.

    The version is the schema's own ``__schema_version__`` (a class attribute) or a JSON
    Schema's ``version``; 1 when it declares none.
    """

    node: str
    port: str
    direction: str  # "in" or "out"
    schema: str
    schema_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        """Return the route as JSON data."""
        return {
            "node": self.node,
            "port": self.port,
            "direction": self.direction,
            "schema": self.schema,
            "schemaVersion": self.schema_version,
        }


@dataclass(frozen=True, slots=True)
class EdgeRecord:
    """An edge: its id, the ports it joins and its flow policy."""

    id: str
    source: str  # "node.port"
    target: str
    capacity: int
    overflow: str
    priority: int
    control: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the edge as JSON data."""
        return {
            "id": self.id,
            "source": self.source,
            "target": self.target,
            "capacity": self.capacity,
            "overflow": self.overflow,
            "priority": self.priority,
            "control": self.control,
        }


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A node instance: what builds it (component and contract) and how it runs."""

    id: str
    component: str
    contract: str | None  # the component's version, when a registry knows it
    config_digest: str  # SHA-256 of the config's canonical JSON (first 16 digits)
    mode: str
    concurrency: int
    ordered: bool
    error_policy: Any  # as data: "fail", "skip", "dead_letter" or {"retry": ...}
    timeout: float | None
    cadence: float | None
    fingerprint: str | None = None  # what else decides its behaviour (a code component's code)
    delivery: str | None = None  # its promise under checkpoints, when the instance is known

    def to_dict(self) -> dict[str, Any]:
        """Return the node as JSON data."""
        return {
            "id": self.id,
            "component": self.component,
            "contract": self.contract,
            "configDigest": self.config_digest,
            "mode": self.mode,
            "concurrency": self.concurrency,
            "ordered": self.ordered,
            "errorPolicy": self.error_policy,
            "timeout": self.timeout,
            "cadence": self.cadence,
            "fingerprint": self.fingerprint,
            "delivery": self.delivery,
        }


@dataclass(frozen=True, slots=True)
class Manifest:
    """A graph's manifest: its nodes, routes and edges, sorted by id, and their digest."""

    name: str
    nodes: tuple[NodeRecord, ...]
    routes: tuple[Route, ...]
    edges: tuple[EdgeRecord, ...]
    placement: Mapping[str, Any] = field(default_factory=dict)
    version: str = MANIFEST_VERSION
    compatible: str = COMPATIBLE

    def to_dict(self) -> dict[str, Any]:
        """Return the manifest as JSON data (what :meth:`from_dict` reads back equal)."""
        return {
            "manifest": self.version,
            "compatible": self.compatible,
            "name": self.name,
            "nodes": [node.to_dict() for node in self.nodes],
            "routes": [route.to_dict() for route in self.routes],
            "edges": [edge.to_dict() for edge in self.edges],
            "placement": dict(self.placement),
        }

    def canonical(self) -> bytes:
        """Return the canonical JSON: sorted keys, no spaces, UTF-8; the same for equal graphs."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")

    @property
    def digest(self) -> str:
        """The SHA-256 of :meth:`canonical`, in hex."""
        return hashlib.sha256(self.canonical()).hexdigest()

    def node(self, node_id: str) -> NodeRecord:
        """Return the node ``node_id``; ``KeyError`` if there is none."""
        for record in self.nodes:
            if record.id == node_id:
                return record
        raise KeyError(node_id)

    @classmethod
    def from_dict(cls, data: object) -> Manifest:
        """Read a manifest back; ``SpecError`` names the field at fault and the fix."""
        return _read(data)


def manifest_of(
    graph: Graph,
    *,
    registry: Contracts | None = None,
    instances: Mapping[str, Node] | None = None,
    name: str | None = None,
) -> Manifest:
    """Return the manifest of ``graph`` (named ``name``, else the graph's name).

    ``registry`` gives each component's contract version; ``instances`` (flattened id to
    node) give what only an instance knows, such as its delivery promise.
    """
    nodes: list[NodeRecord] = []
    routes: list[Route] = []
    for spec in graph.nodes.values():
        definition = None
        if registry is not None and spec.kind in registry:
            definition = registry.resolve(spec.kind)
        instance = instances.get(spec.id) if instances is not None else None
        nodes.append(
            NodeRecord(
                id=spec.id,
                component=definition.id if definition is not None else spec.kind,
                contract=definition.version if definition is not None else None,
                config_digest=_digest(dict(spec.config)),
                mode=spec.mode,
                concurrency=spec.concurrency,
                ordered=spec.ordered,
                error_policy=error_policy_to_data(spec.error_policy),
                timeout=spec.timeout,
                cadence=spec.cadence,
                fingerprint=spec.fingerprint,
                delivery=instance.delivery if instance is not None else None,
            )
        )
        for direction, ports in (("in", spec.inputs), ("out", spec.outputs)):
            routes.extend(_route(spec.id, direction, port) for port in ports)
    edges = [
        EdgeRecord(
            id=link.id,
            source=str(link.source),
            target=str(link.target),
            capacity=link.capacity,
            overflow=overflow_name(link.overflow),
            priority=link.priority,
            control=link.control,
        )
        for link in graph.links.values()
    ]
    return Manifest(
        name=graph.name if name is None else name,
        nodes=tuple(sorted(nodes, key=lambda n: n.id)),
        routes=tuple(sorted(routes, key=lambda r: (r.node, r.direction, r.port))),
        edges=tuple(sorted(edges, key=lambda e: e.id)),
    )


def subgraph_manifest(
    sub: Subgraph, *, registry: Contracts | None = None, name: str | None = None
) -> Manifest:
    """Return the manifest of a (valid) subgraph, its instances' promises included."""
    flat = flatten(sub)
    return manifest_of(flat.graph, registry=registry, instances=flat.instances, name=name)


def _route(node: str, direction: str, port: PortSpec) -> Route:
    schema = port.schema
    declared = getattr(schema, "__schema_version__", None)
    if declared is None and isinstance(schema, Mapping):
        declared = schema.get("version")
    version = declared if isinstance(declared, int) and not isinstance(declared, bool) else 1
    return Route(node, port.name, direction, port.schema_name, version)


def _digest(value: object) -> str:
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_stable
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _stable(value: object) -> str:
    """Name a config value JSON cannot write (a function, an object) the same in any process.

    Its qualified name, never its ``repr`` (which holds a memory address).
    """
    named = value if callable(value) and hasattr(value, "__qualname__") else type(value)
    return f"<{getattr(named, '__module__', '?')}.{getattr(named, '__qualname__', '?')}>"


# -- reading back ------------------------------------------------------------------------------

_NODE_FIELDS: Final = {
    "id": str,
    "component": str,
    "contract": (str, type(None)),
    "configDigest": str,
    "mode": str,
    "concurrency": int,
    "ordered": bool,
    "errorPolicy": (str, dict),
    "timeout": (int, float, type(None)),
    "cadence": (int, float, type(None)),
    "fingerprint": (str, type(None)),
    "delivery": (str, type(None)),
}
_ROUTE_FIELDS: Final = {
    "node": str,
    "port": str,
    "direction": str,
    "schema": str,
    "schemaVersion": int,
}
_EDGE_FIELDS: Final = {
    "id": str,
    "source": str,
    "target": str,
    "capacity": int,
    "overflow": str,
    "priority": int,
    "control": bool,
}
_TOP: Final = ("manifest", "compatible", "name", "nodes", "routes", "edges", "placement")


def _read(data: object) -> Manifest:
    if not isinstance(data, Mapping):
        raise SpecError("manifest: expected an object with manifest, name, nodes, routes, edges")
    unknown = sorted(set(data) - set(_TOP))
    missing = [key for key in _TOP if key not in data]
    if unknown or missing:
        raise SpecError(
            f"manifest: {'unknown field ' + repr(unknown[0]) if unknown else ''}"
            f"{'; ' if unknown and missing else ''}"
            f"{'missing ' + ', '.join(missing) if missing else ''}; a manifest has "
            f"{', '.join(_TOP)}"
        )
    if data["manifest"] != MANIFEST_VERSION:
        raise SpecError(
            f"manifest.manifest: {data['manifest']!r} is not a format this version reads "
            f"({MANIFEST_VERSION}); write it again with `arachne manifest`"
        )
    for key in ("compatible", "name"):
        if not isinstance(data[key], str):
            raise SpecError(f"manifest.{key}: expected text, got {type(data[key]).__name__}")
    if not isinstance(data["placement"], Mapping):
        raise SpecError("manifest.placement: expected an object")
    nodes = tuple(
        NodeRecord(
            id=item["id"],
            component=item["component"],
            contract=item["contract"],
            config_digest=item["configDigest"],
            mode=item["mode"],
            concurrency=item["concurrency"],
            ordered=item["ordered"],
            error_policy=item["errorPolicy"],
            timeout=item["timeout"],
            cadence=item["cadence"],
            fingerprint=item["fingerprint"],
            delivery=item["delivery"],
        )
        for item in _items(data["nodes"], "nodes", _NODE_FIELDS)
    )
    routes = tuple(
        Route(item["node"], item["port"], item["direction"], item["schema"], item["schemaVersion"])
        for item in _items(data["routes"], "routes", _ROUTE_FIELDS)
    )
    edges = tuple(
        EdgeRecord(**{_snake(key): value for key, value in item.items()})
        for item in _items(data["edges"], "edges", _EDGE_FIELDS)
    )
    _unique([n.id for n in nodes], "nodes", "id")
    _unique([e.id for e in edges], "edges", "id")
    known = {n.id for n in nodes}
    for index, route in enumerate(routes):
        if route.node not in known:
            raise SpecError(f"manifest.routes[{index}].node: no node {route.node!r}")
        if route.direction not in ("in", "out"):
            raise SpecError(f"manifest.routes[{index}].direction: 'in' or 'out'")
    ports = {(r.node, r.port, r.direction) for r in routes}
    for index, edge in enumerate(edges):
        for end, direction in (("source", "out"), ("target", "in")):
            node, _, port = getattr(edge, end).rpartition(".")
            if (node, port, direction) not in ports:
                raise SpecError(
                    f"manifest.edges[{index}].{end}: {getattr(edge, end)!r} is no "
                    f"{'output' if direction == 'out' else 'input'} route of the manifest"
                )
    return Manifest(
        name=data["name"],
        nodes=nodes,
        routes=routes,
        edges=edges,
        placement=dict(data["placement"]),
        version=data["manifest"],
        compatible=data["compatible"],
    )


def _items(value: object, where: str, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise SpecError(f"manifest.{where}: expected a list")
    items = []
    for index, item in enumerate(value):
        at = f"manifest.{where}[{index}]"
        if not isinstance(item, Mapping):
            raise SpecError(f"{at}: expected an object")
        if set(item) != set(fields):
            odd = sorted(set(item) ^ set(fields))
            raise SpecError(f"{at}: field {odd[0]!r} is unknown or missing")
        for key, kinds in fields.items():
            wanted = kinds if isinstance(kinds, tuple) else (kinds,)
            ok = isinstance(item[key], wanted) and not (
                isinstance(item[key], bool) and bool not in wanted
            )
            if not ok:
                raise SpecError(f"{at}.{key}: got {type(item[key]).__name__}")
        items.append(dict(item))
    return items


def _unique(ids: list[str], where: str, key: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(ids):
        if value in seen:
            raise SpecError(f"manifest.{where}[{index}].{key}: {value!r} appears twice")
        seen.add(value)


def _snake(key: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in key)
