"""Flattening: a subgraph and its nested subgraphs become one graph with path ids."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from arachne.model.error_record import ERROR_PORT, ErrorRecord
from arachne.model.errors import GraphError
from arachne.model.graph import Graph
from arachne.model.node import Node, async_hooks
from arachne.model.port import PortSpec
from arachne.model.primitive_mark import installed_primitives
from arachne.model.specs import LinkSpec, NodeSpec, PortRef

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from arachne.model.composition import Endpoint, SubgraphView
    from arachne.model.policies import Mode

ERROR_PORT_SPEC: Final = PortSpec(ERROR_PORT, ErrorRecord, "messages a hook failed on")
"""The implicit output every node has for failed messages."""

__all__ = [
    "ERROR_PORT_SPEC",
    "Flat",
    "exposed_specs",
    "flatten",
    "flow_pairs",
    "node_kind",
    "node_spec",
    "port_of",
]


@dataclass(slots=True)
class Flat:
    """A flattened subgraph: the graph, its node instances and where its exposed ports lead."""

    graph: Graph
    instances: dict[str, Node]
    inputs: dict[str, list[PortRef]] = field(default_factory=dict)
    outputs: dict[str, PortRef] = field(default_factory=dict)


def node_kind(node: Node) -> str:
    """Return the ``kind`` a node's spec records.

    That is the component id it was built from (by a registry, from a document), else
    ``module:QualName`` of its class.
    """
    if node._arachne_kind is not None:
        return node._arachne_kind
    cls = type(node)
    return f"{cls.__module__}:{cls.__qualname__}"


def flatten(sub: SubgraphView, prefix: str = "") -> Flat:
    """Return ``sub`` flattened, node ids prefixed with ``prefix``; assumes it validates.

    A link keeps the id ``connect`` returned, prefixed with the subgraph's path; when an
    exposed input feeds several inner targets, the links get ``#1``, ``#2``, ...
    """
    resolved = _resolve(sub, prefix, tolerant=False)
    primitives = {prefix + path: mark for path, mark in installed_primitives(sub)}
    graph = Graph(resolved.specs, resolved.links, sub.name(), primitives)
    return Flat(graph, resolved.instances, resolved.inputs, resolved.outputs)


def flow_pairs(sub: SubgraphView) -> list[tuple[str, str]]:
    """Return ``(upstream, downstream)`` node-id pairs of every link that can be resolved.

    Tolerates unknown nodes and ports (skipping those links), so cycles can be reported next
    to wiring errors rather than only once those are fixed.
    """
    return [(link.source.node, link.target.node) for link in _resolve(sub, "", True).links]


@dataclass(slots=True)
class _Resolved:
    specs: list[NodeSpec] = field(default_factory=list)
    links: list[LinkSpec] = field(default_factory=list)
    instances: dict[str, Node] = field(default_factory=dict)
    inputs: dict[str, list[PortRef]] = field(default_factory=dict)
    outputs: dict[str, PortRef] = field(default_factory=dict)


def _resolve(
    sub: SubgraphView, prefix: str, tolerant: bool, former: tuple[str, ...] = ()
) -> _Resolved:
    """Resolve ``sub`` under ``prefix``; ``former`` are prefixes it had before (renames)."""
    out = _Resolved()
    nested: dict[str, _Resolved] = {}
    nodes: set[str] = set()
    for member in sub.members:
        path = prefix + member.id
        # What the author says this member was called before, as whole flattened ids.
        # (in the author's order: a diff takes the first that the older graph has)
        was = [
            old
            for old in dict.fromkeys(
                before + name
                for before in (prefix, *former)
                for name in (member.id, *member.renamed_from)
            )
            if old != path
        ]
        if isinstance(member.unit, Node):
            if not tolerant:
                spec = node_spec(path, member.unit, member.config)
                if was:
                    spec = dataclasses.replace(spec, renamed_from=tuple(was))
                out.specs.append(spec)
            out.instances[path] = member.unit
            nodes.add(member.id)
        else:
            inner = nested[member.id] = _resolve(
                member.unit, path + "/", tolerant, tuple(f"{old}/" for old in was)
            )
            out.specs.extend(inner.specs)
            out.links.extend(inner.links)
            out.instances.update(inner.instances)

    def sources(name: str, port: str) -> list[PortRef]:
        if name in nested:
            ref = nested[name].outputs.get(port)
            return [ref] if ref is not None else _missing(tolerant, name, port)
        return [PortRef(prefix + name, port)] if name in nodes else _missing(tolerant, name, port)

    def targets(name: str, port: str) -> list[PortRef]:
        if name in nested:
            refs = nested[name].inputs.get(port)
            return list(refs) if refs is not None else _missing(tolerant, name, port)
        return [PortRef(prefix + name, port)] if name in nodes else _missing(tolerant, name, port)

    taken = {link.id for link in out.links}
    for conn in sub.connections:
        pairs = [(s, t) for s in sources(*conn.source) for t in targets(*conn.target)]
        (src, src_port), (dst, dst_port) = conn.source, conn.target
        base = prefix + (conn.id or f"{src}.{src_port}->{dst}.{dst_port}")
        for index, (source, target) in enumerate(pairs):
            link_id = _unique(base if len(pairs) == 1 else f"{base}#{index + 1}", taken)
            taken.add(link_id)
            out.links.append(
                LinkSpec(
                    link_id,
                    source,
                    target,
                    conn.capacity,
                    conn.overflow,
                    conn.priority,
                    conn.control,
                )
            )
    for name, endpoints in sub.exposed_inputs.items():
        out.inputs[name] = [ref for ep in endpoints for ref in targets(*ep)]
    for name, endpoint in sub.exposed_outputs.items():
        found = sources(*endpoint)
        if found:
            out.outputs[name] = found[0]
    return out


def _missing(tolerant: bool, name: str, port: str) -> list[PortRef]:
    if tolerant:
        return []
    raise GraphError(f"cannot resolve {name}.{port}; run validate() for the full report")


def port_of(
    unit: Node | SubgraphView, direction: Literal["input", "output"], port: str
) -> PortSpec:
    """Return the spec of ``port`` on a node or subgraph; ``KeyError`` if it has none."""
    if isinstance(unit, Node):
        if direction == "output" and port == ERROR_PORT:
            return ERROR_PORT_SPEC
        specs = unit.input_specs() if direction == "input" else unit.output_specs()
    else:
        specs = exposed_specs(unit, direction)
    return specs[port]


def exposed_specs(sub: SubgraphView, direction: Literal["input", "output"]) -> dict[str, PortSpec]:
    """Return the exposed ports of ``sub`` named as exposed, typed as the inner ports.

    Exposures that point at unknown nodes or ports are left out (``validate`` reports them).
    """
    members = {m.id: m.unit for m in sub.members}
    result: dict[str, PortSpec] = {}
    exposures: Mapping[str, Sequence[Endpoint]] = (
        sub.exposed_inputs
        if direction == "input"
        else {k: [v] for k, v in sub.exposed_outputs.items()}
    )
    for name, endpoints in exposures.items():
        node_id, port = endpoints[0]
        unit = members.get(node_id)
        if unit is None:
            continue
        try:
            inner = port_of(unit, direction, port)
        except (KeyError, TypeError, ValueError):
            continue
        result[name] = PortSpec(name, inner.schema, inner.description)
    return result


def node_spec(path: str, node: Node, overrides: Mapping[str, Any] | None = None) -> NodeSpec:
    """Return the spec of ``node`` under id ``path``: its ports, config and options.

    ``overrides`` are config keys laid over the ones the node was built with.
    """
    config = dict(node._arachne_config)  # the config given at construction
    config.update(overrides or {})
    return NodeSpec(
        id=path,
        kind=node_kind(node),
        inputs=tuple(node.input_specs().values()),
        outputs=(*node.output_specs().values(), ERROR_PORT_SPEC),
        config=config,
        cadence=node.cadence,
        mode=_mode(node),
        concurrency=node.concurrency,
        ordered=node.ordered,
        error_policy=node.error_policy,
        timeout=node.timeout,
        fingerprint=node.fingerprint(),
    )


def _mode(node: Node) -> Mode:
    """Return the node's mode; ``async def`` hooks on a node left inline make it ``async``."""
    if node.mode == "inline" and async_hooks(node):
        return "async"
    return node.mode


def _unique(link_id: str, taken: set[str]) -> str:
    candidate, n = link_id, 1
    while candidate in taken:
        n += 1
        candidate = f"{link_id}#{n}"
    return candidate
