"""The graph manifest: a deterministic, diffable description of a graph, and its digest.

A :class:`Manifest` is typed, frozen records built from a ``Graph`` (or a document):

- one :class:`NodeRecord` per node: its component and contract version, a digest of its
  config (never the values: a manifest may hold no secret), how it runs, its error policy and
  its delivery promise;
- one :class:`Route` per port: node, port, direction, schema and schema version;
- one :class:`EdgeRecord` per edge, with its flow policy (capacity, overflow, priority, plane);
- one :class:`PrimitiveRecord` per installed primitive (``arachne.primitives``): its contract,
  version, maturity, a digest of its options, what it provides and the nodes it became, so it
  still reads as itself (the key is left out of a manifest with none);
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
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeVar

from arachne.model.errors import SpecError
from arachne.model.flatten import flatten
from arachne.model.node import Node
from arachne.model.policies import error_policy_to_data, overflow_name
from arachne.model.primitive_mark import owns

if TYPE_CHECKING:
    from arachne.model.graph import Graph
    from arachne.model.port import PortSpec
    from arachne.model.subgraph import Subgraph

__all__ = [
    "COMPATIBLE",
    "MANIFEST_VERSION",
    "MANIFEST_VERSION_2",
    "Change",
    "Contracts",
    "EdgeRecord",
    "Manifest",
    "ManifestDiff",
    "NodeRecord",
    "PrimitiveRecord",
    "Route",
    "manifest_of",
    "subgraph_manifest",
]

MANIFEST_VERSION: Final = "arachne.manifest/1"
"""The format this module writes for a graph without primitives, and reads."""

MANIFEST_VERSION_2: Final = "arachne.manifest/2"
"""The format of a manifest with primitives (its ``primitives`` key); an older Arachne
refuses it by its version instead of by an unknown key."""

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
    stateful: bool | None = None  # whether it keeps state checkpoints save (None: unknown)
    renamed_from: tuple[str, ...] = ()  # ids the author says it had before

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
            "stateful": self.stateful,
            "renamedFrom": list(self.renamed_from),
        }


@dataclass(frozen=True, slots=True)
class PrimitiveRecord:
    """An installed primitive: the contract it follows and the nodes it was lowered into."""

    id: str  # its path in the graph: its nodes' ids start with it and a "/"
    contract: str
    version: int
    maturity: str
    options_digest: str  # SHA-256 of its options' canonical JSON (first 16 digits)
    provides: tuple[str, ...]
    nodes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the primitive as JSON data."""
        return {
            "id": self.id,
            "contract": self.contract,
            "version": self.version,
            "maturity": self.maturity,
            "optionsDigest": self.options_digest,
            "provides": list(self.provides),
            "nodes": list(self.nodes),
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
    primitives: tuple[PrimitiveRecord, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the manifest as JSON data (what :meth:`from_dict` reads back equal)."""
        data = {
            "manifest": self.version,
            "compatible": self.compatible,
            "name": self.name,
            "nodes": [node.to_dict() for node in self.nodes],
            "routes": [route.to_dict() for route in self.routes],
            "edges": [edge.to_dict() for edge in self.edges],
            "placement": dict(self.placement),
        }
        if self.primitives:
            data["primitives"] = [primitive.to_dict() for primitive in self.primitives]
        return data

    def primitive(self, primitive_id: str) -> PrimitiveRecord:
        """Return the installed primitive ``primitive_id``; ``KeyError`` if there is none."""
        return _by_id(self.primitives, primitive_id)

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
        return _by_id(self.nodes, node_id)

    def diff(self, other: Manifest) -> ManifestDiff:
        """Return what changed from this manifest to ``other`` (``Manifest.diff(a, b)``).

        Nodes match by id, or by a ``renamed_from`` the author declared on the newer one (one
        ``renamed`` change, and state follows it); edges by id, or by the ports they join once
        renames are applied. A change that a stateful node's saved state cannot survive is
        flagged (:attr:`Change.lost`).
        """
        return _diff(self, other)

    @classmethod
    def from_dict(cls, data: object) -> Manifest:
        """Read a manifest back; ``SpecError`` names the field at fault and the fix."""
        return _read(data)


R = TypeVar("R", NodeRecord, PrimitiveRecord)


def _by_id(records: tuple[R, ...], record_id: str) -> R:
    """Return the record of ``records`` whose id is ``record_id``; ``KeyError`` if none."""
    found = next((record for record in records if record.id == record_id), None)
    if found is None:
        raise KeyError(record_id)
    return found


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
                stateful=_stateful(instance) if instance is not None else None,
                renamed_from=spec.renamed_from,
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
    primitives = [
        PrimitiveRecord(
            id=path,
            contract=mark.contract,
            version=mark.version,
            maturity=mark.maturity,
            options_digest=_digest(dict(mark.options)),
            provides=tuple(sorted(mark.provides)),
            nodes=tuple(sorted(node for node in graph.nodes if owns(path, node))),
        )
        for path, mark in graph.primitives.items()
    ]
    return Manifest(
        name=graph.name if name is None else name,
        nodes=tuple(sorted(nodes, key=lambda n: n.id)),
        routes=tuple(sorted(routes, key=lambda r: (r.node, r.direction, r.port))),
        edges=tuple(sorted(edges, key=lambda e: e.id)),
        primitives=tuple(sorted(primitives, key=lambda p: p.id)),
        version=MANIFEST_VERSION_2 if primitives else MANIFEST_VERSION,
    )


def subgraph_manifest(
    sub: Subgraph, *, registry: Contracts | None = None, name: str | None = None
) -> Manifest:
    """Return the manifest of a (valid) subgraph, its instances' promises included."""
    flat = flatten(sub)
    return manifest_of(flat.graph, registry=registry, instances=flat.instances, name=name)


def _stateful(node: Node) -> bool:
    """Whether ``node`` keeps state: as it says, else whether its class overrides snapshot."""
    declared = node.stateful
    if declared is not None:
        return declared
    return type(node).snapshot is not Node.snapshot


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


# -- diff --------------------------------------------------------------------------------------

ChangeKind = Literal[
    "added", "removed", "renamed", "component", "contract", "config", "code", "policy",
    "schema", "rewired",
]  # fmt: skip
"""What a :class:`Change` is: a record added or removed, a node renamed (by its author), its
component replaced, its contract (version) bumped, its config or code changed, a flow or run
policy changed, a route's schema changed, an edge joined to other ports."""

_KINDS: Final[tuple[ChangeKind, ...]] = (
    "renamed", "added", "removed", "component", "contract", "config", "code", "policy",
    "schema", "rewired",
)  # fmt: skip
"""The order of one record's changes: a rename first, the rest as the kinds are listed."""

_NODE_POLICY: Final = (
    "mode", "concurrency", "ordered", "error_policy", "timeout", "cadence", "delivery",
)  # fmt: skip
_EDGE_POLICY: Final = ("capacity", "overflow", "priority", "control")


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two manifests.

    ``subject`` is ``node``, ``route``, ``edge`` or ``primitive``; ``id`` the record's id in
    the newer manifest (the older one's for a removal; ``node.port`` for a route). A
    primitive's ``contract`` change reads ``Name@version`` on each side; its ``config``
    change, the digests of its options. ``old`` and ``new``
    are what changed: ids for a rename, component ids, versions, ``{field: value}`` for a
    policy, schema names with versions. ``lost`` says why a node's saved state cannot survive
    the change, when it cannot: a restore refuses such a diff.
    """

    kind: ChangeKind
    subject: Literal["node", "route", "edge", "primitive"]
    id: str
    old: Any = None
    new: Any = None
    lost: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the change as JSON data."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "id": self.id,
            "old": self.old,
            "new": self.new,
            "lost": self.lost,
        }

    def __str__(self) -> str:
        if self.kind == "renamed":
            line = f"{self.subject} {self.old} renamed to {self.new}"
        elif self.kind in ("added", "removed"):
            line = f"{self.subject} {self.id} {self.kind}"
        elif isinstance(self.old, Mapping) and isinstance(self.new, Mapping):
            parts = [
                f"{key} {_shown(self.old[key])} -> {_shown(self.new[key])}" for key in self.old
            ]
            line = f"{self.subject} {self.id} {self.kind}: {', '.join(parts)}"
        else:
            line = f"{self.subject} {self.id} {self.kind}: {_shown(self.old)} -> {_shown(self.new)}"
        return line if self.lost is None else f"{line}  [state lost: {self.lost}]"


@dataclass(frozen=True, slots=True)
class ManifestDiff:
    """What changed from one manifest (digest ``old``) to another (``new``).

    The changes come in a fixed order: nodes, then routes, then edges, then primitives, each
    by id.
    ``edges`` pairs each edge of the old manifest with its id in the new one where the two
    differ: an edge the author renamed, and one whose id, made from the ports it joins,
    follows a renamed node (which is no change, so not among ``changes``).
    """

    old: str
    new: str
    changes: tuple[Change, ...]
    edges: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changes)

    @property
    def flagged(self) -> tuple[Change, ...]:
        """The changes a node's saved state cannot survive."""
        return tuple(change for change in self.changes if change.lost is not None)

    @property
    def renames(self) -> dict[str, str]:
        """Each renamed node's old id, mapped to its new one."""
        return {c.old: c.new for c in self.changes if c.kind == "renamed" and c.subject == "node"}

    @property
    def edge_renames(self) -> dict[str, str]:
        """Each kept edge whose id changed: its old id, mapped to its new one."""
        return dict(self.edges)

    def to_dict(self) -> dict[str, Any]:
        """Return the diff as JSON data."""
        return {
            "old": self.old,
            "new": self.new,
            "changes": [change.to_dict() for change in self.changes],
        }

    def text(self) -> str:
        """Return the diff as lines a person reads, ``no changes`` when there are none."""
        if not self.changes:
            return "no changes"
        lines = [str(change) for change in self.changes]
        flagged = len(self.flagged)
        if flagged:
            lines.append(
                f"{flagged} change{'s lose' if flagged != 1 else ' loses'} saved state: a run "
                "checkpointed with the old graph cannot resume with the new one"
            )
        return "\n".join(lines)


def _diff(a: Manifest, b: Manifest) -> ManifestDiff:
    old_nodes = {node.id: node for node in a.nodes}
    new_nodes = {node.id: node for node in b.nodes}
    matched: dict[str, str] = {}  # new id -> old id
    taken: set[str] = set()
    for node in b.nodes:  # a rename the author declared first, even onto an id reused
        former = next(
            (
                old
                for old in node.renamed_from
                if old in old_nodes and old not in new_nodes and old not in taken
            ),
            None,
        )
        if former is not None:
            matched[node.id] = former
            taken.add(former)
    for node in b.nodes:
        if node.id not in matched and node.id in old_nodes and node.id not in taken:
            matched[node.id] = node.id
            taken.add(node.id)
    nodes: list[Change] = []
    for node in b.nodes:
        if node.id not in matched:
            nodes.append(Change("added", "node", node.id))
    for node in a.nodes:
        if node.id not in taken:
            nodes.append(Change("removed", "node", node.id, lost=_dropped(node)))
    routes: list[Change] = []
    for new_id, old_id in matched.items():
        before, after = old_nodes[old_id], new_nodes[new_id]
        nodes.extend(_node_changes(before, after))
        routes.extend(_route_changes(a, b, before, after))
    renames = {old: new for new, old in matched.items() if old != new}
    edge_changes, moved = _edge_changes(a, b, renames)
    changes = [
        *sorted(nodes, key=_order),
        *sorted(routes, key=_order),
        *edge_changes,
        *_primitive_changes(a, b),
    ]
    return ManifestDiff(a.digest, b.digest, tuple(changes), moved)


def _primitive_changes(a: Manifest, b: Manifest) -> list[Change]:
    """Return the primitives added, removed, or installed under another contract or options.

    Their nodes' own changes are listed with the nodes; this says what the primitive became.
    """
    old = {p.id: p for p in a.primitives}
    new = {p.id: p for p in b.primitives}
    changes: list[Change] = []
    for pid in sorted(old.keys() | new.keys()):
        before, after = old.get(pid), new.get(pid)
        if before is None:
            changes.append(Change("added", "primitive", pid))
        elif after is None:
            changes.append(Change("removed", "primitive", pid))
        else:
            was, now = f"{before.contract}@{before.version}", f"{after.contract}@{after.version}"
            if was != now:
                changes.append(Change("contract", "primitive", pid, was, now))
            if before.options_digest != after.options_digest:
                changes.append(
                    Change("config", "primitive", pid, before.options_digest, after.options_digest)
                )
    return changes


def _node_changes(before: NodeRecord, after: NodeRecord) -> list[Change]:
    changes: list[Change] = []
    if before.id != after.id:
        changes.append(Change("renamed", "node", after.id, before.id, after.id))
    if before.component != after.component:
        lost = None
        if before.stateful is not False:
            lost = f"state saved by {before.component} cannot be restored into {after.component}"
        changes.append(
            Change("component", "node", after.id, before.component, after.component, lost)
        )
    elif before.contract != after.contract:
        changes.append(Change("contract", "node", after.id, before.contract, after.contract))
    if before.config_digest != after.config_digest:
        changes.append(
            Change("config", "node", after.id, before.config_digest, after.config_digest)
        )
    if before.fingerprint != after.fingerprint:
        changes.append(Change("code", "node", after.id, before.fingerprint, after.fingerprint))
    policy = [key for key in _NODE_POLICY if getattr(before, key) != getattr(after, key)]
    if policy:
        changes.append(
            Change(
                "policy",
                "node",
                after.id,
                {_camel(key): getattr(before, key) for key in policy},
                {_camel(key): getattr(after, key) for key in policy},
            )
        )
    return changes


def _route_changes(a: Manifest, b: Manifest, before: NodeRecord, after: NodeRecord) -> list[Change]:
    old = {(r.direction, r.port): r for r in a.routes if r.node == before.id}
    new = {(r.direction, r.port): r for r in b.routes if r.node == after.id}
    changes: list[Change] = []
    for key in sorted(old.keys() | new.keys()):
        route_id = f"{after.id}.{key[1]}"
        was, now = old.get(key), new.get(key)
        if was is None:
            changes.append(Change("added", "route", route_id))
        elif now is None:
            changes.append(Change("removed", "route", route_id))
        elif (was.schema, was.schema_version) != (now.schema, now.schema_version):
            lost = None
            if before.stateful is not False:
                lost = (
                    f"node {after.id!r} keeps state built from {was.schema} "
                    f"v{was.schema_version} at its {key[0]}put {key[1]!r}"
                )
            changes.append(
                Change(
                    "schema",
                    "route",
                    route_id,
                    f"{was.schema} v{was.schema_version}",
                    f"{now.schema} v{now.schema_version}",
                    lost,
                )
            )
    return changes


def _edge_changes(
    a: Manifest, b: Manifest, renames: Mapping[str, str]
) -> tuple[list[Change], tuple[tuple[str, str], ...]]:
    """Return the edges' changes, and each matched edge's old and new id where they differ."""

    def ends(edge: EdgeRecord, renamed: bool) -> tuple[str, str]:
        if not renamed:
            return edge.source, edge.target
        return _renamed(edge.source, renames), _renamed(edge.target, renames)

    old = {edge.id: edge for edge in a.edges}
    new = {edge.id: edge for edge in b.edges}
    pairs: list[tuple[EdgeRecord, EdgeRecord]] = []
    gone = [edge for edge in a.edges if edge.id not in new]
    came = [edge for edge in b.edges if edge.id not in old]
    by_ends = {ends(edge, True): edge for edge in gone}
    changes: list[Change] = []
    for edge in came:
        was = by_ends.pop(ends(edge, False), None)
        if was is None:
            changes.append(Change("added", "edge", edge.id))
            continue
        pairs.append((was, edge))
        if not (_named_by_ports(was) and _named_by_ports(edge)):
            # (an id made from the ports it joins follows the renamed nodes: no change)
            changes.append(Change("renamed", "edge", edge.id, was.id, edge.id))
    changes.extend(Change("removed", "edge", edge.id) for edge in by_ends.values())
    pairs.extend((old[edge.id], edge) for edge in b.edges if edge.id in old)
    for was, now in pairs:
        if ends(was, True) != ends(now, False):
            changes.append(
                Change(
                    "rewired",
                    "edge",
                    now.id,
                    f"{was.source} -> {was.target}",
                    f"{now.source} -> {now.target}",
                )
            )
        policy = [key for key in _EDGE_POLICY if getattr(was, key) != getattr(now, key)]
        if policy:
            changes.append(
                Change(
                    "policy",
                    "edge",
                    now.id,
                    {key: getattr(was, key) for key in policy},
                    {key: getattr(now, key) for key in policy},
                )
            )
    moved = tuple(sorted((was.id, now.id) for was, now in pairs if was.id != now.id))
    return sorted(changes, key=_order), moved


def _order(change: Change) -> tuple[str, int]:
    return change.id, _KINDS.index(change.kind)


def _renamed(port: str, renames: Mapping[str, str]) -> str:
    node, _, name = port.rpartition(".")
    return f"{renames.get(node, node)}.{name}"


def _named_by_ports(edge: EdgeRecord) -> bool:
    """Whether the edge's id was made from the ports it joins (``a.out->b.in``).

    That is the id a document or ``Subgraph.connect`` gives an edge the author did not name.
    """
    return "->" in edge.id


def _dropped(node: NodeRecord) -> str | None:
    if node.stateful is False:
        return None
    if node.stateful is None:
        return "it may keep state (its instance was not known) and no node takes it over"
    return (
        "it keeps state and no node takes it over (its successor can declare renamedFrom, "
        "renamed_from in Python)"
    )


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _shown(value: object) -> str:
    return "none" if value is None else str(value)


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
    "stateful": (bool, type(None)),
    "renamedFrom": list,
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
_PRIMITIVE_FIELDS: Final = {
    "id": str,
    "contract": str,
    "version": int,
    "maturity": str,
    "optionsDigest": str,
    "provides": list,
    "nodes": list,
}
_TOP: Final = ("manifest", "compatible", "name", "nodes", "routes", "edges", "placement")
_OPTIONAL: Final = ("primitives",)


def _read(data: object) -> Manifest:
    if not isinstance(data, Mapping):
        raise SpecError("manifest: expected an object with manifest, name, nodes, routes, edges")
    unknown = sorted(set(data) - set(_TOP) - set(_OPTIONAL))
    missing = [key for key in _TOP if key not in data]
    if unknown or missing:
        raise SpecError(
            f"manifest: {'unknown field ' + repr(unknown[0]) if unknown else ''}"
            f"{'; ' if unknown and missing else ''}"
            f"{'missing ' + ', '.join(missing) if missing else ''}; a manifest has "
            f"{', '.join(_TOP)}"
        )
    if data["manifest"] not in (MANIFEST_VERSION, MANIFEST_VERSION_2):
        raise SpecError(
            f"manifest.manifest: {data['manifest']!r} is not a format this version reads "
            f"({MANIFEST_VERSION}, {MANIFEST_VERSION_2}); write it again with "
            "`arachne manifest`"
        )
    if ("primitives" in data) != (data["manifest"] == MANIFEST_VERSION_2):
        raise SpecError(
            f"manifest.primitives: {MANIFEST_VERSION_2} lists its primitives, and only it "
            f"does ({data['manifest']!r} here); write it again with `arachne manifest`"
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
            stateful=item["stateful"],
            renamed_from=_former(item["renamedFrom"], item["id"]),
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
    primitives = tuple(
        PrimitiveRecord(**_primitive_fields(item))
        for item in _items(data.get("primitives", []), "primitives", _PRIMITIVE_FIELDS)
    )
    _unique([n.id for n in nodes], "nodes", "id")
    _unique([e.id for e in edges], "edges", "id")
    _unique([p.id for p in primitives], "primitives", "id")
    known = {n.id for n in nodes}
    for index, primitive in enumerate(primitives):
        strangers = [node for node in primitive.nodes if node not in known]
        if strangers:
            raise SpecError(f"manifest.primitives[{index}].nodes: no node {strangers[0]!r}")
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
        primitives=primitives,
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


def _primitive_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """Return a primitive record's fields as ``PrimitiveRecord`` takes them (lists checked)."""
    fields: dict[str, Any] = {}
    for key, value in item.items():
        where = f"primitive {item['id']!r}: {key}"
        fields[_snake(key)] = _names(value, where) if isinstance(value, list) else value
    return fields


def _names(value: list[Any], where: str) -> tuple[str, ...]:
    if not all(isinstance(item, str) and item for item in value):
        raise SpecError(f"manifest: {where} must be a list of names")
    return tuple(value)


def _former(value: list[Any], node_id: str) -> tuple[str, ...]:
    if not all(isinstance(item, str) and item for item in value):
        raise SpecError(f"manifest: node {node_id!r}: renamedFrom must be a list of node ids")
    return tuple(value)


def _unique(ids: list[str], where: str, key: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(ids):
        if value in seen:
            raise SpecError(f"manifest.{where}[{index}].{key}: {value!r} appears twice")
        seen.add(value)


def _snake(key: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in key)
