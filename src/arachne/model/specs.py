"""Specs: a node, a link and a port reference as plain, immutable data, and a graph of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from arachne.model.policies import (
    ErrorPolicy,
    Mode,
    Overflow,
    check_error_policy,
    check_mode,
    check_overflow,
    check_timeout,
)
from arachne.model.port import PortSpec

__all__ = ["GraphView", "LinkSpec", "NodeSpec", "PortRef", "check_link_options"]


@dataclass(frozen=True, slots=True, order=True)
class PortRef:
    """One port of one node, written ``node.port``."""

    node: str
    port: str

    def __str__(self) -> str:
        return f"{self.node}.{self.port}"


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node as desired: id, kind (what builds it), ports, config, cadence and how it runs.

    ``mode`` is where its hooks run (see :data:`~arachne.model.policies.MODES`), with at most
    ``concurrency`` messages in flight, results kept in input order if ``ordered``;
    ``error_policy`` says what a failing hook leads to; ``timeout`` bounds each call.
    """

    id: str
    kind: str
    inputs: tuple[PortSpec, ...] = ()
    outputs: tuple[PortSpec, ...] = ()
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    cadence: float | None = None
    mode: Mode = "inline"
    concurrency: int = 1
    ordered: bool = True
    error_policy: ErrorPolicy = "fail"
    timeout: float | None = None
    fingerprint: str | None = None
    """What else decides the node's behaviour (``Node.fingerprint``: a code component's code)."""
    renamed_from: tuple[str, ...] = ()
    """Ids the author says this node had before (its durable state follows the rename).

    Not part of equality: declaring where a node came from changes nothing in how it runs.
    """

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))
        object.__setattr__(self, "renamed_from", tuple(self.renamed_from))
        check_mode(self.mode, self.concurrency)
        check_error_policy(self.error_policy)
        check_timeout(self.timeout, self.mode, self.id)

    def _key(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.kind,
            self.inputs,
            self.outputs,
            dict(self.config),
            self.cadence,
            self.mode,
            self.concurrency,
            self.ordered,
            self.error_policy,
            self.timeout,
            self.fingerprint,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NodeSpec):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.id, self.kind, self.inputs, self.outputs))

    def input(self, name: str) -> PortSpec | None:
        """Return the input port called ``name``, if there is one."""
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> PortSpec | None:
        """Return the output port called ``name``, if there is one."""
        return next((p for p in self.outputs if p.name == name), None)


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """An edge as desired: endpoints, capacity, overflow policy, priority and plane."""

    id: str
    source: PortRef
    target: PortRef
    capacity: int = 1024
    overflow: Overflow = "block"
    priority: int = 0
    control: bool = False

    def __post_init__(self) -> None:
        check_link_options(self.capacity, self.overflow, self.priority, where=self.id)


class GraphView(Protocol):
    """What a reader of a graph sees: its name and its node and link specs by id.

    ``Graph`` is one; its export, checksum and topology helpers take this, so they can sit
    below it and ``Graph`` can import them.
    """

    @property
    def name(self) -> str:
        """The graph's name (may be empty)."""
        ...

    @property
    def nodes(self) -> Mapping[str, NodeSpec]:
        """Nodes by id, in insertion order."""
        ...

    @property
    def links(self) -> Mapping[str, LinkSpec]:
        """Links by id, in insertion order."""
        ...


def check_link_options(capacity: object, overflow: object, priority: object, *, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` if a link's capacity, overflow or priority is bad."""
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"link {where}: capacity must be an int >= 1, got {capacity!r}")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValueError(f"link {where}: priority must be an int, got {priority!r}")
    try:
        check_overflow(overflow)
    except ValueError as exc:
        raise ValueError(f"link {where}: {exc}") from None
