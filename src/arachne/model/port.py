"""Ports: a named, typed end of an edge, declared on a node."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from arachne.model.schema import SchemaAdapter, adapt

__all__ = ["Input", "Output", "PortDeclaration", "PortSpec", "normalize_ports"]


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A port's name and schema.

    ``schema`` is anything :func:`arachne.model.schema.adapt` accepts; two specs are equal when
    their names and schema names are, so a spec read back from a document equals the original.
    """

    name: str
    schema: object = None
    description: str = ""
    adapter: SchemaAdapter = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"port name must be a non-empty str, got {self.name!r}")
        if "/" in self.name or "." in self.name:
            raise ValueError(f"port name {self.name!r} may not contain '/' or '.'; rename it")
        object.__setattr__(self, "adapter", adapt(self.schema))

    @property
    def schema_name(self) -> str:
        """The schema's stable name, as written to documents."""
        return self.adapter.name

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PortSpec):
            return NotImplemented
        return self.name == other.name and self.schema_name == other.schema_name

    def __hash__(self) -> int:
        return hash((self.name, self.schema_name))


class PortDeclaration:
    """A port declared as a node class attribute; the attribute's name is the default port name.

    Use its subclasses :class:`Input` and :class:`Output`.
    """

    def __init__(
        self, schema: object = None, *, name: str | None = None, description: str = ""
    ) -> None:
        self._schema = schema
        self._name = name
        self._description = description
        self._spec: PortSpec | None = PortSpec(name, schema, description) if name else None

    def __set_name__(self, owner: type, attr: str) -> None:
        if self._spec is None:
            self._name = attr
            self._spec = PortSpec(attr, self._schema, self._description)

    @property
    def spec(self) -> PortSpec:
        """The declared port."""
        if self._spec is None:
            raise TypeError("a port declaration needs a name= when not used as a class attribute")
        return self._spec

    @overload
    def __get__(self, obj: None, owner: type) -> PortSpec: ...
    @overload
    def __get__(self, obj: object, owner: type) -> PortSpec: ...
    def __get__(self, obj: object | None, owner: type) -> PortSpec:
        return self.spec


class Input(PortDeclaration):
    """An input port declared as a node class attribute: ``inp = Input(int, name="in")``."""


class Output(PortDeclaration):
    """An output port declared as a node class attribute: ``out = Output(int)``."""


def normalize_ports(ports: Mapping[str, Any] | None, *, owner: str) -> dict[str, PortSpec]:
    """Return ``{name: PortSpec}`` from what a node's ``inputs()``/``outputs()`` returned.

    Values may be a schema (type, type name, TypedDict, ...), ``None`` for any value, or a
    ``PortSpec`` whose name must match its key.
    """
    if ports is None:
        return {}
    if not isinstance(ports, Mapping):
        raise TypeError(
            f"{owner} must return a dict of port name to schema, got {type(ports).__name__}"
        )
    result: dict[str, PortSpec] = {}
    for key, value in ports.items():
        if isinstance(value, PortSpec):
            if value.name != key:
                raise ValueError(f"{owner}: key {key!r} holds a PortSpec named {value.name!r}")
            result[key] = value
        else:
            try:
                result[key] = PortSpec(key, value)
            except TypeError as exc:
                raise TypeError(f"{owner}: port {key!r}: {exc}") from None
    return result
