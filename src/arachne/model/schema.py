"""Schema adapters: one protocol over plain types, TypedDicts, dataclasses and pydantic models.

A port's schema is whatever the user wrote (``int``, ``"int"``, a ``TypedDict``, a dataclass, a
pydantic model, ``None`` for "anything"); :func:`adapt` turns it into a :class:`SchemaAdapter`
that can validate a value and decide whether values of another schema fit.
"""

from __future__ import annotations

import builtins
import types
import typing
from typing import Final, get_args, get_origin, is_typeddict

from arachne.model.schema_types import (
    AnySchema,
    NamedSchema,
    SchemaAdapter,
    TypedDictSchema,
    TypeSchema,
    UnionSchema,
)

__all__ = [
    "AnySchema",
    "NamedSchema",
    "SchemaAdapter",
    "TypeSchema",
    "TypedDictSchema",
    "UnionSchema",
    "adapt",
    "compatible",
]

_BUILTIN_NAMES: Final = ("int", "float", "str", "bool", "bytes", "dict", "list", "tuple", "set")
_ANY_NAMES: Final = ("any", "Any", "object", "*")


def adapt(schema: object) -> SchemaAdapter:
    """Return the adapter for ``schema``.

    Accepts ``None``/``Any``/``object`` (anything), a builtin's name such as ``"int"``, any
    other string (a named schema), a class, a union such as ``int | str``, a parametrised
    generic such as ``list[int]`` (checked by its origin), a ``TypedDict``, or an adapter.
    """
    if schema is None or schema is typing.Any or schema is object:
        return AnySchema()
    if isinstance(schema, SchemaAdapter) and not isinstance(schema, type):
        return schema
    if isinstance(schema, str):
        if schema in _ANY_NAMES:
            return AnySchema()
        if schema in _BUILTIN_NAMES:
            return TypeSchema(getattr(builtins, schema))
        return NamedSchema(schema)
    if is_typeddict(schema):
        typed = typing.cast(type, schema)
        fields = {key: adapt(hint) for key, hint in typing.get_type_hints(typed).items()}
        return TypedDictSchema(typed, fields)
    origin = get_origin(schema)
    if origin is typing.Union or origin is types.UnionType:
        members = tuple(adapt(arg) for arg in get_args(schema))
        if any(isinstance(m, AnySchema) for m in members):
            return AnySchema()
        if all(isinstance(m, TypeSchema) for m in members):
            classes = [c for m in members if isinstance(m, TypeSchema) for c in m.classes]
            return TypeSchema(*dict.fromkeys(classes))
        return UnionSchema(members)
    if isinstance(origin, type):
        return TypeSchema(origin)
    if isinstance(schema, type):
        return TypeSchema(schema)
    if isinstance(schema, dict):
        raise TypeError(
            "JSON Schema dicts are not accepted as port schemas yet; "
            "use a Python type, TypedDict, dataclass or pydantic model"
        )
    raise TypeError(
        f"cannot use {schema!r} as a port schema; use a type, a TypedDict, a dataclass, "
        "a pydantic model, a type name such as 'int', or None for any value"
    )


def compatible(producer: SchemaAdapter, consumer: SchemaAdapter) -> bool:
    """Return whether values of ``producer`` may flow into a port of ``consumer``.

    Gradual, as in typed Python: an untyped (``any``) port on either side fits everything;
    otherwise the consumer must accept every value the producer declares.
    """
    if isinstance(producer, AnySchema) or isinstance(consumer, AnySchema):
        return True
    return consumer.accepts(producer)
