"""ComponentDefinition: what the registry knows about one component."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from arachne.model.node import Node
    from arachne.model.subgraph import Subgraph

__all__ = ["CATEGORIES", "ComponentDefinition", "Factory", "PortDoc"]

Factory = Callable[[Mapping[str, Any]], "Node | Subgraph"]
"""Builds a node (or, for a composite component, a subgraph) from its validated config."""

CATEGORIES: Final = ("core", "io", "data", "durable", "composite", "custom")
"""The categories ``arachne components`` groups by; ``custom`` is for third-party code."""

_ANY_OBJECT: Final[Mapping[str, Any]] = {"type": "object"}


@dataclass(frozen=True, slots=True)
class PortDoc:
    """One port of a component: its name, a JSON Schema for its values and what it carries."""

    name: str
    schema: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the port as plain data (``name``, ``schema``, ``description``)."""
        return {"name": self.name, "schema": dict(self.schema), "description": self.description}


@dataclass(frozen=True, slots=True)
class ComponentDefinition:
    """A registered component: namespaced id, version, ports, config schema and factory.

    ``id`` is namespaced (``arachne.core.map``); ``aliases`` are other ids that resolve to it
    (the Runtime Service's ``symbia.core.map``). ``config_schema`` is a JSON Schema checked
    against a node's ``config`` before ``factory`` is called, so factories see valid config.
    """

    id: str
    factory: Factory
    name: str = ""
    version: str = "1.0.0"
    category: str = "custom"
    description: str = ""
    inputs: tuple[PortDoc, ...] = ()
    outputs: tuple[PortDoc, ...] = ()
    config_schema: Mapping[str, Any] = field(default_factory=lambda: dict(_ANY_OBJECT))
    aliases: tuple[str, ...] = ()
    document: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    """The JSON definition a code component was read from (``None`` for Python components)."""

    def __post_init__(self) -> None:
        for value in (self.id, *self.aliases):
            _check_id(value)
        if self.category not in CATEGORIES:
            raise ValueError(
                f"component {self.id!r}: category {self.category!r} is not one of "
                f"{', '.join(CATEGORIES)}"
            )
        if not callable(self.factory):
            raise TypeError(f"component {self.id!r}: factory must be callable")

    def to_dict(self) -> dict[str, Any]:
        """Return the definition as JSON-ready data (everything but the factory)."""
        return {
            "id": self.id,
            "name": self.name or self.id.rsplit(".", 1)[-1],
            "version": self.version,
            "category": self.category,
            "description": self.description,
            "aliases": list(self.aliases),
            "ports": {
                "inputs": [port.to_dict() for port in self.inputs],
                "outputs": [port.to_dict() for port in self.outputs],
            },
            "config": dict(self.config_schema),
            **({"execution": _execution(self.document)} if self.document is not None else {}),
        }


def _execution(document: Mapping[str, Any]) -> dict[str, Any]:
    """Return a code component's ``execution`` without its source (which can be long)."""
    execution = document.get("execution") or {}
    return {key: value for key, value in execution.items() if key != "source"}


def _check_id(value: str) -> None:
    if isinstance(value, str) and value.count(":") == 1:
        # A class loaded from a module (Registry.load_module): "pkg.module:Class".
        module, cls = value.split(":")
        if cls.isidentifier() and all(part.isidentifier() for part in module.split(".")):
            return
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) < 2 or not all(part and _plain(part) for part in parts):
        raise ValueError(
            f"component id {value!r} must be namespaced, dot-separated words "
            "(letters, digits, '-' or '_'), e.g. 'acme.io.kafka-source', or a class of a "
            "loaded module, 'my_nodes:Parser'"
        )


def _plain(part: str) -> bool:
    return all(ch.isalnum() or ch in "-_" for ch in part) and part.isascii()
