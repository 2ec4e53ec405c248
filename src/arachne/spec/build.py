"""Building: a checked document to a complete, valid ``Subgraph``, or one ``SpecError``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from arachne.components.registry import Registry
from arachne.model.error_record import ERROR_PORT
from arachne.model.errors import SpecError
from arachne.model.node import Node
from arachne.model.subgraph import Subgraph
from arachne.model.validation import errors_in
from arachne.primitives.contract import PrimitiveError, contracts
from arachne.spec._problems import Problems, did_you_mean
from arachne.spec.document import GraphDocument
from arachne.spec.parse import parse_document
from arachne.spec.reading import read_document
from arachne.spec.topology import cycle_problems

if TYPE_CHECKING:
    from arachne.spec.document import ExposedPortDoc, NodeDoc, PortRefDoc

__all__ = ["build", "load", "port_names"]

_Direction = Literal["input", "output"]


def build(doc: GraphDocument, registry: Registry | None = None) -> Subgraph:
    """Return the graph ``doc`` describes, built from ``registry``'s components.

    ``registry`` defaults to :meth:`Registry.default` (built-ins and entry points). The
    subgraph is anonymous, so registered on a ``Runtime`` its node ids are the document's;
    added to another subgraph it nests (``parent/child``). Either every node is created,
    every port exists and ``Subgraph.validate()`` finds no error, or ``SpecError`` lists
    every problem (cycles, unknown components, bad config, unknown ports, schema clashes);
    nothing half-built is returned.
    """
    if not isinstance(doc, GraphDocument):
        raise TypeError(f"build() takes a GraphDocument, got {type(doc).__name__}; see load()")
    registry = Registry.default() if registry is None else registry
    if doc.components:
        registry = registry.with_code(doc.components)
    problems = Problems()
    for message in cycle_problems(doc):
        problems.add("", message, "cycle")
    units: dict[str, Node | Subgraph] = {}
    for index, node in enumerate(doc.nodes):
        unit = _create(registry, node, index, problems)
        if unit is not None:
            units[node.id] = unit
    ports = _Ports(doc, units, problems)
    for index, edge in enumerate(doc.edges):
        ports.check(edge.source, "output", f"edges[{index}].source")
        ports.check(edge.target, "input", f"edges[{index}].target")
    for index, port in enumerate(doc.inputs):
        ports.check(port, "input", f"inputs[{index}]")
    for index, port in enumerate(doc.outputs):
        ports.check(port, "output", f"outputs[{index}]")
    problems.check()
    sub = _assemble(doc, units)
    problems.extend(errors_in(sub.validate()))
    problems.check()
    return sub


def load(
    source: str | os.PathLike[str] | Mapping[str, object] | GraphDocument,
    *,
    registry: Registry | None = None,
) -> Subgraph:
    """Return the graph built from a file path, a parsed document (a mapping) or a document."""
    if isinstance(source, GraphDocument):
        doc = source
    elif isinstance(source, Mapping):
        doc = parse_document(source)
    elif isinstance(source, str | os.PathLike):
        doc = read_document(source)
    else:
        raise TypeError(
            f"load() takes a path, a mapping or a GraphDocument, got {type(source).__name__}"
        )
    return build(doc, registry)


def _create(
    registry: Registry, node: NodeDoc, index: int, problems: Problems
) -> Node | Subgraph | None:
    where = f"nodes[{index}]"
    try:
        unit: object = registry.create(node.component, node.config, where=where)
        if isinstance(unit, Node):
            unit._arachne_kind = registry.resolve(node.component).id
    except SpecError as exc:
        problems.add(where, str(exc), "component")
        return None
    except Exception as exc:  # a broken factory must surface as a SpecError, like the rest
        problems.add(
            where,
            f"component {node.component!r} failed to build: {type(exc).__name__}: {exc}",
            "component",
        )
        return None
    if not isinstance(unit, Node | Subgraph):
        problems.add(
            where,
            f"component {node.component!r} built a {type(unit).__name__}, not a Node or "
            "Subgraph; fix its factory",
            "component",
        )
        return None
    if node.errors is not None:
        if isinstance(unit, Subgraph):
            return _primitive_with_errors(unit, node, where, problems)
        unit.error_policy = node.errors
    return unit


def _primitive_with_errors(
    unit: Subgraph, node: NodeDoc, where: str, problems: Problems
) -> Subgraph | None:
    """Return primitive ``unit`` installed again with ``errors`` as its ``error_policy`` option.

    A composite graph, or a primitive with no error policy, is refused: set errors on its nodes.
    """
    mark = unit.primitive
    contract = next((c for c in contracts() if mark is not None and c.name == mark.contract), None)
    if contract is None or "error_policy" not in {p.name for p in contract.policies}:
        problems.add(
            f"{where}.errors",
            f"component {node.component!r} is a composite graph"
            + (f" (the {contract.name} primitive, which has no error policy)" if contract else "")
            + "; set errors on its nodes",
            "component",
        )
        return None
    try:
        return contract.fragment(contract.name, **{**node.config, "error_policy": node.errors}).unit
    except PrimitiveError as exc:
        problems.add(f"{where}.errors", str(exc), "component")
        return None


class _Ports:
    """The port names of built units, looked up once per unit and direction."""

    def __init__(
        self, doc: GraphDocument, units: dict[str, Node | Subgraph], problems: Problems
    ) -> None:
        self.components = {node.id: node.component for node in doc.nodes}
        self.units, self.problems = units, problems
        self.cache: dict[tuple[str, _Direction], list[str] | None] = {}

    def names(self, node: str, direction: _Direction) -> list[str] | None:
        key = (node, direction)
        if key not in self.cache:
            unit = self.units[node]
            try:
                found = port_names(unit, direction)
                if isinstance(unit, Node) and direction == "output":
                    found.append(ERROR_PORT)
            except (TypeError, ValueError) as exc:
                self.problems.add(node, f"component {self.components[node]!r}: {exc}", "ports")
                found = None
            self.cache[key] = found
        return self.cache[key]

    def check(self, ref: PortRefDoc | ExposedPortDoc, direction: _Direction, where: str) -> None:
        node, port = ref.node, ref.port
        if node not in self.units:
            return  # its node failed to build (reported) or is unknown (parse reports it)
        names = self.names(node, direction)
        if names is None or port in names:
            return
        self.problems.add(
            f"{where}.port",
            f"node {node!r} ({self.components[node]}) has no {direction} port {port!r}"
            f"{did_you_mean(port, names)} (its {direction}s: {', '.join(names) or 'none'})",
            "unknown-port",
        )


def _assemble(doc: GraphDocument, units: dict[str, Node | Subgraph]) -> Subgraph:
    sub = Subgraph()
    try:
        for node in doc.nodes:
            sub.add_node(units[node.id], name=node.id, renamed_from=node.renamed_from)
        for edge in doc.edges:
            sub.connect(
                (edge.source.node, edge.source.port),
                (edge.target.node, edge.target.port),
                capacity=edge.capacity,
                overflow=edge.overflow,
                priority=edge.priority,
                control=edge.control,
                id=edge.id,
            )
        for port in doc.inputs:
            sub.expose_input(port.name, (port.node, port.port))
        for port in doc.outputs:
            sub.expose_output(port.name, (port.node, port.port))
    except (TypeError, ValueError) as exc:  # only a document built by hand gets here
        raise SpecError(f"graph {doc.name!r}: {exc}") from exc
    return sub


def port_names(unit: Node | Subgraph, direction: _Direction) -> list[str]:
    """Return the declared input or output port names of a node or subgraph (not ``error``)."""
    if isinstance(unit, Node):
        return list(unit.input_specs() if direction == "input" else unit.output_specs())
    return list(unit.inputs() if direction == "input" else unit.outputs())
