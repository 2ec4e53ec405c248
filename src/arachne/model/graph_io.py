"""Graphs as plain data: ``to_dict``/``from_dict`` and the deterministic checksum."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from arachne.model.errors import GraphError
from arachne.model.policies import (
    Coalesce,
    error_policy_from_data,
    error_policy_to_data,
    overflow_name,
)
from arachne.model.port import PortSpec
from arachne.model.specs import GraphView, LinkSpec, NodeSpec, PortRef

__all__ = ["FORMAT_VERSION", "config_checksum", "graph_checksum", "graph_parts", "graph_to_dict"]

FORMAT_VERSION: Final = "1.0"


def graph_to_dict(graph: GraphView) -> dict[str, Any]:
    """Return ``graph`` as JSON-ready data, nodes and links in insertion order."""
    return {
        "arachne": FORMAT_VERSION,
        "name": graph.name,
        "nodes": [_node_to_dict(spec) for spec in graph.nodes.values()],
        "edges": [_link_to_dict(link) for link in graph.links.values()],
    }


def graph_checksum(graph: GraphView) -> str:
    """Return the SHA-256 hex digest of the graph's canonical JSON."""
    canonical = json.dumps(graph_to_dict(graph), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def config_checksum(config: Mapping[str, Any]) -> str | None:
    """Return the SHA-256 hex digest of a node config's canonical JSON; ``None`` if it has none.

    A config holding a function or another object JSON cannot write has no checksum.
    """
    try:
        canonical = json.dumps(dict(config), sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(canonical.encode()).hexdigest()


def graph_parts(data: Mapping[str, Any]) -> tuple[list[NodeSpec], list[LinkSpec], str]:
    """Return the nodes, links and name described by ``data``; raise ``GraphError`` if bad."""
    if not isinstance(data, Mapping):
        raise GraphError(f"a graph must be a mapping, got {type(data).__name__}")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise GraphError(f"name: expected a string, got {type(name).__name__}")
    nodes = [_node_from_dict(item, f"nodes[{i}]") for i, item in enumerate(_list(data, "nodes"))]
    links = [_link_from_dict(item, f"edges[{i}]") for i, item in enumerate(_list(data, "edges"))]
    return nodes, links, name


def _node_to_dict(spec: NodeSpec) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": spec.id,
        "kind": spec.kind,
        "config": dict(spec.config),
        "inputs": {p.name: p.schema_name for p in spec.inputs},
        "outputs": {p.name: p.schema_name for p in spec.outputs},
        "cadence": spec.cadence,
        "mode": spec.mode,
        "concurrency": spec.concurrency,
        "ordered": spec.ordered,
        "error_policy": error_policy_to_data(spec.error_policy),
        "timeout": spec.timeout,
    }
    if spec.fingerprint is not None:  # only then: other graphs keep their checksums
        data["fingerprint"] = spec.fingerprint
    if spec.renamed_from:
        data["renamed_from"] = list(spec.renamed_from)
    return data


def _link_to_dict(link: LinkSpec) -> dict[str, Any]:
    return {
        "id": link.id,
        "source": {"node": link.source.node, "port": link.source.port},
        "target": {"node": link.target.node, "port": link.target.port},
        "capacity": link.capacity,
        "overflow": overflow_name(link.overflow),
        "priority": link.priority,
        "control": link.control,
    }


def _node_from_dict(item: Any, path: str) -> NodeSpec:
    item = _mapping(item, path)
    cadence = item.get("cadence")
    if cadence is not None and (
        isinstance(cadence, bool) or not isinstance(cadence, int | float) or cadence < 0
    ):
        raise GraphError(f"{path}.cadence: expected a number >= 0 or null, got {cadence!r}")
    try:
        return NodeSpec(
            id=_str(item, "id", path),
            kind=_str(item, "kind", path),
            inputs=_ports(item.get("inputs", {}), f"{path}.inputs"),
            outputs=_ports(item.get("outputs", {}), f"{path}.outputs"),
            config=_mapping(item.get("config", {}), f"{path}.config"),
            cadence=cadence,
            mode=item.get("mode", "inline"),
            concurrency=item.get("concurrency", 1),
            ordered=_bool(item, "ordered", path, default=True),
            error_policy=error_policy_from_data(item.get("error_policy", "fail")),
            timeout=item.get("timeout"),
            fingerprint=item.get("fingerprint"),
            renamed_from=_names(item.get("renamed_from", []), f"{path}.renamed_from"),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, GraphError):
            raise
        raise GraphError(f"{path}: {exc}") from None


def _link_from_dict(item: Any, path: str) -> LinkSpec:
    item = _mapping(item, path)
    overflow = item.get("overflow", "block")
    if overflow == "coalesce" or isinstance(overflow, Coalesce):
        raise GraphError(
            f"{path}.overflow: 'coalesce' needs a merge function that plain data cannot carry; "
            "load the graph, then set Coalesce(fn) on the link in Python"
        )
    source, target = _ref(item, "source", path), _ref(item, "target", path)
    link_id = _str(item, "id", path) if "id" in item else f"{source}->{target}"
    control = _bool(item, "control", path, default=False)
    try:
        return LinkSpec(
            id=link_id,
            source=source,
            target=target,
            capacity=item.get("capacity", 1024),
            overflow=overflow,
            priority=item.get("priority", 0),
            control=control,
        )
    except ValueError as exc:
        raise GraphError(f"{path}: {exc}") from None


def _bool(item: Mapping[str, Any], key: str, path: str, *, default: bool) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        raise GraphError(f"{path}.{key}: expected true or false, got {value!r}")
    return value


def _ref(item: Mapping[str, Any], key: str, path: str) -> PortRef:
    ref = _mapping(item.get(key), f"{path}.{key}")
    return PortRef(_str(ref, "node", f"{path}.{key}"), _str(ref, "port", f"{path}.{key}"))


def _ports(value: Any, path: str) -> tuple[PortSpec, ...]:
    ports = _mapping(value, path)
    return tuple(PortSpec(str(name), schema) for name, schema in ports.items())


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise GraphError(f"{key}: expected a list, got {type(value).__name__}")
    return value


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise GraphError(f"{path}: expected an object, got {type(value).__name__}")
    return value


def _str(item: Mapping[str, Any], key: str, path: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise GraphError(f"{path}.{key}: expected a non-empty string, got {value!r}")
    return value


def _names(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise GraphError(f"{path}: expected a list of node ids, got {value!r}")
    return tuple(value)
