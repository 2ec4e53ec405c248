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
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from arachne.model.composition import SubgraphView
    from arachne.model.node import Node
    from arachne.model.specs import LinkSpec, NodeSpec
    from arachne.model.validation import Issue

__all__ = ["Check", "Health", "PrimitiveMark", "WholeGraph", "installed_primitives"]


class WholeGraph(Protocol):
    """What a wiring check reads of the flattened graph it lands in (a ``Graph`` is one)."""

    @property
    def nodes(self) -> Mapping[str, NodeSpec]:
        """Nodes by id."""
        ...

    @property
    def links(self) -> Mapping[str, LinkSpec]:
        """Links by id."""
        ...


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
    """Yield ``(path, mark)`` for every primitive installed in ``sub``, nested ones too."""
    for member in sub.members:
        unit: Any = member.unit
        mark = getattr(unit, "primitive", None)
        if isinstance(mark, PrimitiveMark):
            yield prefix + member.id, mark
        if hasattr(unit, "members"):
            yield from installed_primitives(unit, f"{prefix}{member.id}/")
