"""Port schemas as JSON Schema, for component definitions read from Python classes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from arachne.components.definition import PortDoc

if TYPE_CHECKING:
    from arachne.model.port import PortSpec

__all__ = ["json_schema_of", "port_docs"]

_JSON_TYPES: Final = {
    "int": "integer",
    "float": "number",
    "str": "string",
    "bool": "boolean",
    "dict": "object",
    "list": "array",
    "tuple": "array",
    "NoneType": "null",
}


def json_schema_of(spec: PortSpec) -> dict[str, Any]:
    """Return a JSON Schema for a port: a JSON type where one fits, else a named schema."""
    schema = spec.schema
    if isinstance(schema, Mapping):
        return dict(schema)
    name = spec.adapter.name
    if name in ("any", "Any", "object"):
        return {}
    if name in _JSON_TYPES:
        return {"type": _JSON_TYPES[name]}
    return {"x-arachne-schema": name}


def port_docs(specs: Mapping[str, PortSpec]) -> tuple[PortDoc, ...]:
    """Return ``PortDoc``s for ``specs`` in declaration order."""
    return tuple(
        PortDoc(name, json_schema_of(spec), spec.description) for name, spec in specs.items()
    )
