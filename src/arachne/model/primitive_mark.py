"""What an installed primitive leaves on the subgraph it became, for the manifest and the query.

A primitive (``arachne.primitives``) is installed as a named nested :class:`Subgraph` whose
``primitive`` is a :class:`PrimitiveMark`: the contract it came from, the options it was
installed with, what it provides, the wiring checks it asks of the whole graph, and how to
read its health from its nodes. This layer knows only the mark, so the manifest lists the
primitive as itself and ``Subgraph.validate`` runs its checks, without knowing any primitive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arachne.model.node import Node

if TYPE_CHECKING:
    from arachne.model.composition import SubgraphView
    from arachne.model.specs import LinkSpec, NodeSpec, PortRef
    from arachne.model.validation import Issue

__all__ = [
    "Check",
    "Health",
    "PrimitiveMark",
    "WholeGraph",
    "inside",
    "installed_primitives",
    "owns",
]


@dataclass(frozen=True, slots=True)
class WholeGraph:
    """What a wiring check reads: the flattened graph it landed in, and what that exposes.

    ``exposed`` are the inner outputs the graph being checked leads out of itself (its exposed
    outputs): a port that leads there leads somewhere, into whatever encloses the graph.
    """

    nodes: Mapping[str, NodeSpec]
    links: Mapping[str, LinkSpec]
    exposed: frozenset[PortRef] = frozenset()

    def leads_out(self, node: str, port: str) -> bool:
        """Whether output ``port`` of ``node`` has a link, or is exposed to an enclosing graph."""
        return any(ref.node == node and ref.port == port for ref in self.exposed) or any(
            link.source.node == node and link.source.port == port for link in self.links.values()
        )


def inside(path: str, node: str) -> str:
    """Return the id of ``node`` inside the primitive at ``path`` ("" for the graph's root)."""
    return f"{path}/{node}" if path else node


def owns(path: str, node_id: str) -> bool:
    """Whether node ``node_id`` is one of the primitive's at ``path`` ("": every node)."""
    return not path or node_id.startswith(path + "/")


Check = Callable[[WholeGraph, str], "list[Issue]"]
"""A wiring check: the whole flattened graph and the primitive's path in it; its problems."""

Health = Callable[["Mapping[str, Node]"], "Mapping[str, Any]"]
"""How to read a primitive's health: its nodes (by id inside it); a JSON-able mapping."""


@dataclass(frozen=True, slots=True)
class PrimitiveMark:
    """An installed primitive: its contract, version and maturity, options and checks."""

    contract: str
    version: int
    maturity: str
    options: Mapping[str, Any] = field(default_factory=dict)  # (JSON-able: what it was given)
    provides: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
    health: Health | None = None


def installed_primitives(
    sub: SubgraphView, prefix: str = ""
) -> Iterator[tuple[str, PrimitiveMark]]:
    """Yield ``(path, mark)`` for every primitive in ``sub``: nested ones, and ``sub`` itself.

    ``sub`` itself, when it is a primitive run on its own, has the path ``prefix`` without its
    last ``/`` (``""`` at the root: its nodes' ids are then its own).
    """
    own = getattr(sub, "primitive", None)
    if isinstance(own, PrimitiveMark):
        yield prefix.removesuffix("/"), own
    for member in sub.members:
        if not isinstance(member.unit, Node):
            yield from installed_primitives(member.unit, f"{prefix}{member.id}/")
