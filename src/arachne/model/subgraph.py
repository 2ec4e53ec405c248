"""Subgraph: the builder for a graph of nodes and nested subgraphs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arachne.model.checks import check_subgraph
from arachne.model.composition import Connection, Endpoint
from arachne.model.errors import GraphError
from arachne.model.flatten import exposed_specs, flatten
from arachne.model.node import Node
from arachne.model.primitive_mark import PrimitiveMark, WholeGraph, installed_primitives
from arachne.model.specs import check_link_options
from arachne.model.validation import errors_in

if TYPE_CHECKING:
    from arachne.model.graph import Graph
    from arachne.model.policies import Overflow
    from arachne.model.port import PortSpec
    from arachne.model.validation import Issue

__all__ = ["Endpoint", "Subgraph"]


@dataclass(frozen=True, slots=True)
class Member:
    """A node or nested subgraph added under a name, with config overrides.

    Defined here, not in ``composition``, because ``unit`` is typed with ``Subgraph``;
    validation and flattening read it as a ``MemberView``.
    """

    id: str
    unit: Node | Subgraph
    config: Mapping[str, Any] | None
    renamed_from: tuple[str, ...] = ()


class Subgraph:
    """Nodes and nested subgraphs wired together, with ports exposed to an enclosing graph.

    Wiring is recorded as given and checked by :meth:`validate`, so nodes may be added in any
    order; :meth:`to_graph` flattens it into a :class:`~arachne.model.graph.Graph` whose node
    ids are paths (``etl/parse``), raising ``GraphError`` with every problem if it is invalid.
    """

    def __init__(self, name: str | None = None) -> None:
        if name is not None and (not name or "/" in name):
            raise ValueError(f"subgraph name {name!r} must be non-empty and contain no '/'")
        self._name = name
        self.members: list[Member] = []
        self.connections: list[Connection] = []
        self.exposed_inputs: dict[str, list[Endpoint]] = {}
        self.exposed_outputs: dict[str, Endpoint] = {}
        self.primitive: PrimitiveMark | None = None  # (set when a primitive installed it)

    def name(self) -> str:
        """Return the subgraph's name (empty for an anonymous top-level graph)."""
        return self._name or ""

    def add_node(
        self,
        unit: Node | Subgraph,
        *,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        renamed_from: str | Sequence[str] = (),
    ) -> str:
        """Add a node or a nested subgraph and return the name it is known by here.

        ``name`` overrides the unit's own name; ``config`` is merged over the node's config.
        ``renamed_from`` names what the node was called before (one name or several, in this
        subgraph): a resumed run's saved state for that name follows it, and a manifest diff
        shows one ``renamed`` change instead of a removal and an addition.
        """
        if not isinstance(unit, Node | Subgraph):
            raise TypeError(
                f"add_node() takes a Node or Subgraph instance, got {unit!r}; "
                "instantiate the class first (e.g. add_node(Producer()))"
            )
        member_id = name or unit.name()
        if not member_id:
            raise ValueError("a nested subgraph needs a name: Subgraph('etl') or name='etl'")
        if "/" in member_id or "." in member_id:
            raise ValueError(f"node name {member_id!r} may not contain '/' or '.'; rename it")
        if not isinstance(renamed_from, str | list | tuple):
            raise TypeError(
                f"renamed_from: expected a node name or a list of them, got {renamed_from!r}"
            )
        former = (renamed_from,) if isinstance(renamed_from, str) else tuple(renamed_from)
        if len(set(former)) != len(former):
            raise ValueError(f"renamed_from: {list(former)!r} names a node twice")
        for old in former:
            if not isinstance(old, str) or not old or "/" in old or "." in old:
                raise ValueError(
                    f"renamed_from: {old!r} is no node name (non-empty, no '/' or '.')"
                )
        self.members.append(Member(member_id, unit, dict(config) if config else None, former))
        return member_id

    def connect(
        self,
        src: Endpoint,
        dst: Endpoint,
        capacity: int = 1024,
        overflow: Overflow = "block",
        priority: int = 0,
        control: bool = False,
        *,
        id: str | None = None,  # the blueprint's name for a link id
    ) -> str:
        """Link output ``src`` = ``(node, port)`` to input ``dst`` and return the link's id.

        ``capacity`` bounds the edge; ``overflow`` says what happens when it is full;
        ``priority`` orders work (higher first); ``control=True`` puts the link on the
        control plane, served before any data link.
        """
        source, target = _endpoint(src, "src"), _endpoint(dst, "dst")
        link_id = id or f"{source[0]}.{source[1]}->{target[0]}.{target[1]}"
        check_link_options(capacity, overflow, priority, where=link_id)
        self.connections.append(
            Connection(source, target, capacity, overflow, priority, bool(control), id)
        )
        return link_id

    def expose_input(self, name: str, target: Endpoint) -> None:
        """Make input ``target`` reachable from outside as this subgraph's port ``name``.

        Exposing one name several times feeds every target from it.
        """
        self.exposed_inputs.setdefault(name, []).append(_endpoint(target, "target"))

    def expose_output(self, name: str, source: Endpoint) -> None:
        """Make output ``source`` reachable from outside as this subgraph's port ``name``."""
        if name in self.exposed_outputs:
            raise ValueError(f"output {name!r} is already exposed; pick another name")
        self.exposed_outputs[name] = _endpoint(source, "source")

    def inputs(self) -> dict[str, PortSpec]:
        """Return the exposed inputs as port specs (schemas taken from the inner ports)."""
        return exposed_specs(self, "input")

    def outputs(self) -> dict[str, PortSpec]:
        """Return the exposed outputs as port specs (schemas taken from the inner ports)."""
        return exposed_specs(self, "output")

    def validate(self) -> list[Issue]:
        """Return every problem found: errors first, then warnings.

        Errors: unknown node, unknown port, incompatible schemas, cycle, duplicate node name;
        then, once the wiring resolves, what each installed primitive refuses of it (an
        unsafe wiring, named with its fix). Warnings: inputs and outputs left unconnected.
        """
        issues = check_subgraph(self)
        primitives = list(installed_primitives(self))
        if primitives and not errors_in(issues):
            flat = flatten(self)
            graph = WholeGraph(flat.graph.nodes, flat.graph.links, frozenset(flat.outputs.values()))
            issues += [
                issue
                for path, mark in primitives
                for check in mark.checks
                for issue in check(graph, path)
            ]
            issues.sort(key=lambda issue: issue.severity != "error")  # (errors first)
        return issues

    def to_graph(self) -> Graph:
        """Return the flattened graph; raise ``GraphError`` listing every error if invalid."""
        errors = errors_in(self.validate())
        if errors:
            raise GraphError.from_issues(errors)
        return flatten(self).graph

    def instances(self) -> dict[str, Node]:
        """Return the node instances by flattened id, for a graph that validates."""
        return flatten(self).instances


def _endpoint(value: object, arg: str) -> Endpoint:
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(part, str) and part for part in value)
    ):
        return (value[0], value[1])
    raise TypeError(f"{arg} must be a (node name, port name) tuple of two strings, got {value!r}")
