"""Flattening: a subgraph and its nested subgraphs become one graph with path ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from arachne.model.graph import Graph
from arachne.model.node import Node
from arachne.model.port import PortSpec
from arachne.model.specs import LinkSpec, NodeSpec, PortRef

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from arachne.model.subgraph import Subgraph

__all__ = ["Flat", "exposed_specs", "flatten", "node_kind", "port_of"]


@dataclass(slots=True)
class Flat:
    """A flattened subgraph: the graph, its node instances and where its exposed ports lead."""

    graph: Graph
    instances: dict[str, Node]
    inputs: dict[str, list[PortRef]] = field(default_factory=dict)
    outputs: dict[str, PortRef] = field(default_factory=dict)


def node_kind(node: Node) -> str:
    """Return ``module:QualName`` of a node's class, the ``kind`` its spec records."""
    cls = type(node)
    return f"{cls.__module__}:{cls.__qualname__}"


def flatten(sub: Subgraph, prefix: str = "") -> Flat:
    """Return ``sub`` flattened, node ids prefixed with ``prefix``; assumes it validates."""
    nodes: list[NodeSpec] = []
    links: list[LinkSpec] = []
    instances: dict[str, Node] = {}
    nested: dict[str, Flat] = {}
    for member in sub.members:
        path = prefix + member.id
        if isinstance(member.unit, Node):
            nodes.append(_spec(path, member.unit, member.config))
            instances[path] = member.unit
        else:
            inner = flatten(member.unit, path + "/")
            nested[member.id] = inner
            nodes.extend(inner.graph.nodes.values())
            links.extend(inner.graph.links.values())
            instances.update(inner.instances)

    def sources(name: str, port: str) -> list[PortRef]:
        return [nested[name].outputs[port]] if name in nested else [PortRef(prefix + name, port)]

    def targets(name: str, port: str) -> list[PortRef]:
        return list(nested[name].inputs[port]) if name in nested else [PortRef(prefix + name, port)]

    taken = {link.id for link in links}
    for conn in sub.connections:
        pairs = [(s, t) for s in sources(*conn.source) for t in targets(*conn.target)]
        for index, (src, dst) in enumerate(pairs):
            base = prefix + conn.id if conn.id else f"{src}->{dst}"
            link_id = base if len(pairs) == 1 or not conn.id else f"{base}#{index + 1}"
            link_id = _unique(link_id, taken)
            taken.add(link_id)
            links.append(
                LinkSpec(
                    link_id,
                    src,
                    dst,
                    conn.capacity,
                    conn.overflow,
                    conn.priority,
                    conn.control,
                )
            )
    flat = Flat(Graph(nodes, links, sub.name()), instances)
    for name, endpoints in sub.exposed_inputs.items():
        flat.inputs[name] = [ref for ep in endpoints for ref in targets(*ep)]
    for name, endpoint in sub.exposed_outputs.items():
        flat.outputs[name] = sources(*endpoint)[0]
    return flat


def port_of(unit: Node | Subgraph, direction: Literal["input", "output"], port: str) -> PortSpec:
    """Return the spec of ``port`` on a node or subgraph; ``KeyError`` if it has none."""
    if isinstance(unit, Node):
        specs = unit.input_specs() if direction == "input" else unit.output_specs()
    else:
        specs = exposed_specs(unit, direction)
    return specs[port]


def exposed_specs(sub: Subgraph, direction: Literal["input", "output"]) -> dict[str, PortSpec]:
    """Return the exposed ports of ``sub`` named as exposed, typed as the inner ports.

    Exposures that point at unknown nodes or ports are left out (``validate`` reports them).
    """
    members = {m.id: m.unit for m in sub.members}
    result: dict[str, PortSpec] = {}
    exposures: dict[str, list[tuple[str, str]]] = (
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


def _spec(path: str, node: Node, overrides: Mapping[str, Any] | None) -> NodeSpec:
    config = dict(node._arachne_config)  # the config given at construction
    config.update(overrides or {})
    return NodeSpec(
        id=path,
        kind=node_kind(node),
        inputs=tuple(node.input_specs().values()),
        outputs=tuple(node.output_specs().values()),
        config=config,
        cadence=node.cadence,
    )


def _unique(link_id: str, taken: set[str]) -> str:
    candidate, n = link_id, 1
    while candidate in taken:
        n += 1
        candidate = f"{link_id}#{n}"
    return candidate
