"""The graph document model: what a JSON or YAML graph document says, as frozen data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias

from arachne.model.policies import ErrorPolicy, OverflowName, error_policy_to_data

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_VERSION",
    "Dialect",
    "EdgeDoc",
    "ExposedPortDoc",
    "GraphDocument",
    "NodeDoc",
    "PortRefDoc",
]

Dialect: TypeAlias = Literal["arachne", "symbia"]
"""The key a document states its format version with: ours, or the Runtime Service's."""

DEFAULT_VERSION: Final = "1.0.0"
"""A document's ``version`` when it gives none."""

DEFAULT_CAPACITY: Final = 1024
"""An edge's ``capacity`` when it gives none (the same default as ``Subgraph.connect``)."""

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


def _frozen(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if value is None else MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class PortRefDoc:
    """One port of one node: ``{"node": "double", "port": "out"}``, or ``"double:out"``."""

    node: str
    port: str

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"node": ..., "port": ...}``."""
        return {"node": self.node, "port": self.port}

    def __str__(self) -> str:
        return f"{self.node}:{self.port}"


@dataclass(frozen=True, slots=True)
class NodeDoc:
    """One node: its id, the component that builds it and the component's config.

    ``errors`` overrides the component's error policy (``fail``, ``skip``, ``dead_letter`` or
    a ``Retry``) when it is set. ``renamed_from`` (``renamedFrom``) names ids the node had
    before: a resumed run's saved state follows it (``arachne run --upgrade``).

    ``name``, ``description``, ``position`` and ``metadata`` are informational (editors and
    dashboards keep them); building ignores them.
    """

    id: str
    component: str
    config: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    name: str | None = None
    description: str | None = None
    position: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] | None = None
    errors: ErrorPolicy | None = None
    renamed_from: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))
        object.__setattr__(self, "renamed_from", tuple(self.renamed_from))
        object.__setattr__(self, "position", _frozen(self.position))
        object.__setattr__(self, "metadata", _frozen(self.metadata))

    def to_dict(self) -> dict[str, Any]:
        """Return the node as document data; informational keys only when present."""
        data: dict[str, Any] = {"id": self.id, "component": self.component}
        if self.config:
            data["config"] = _plain(self.config)
        if self.errors is not None:
            data["errors"] = error_policy_to_data(self.errors)
        if self.renamed_from:
            data["renamedFrom"] = list(self.renamed_from)
        for key in ("name", "description", "position", "metadata"):
            value = getattr(self, key)
            if value is not None:
                data[key] = _plain(value)
        return data


@dataclass(frozen=True, slots=True)
class EdgeDoc:
    """One edge from an output port to an input port, with its options filled in.

    An edge without an ``id`` in the text gets ``e<n>`` (``n`` its position from 1, or the
    next free number); ``capacity``, ``overflow``, ``priority`` and ``control`` default to
    ``1024``, ``"block"``, ``0`` and ``False`` as in ``Subgraph.connect``.
    """

    id: str
    source: PortRefDoc
    target: PortRefDoc
    capacity: int = DEFAULT_CAPACITY
    overflow: OverflowName = "block"
    priority: int = 0
    control: bool = False
    generated: bool = field(default=False, compare=False)
    """Whether the id was made here (``e<n>``) rather than given by the author."""

    def to_dict(self) -> dict[str, Any]:
        """Return the edge as document data, every option spelled out."""
        return {
            "id": self.id,
            "source": self.source.to_dict(),
            "target": self.target.to_dict(),
            "capacity": self.capacity,
            "overflow": self.overflow,
            "priority": self.priority,
            "control": self.control,
        }


@dataclass(frozen=True, slots=True)
class ExposedPortDoc:
    """A port of the graph seen from outside (``name``), leading to ``node``'s ``port``."""

    name: str
    node: str
    port: str

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"name": ..., "node": ..., "port": ...}``."""
        return {"name": self.name, "node": self.node, "port": self.port}


@dataclass(frozen=True, slots=True)
class GraphDocument:
    """A whole graph document, checked: every id unique, every edge naming declared nodes.

    ``dialect`` records which version key the text used (``arachne`` or ``symbia``) so
    :meth:`to_dict` writes it back the same way. ``inputs`` and ``outputs`` expose ports for
    use of the graph as a component inside another graph. ``components`` holds the code
    components the document defines for itself (JSON definitions, as ``POST /api/components``
    takes them); building registers them for this graph only, when code is enabled.
    """

    name: str
    nodes: tuple[NodeDoc, ...] = ()
    edges: tuple[EdgeDoc, ...] = ()
    version: str = DEFAULT_VERSION
    description: str | None = None
    inputs: tuple[ExposedPortDoc, ...] = ()
    outputs: tuple[ExposedPortDoc, ...] = ()
    components: tuple[Mapping[str, Any], ...] = ()
    metadata: Mapping[str, Any] | None = None
    dialect: Dialect = "arachne"
    spec_version: str = "1.0"

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", _frozen(self.metadata))
        object.__setattr__(
            self, "components", tuple(_frozen(item) or {} for item in self.components)
        )

    def node(self, node_id: str) -> NodeDoc:
        """Return the node with id ``node_id``; ``KeyError`` if there is none."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def to_dict(self) -> dict[str, Any]:
        """Return the document as JSON-ready data that ``parse_document`` reads back equal."""
        data: dict[str, Any] = {
            self.dialect: self.spec_version,
            "name": self.name,
            "version": self.version,
        }
        if self.description is not None:
            data["description"] = self.description
        data["nodes"] = [node.to_dict() for node in self.nodes]
        data["edges"] = [edge.to_dict() for edge in self.edges]
        if self.inputs:
            data["inputs"] = [port.to_dict() for port in self.inputs]
        if self.outputs:
            data["outputs"] = [port.to_dict() for port in self.outputs]
        if self.components:
            data["components"] = [_plain(item) for item in self.components]
        if self.metadata is not None:
            data["metadata"] = _plain(self.metadata)
        return data


def _plain(value: object) -> Any:
    """Return a deep copy with read-only mappings turned back into dicts."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
