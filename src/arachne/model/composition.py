"""What a subgraph is made of, as its readers see it: endpoints, connections, members.

``Subgraph`` records its wiring with these; validation (``checks``) and flattening
(``flatten``) read it through ``SubgraphView``, so they need not import ``subgraph``, which
calls them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from arachne.model.node import Node
    from arachne.model.policies import Overflow

__all__ = ["Connection", "Endpoint", "MemberView", "SubgraphView"]

Endpoint: TypeAlias = tuple[str, str]
"""A ``(node name, port name)`` pair as passed to ``connect`` and ``expose_*``."""


@dataclass(frozen=True, slots=True)
class Connection:
    """A ``connect`` call as recorded, before names are resolved."""

    source: Endpoint
    target: Endpoint
    capacity: int
    overflow: Overflow
    priority: int
    control: bool
    id: str | None


class MemberView(Protocol):
    """A node or nested subgraph as added to a subgraph: its name there, the unit, overrides."""

    @property
    def id(self) -> str:
        """The name the unit is known by in its subgraph."""
        ...

    @property
    def unit(self) -> Node | SubgraphView:
        """The node, or the nested subgraph."""
        ...

    @property
    def config(self) -> Mapping[str, Any] | None:
        """Config keys laid over the node's own, if any were given."""
        ...

    @property
    def renamed_from(self) -> tuple[str, ...]:
        """Names the author says the unit had before in this subgraph (may be empty)."""
        ...


class SubgraphView(Protocol):
    """What validation and flattening read of a subgraph, nested ones included."""

    def name(self) -> str:
        """Return the subgraph's name (empty for an anonymous top-level graph)."""
        ...

    @property
    def members(self) -> Sequence[MemberView]:
        """The nodes and nested subgraphs, in the order they were added."""
        ...

    @property
    def connections(self) -> Sequence[Connection]:
        """The ``connect`` calls, in the order they were made."""
        ...

    @property
    def exposed_inputs(self) -> Mapping[str, Sequence[Endpoint]]:
        """Exposed input names, each with the inner inputs it feeds."""
        ...

    @property
    def exposed_outputs(self) -> Mapping[str, Endpoint]:
        """Exposed output names, each with the inner output it comes from."""
        ...
