"""Shared parts of the built-in definitions: strict config schemas, common ports, factories."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from arachne.components.definition import PortDoc

if TYPE_CHECKING:
    from arachne.components.definition import Factory
    from arachne.model.node import Node
    from arachne.model.subgraph import Subgraph
    from arachne.primitives import Contract

__all__ = [
    "ANY_VALUE",
    "ERROR_OUTPUT",
    "ERROR_RECORD_SCHEMA",
    "PORT_NAME",
    "keyword_factory",
    "primitive_factory",
    "strict_object",
]

ANY_VALUE: Final[Mapping[str, Any]] = {}
"""The JSON Schema every value satisfies."""

PORT_NAME: Final[Mapping[str, Any]] = {
    "type": "string",
    "pattern": "^(?!error$)[A-Za-z_][A-Za-z0-9_-]*$",
}
"""A port name: a word, and not ``error`` (every node's implicit failure port)."""

ERROR_RECORD_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "node_id": {"type": "string"},
        "port": {"type": ["string", "null"]},
        "error_type": {"type": "string"},
        "error": {"type": "string"},
        "attempts": {"type": "integer"},
        "payload": {},
        "headers": {"type": "object"},
    },
    "x-arachne-schema": "ErrorRecord",
}
"""What leaves by the ``error`` port: an :class:`~arachne.model.ErrorRecord`."""

ERROR_OUTPUT: Final = PortDoc(
    "error",
    ERROR_RECORD_SCHEMA,
    "Failed messages as ErrorRecords (implicit on every node); unconnected, a failure is "
    "logged and skipped",
)


def strict_object(
    properties: Mapping[str, Mapping[str, Any]], *, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Return a config schema that accepts exactly ``properties`` (unknown keys are errors)."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {key: dict(value) for key, value in properties.items()},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def primitive_factory(contract: Contract) -> Factory:
    """Return a factory that lowers ``contract`` with the checked config as its options.

    The subgraph it builds is named after the primitive; the document's node id replaces
    that name where the node is added.
    """

    def build(config: Mapping[str, Any]) -> Subgraph:
        return contract.fragment(contract.name, **config).unit

    build.__qualname__ = f"build_{contract.name}"
    return build


def keyword_factory(cls: Callable[..., Node]) -> Factory:
    """Return a factory that builds ``cls`` with the checked config as keyword arguments."""

    def build(config: Mapping[str, Any]) -> Node:
        return cls(**config)

    build.__qualname__ = f"build_{getattr(cls, '__name__', 'node')}"
    return build
