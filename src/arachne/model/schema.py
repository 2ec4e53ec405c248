"""Schema adapters: one protocol over plain types, TypedDicts, dataclasses and pydantic models.

A port's schema is whatever the user wrote (``int``, ``"int"``, a ``TypedDict``, a dataclass, a
pydantic model, ``None`` for "anything"); :func:`adapt` turns it into a :class:`SchemaAdapter`
that can validate a value and decide whether values of another schema fit.
"""

from __future__ import annotations

import builtins
import types
import typing
from typing import Final, Protocol, get_args, get_origin, is_typeddict, runtime_checkable

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


@runtime_checkable
class SchemaAdapter(Protocol):
    """What the runtime needs from a schema: a name, validation and a compatibility test."""

    @property
    def name(self) -> str:
        """A short, stable name used in messages, documents and checksums."""
        ...

    def validate(self, value: object) -> object:
        """Return ``value`` (possibly converted) or raise ``TypeError``/``ValueError``."""
        ...

    def accepts(self, other: SchemaAdapter) -> bool:
        """Return whether every value valid for ``other`` is valid here."""
        ...


class AnySchema:
    """Accepts every value; the schema of a port declared without one."""

    name = "any"

    def validate(self, value: object) -> object:
        """Return ``value`` unchanged."""
        return value

    def accepts(self, other: SchemaAdapter) -> bool:
        """Return True: anything fits."""
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnySchema)

    def __hash__(self) -> int:
        return hash("any")


class NamedSchema:
    """A schema known only by name, as read back from a graph document.

    Two named schemas fit when their names are equal; values are not checked.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def validate(self, value: object) -> object:
        """Return ``value`` unchanged: a bare name carries nothing to check against."""
        return value

    def accepts(self, other: SchemaAdapter) -> bool:
        """Return whether ``other`` has the same name."""
        return other.name == self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NamedSchema) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("named", self.name))


class TypeSchema:
    """A Python class or a union of classes, checked with ``isinstance``.

    Covers builtins, user classes, dataclasses, msgspec Structs and pydantic models (which are
    validated through ``model_validate`` when given a mapping).
    """

    def __init__(self, *classes: type) -> None:
        if not classes:
            raise TypeError("TypeSchema needs at least one class")
        self.classes: tuple[type, ...] = classes
        self.name = " | ".join(_qualname(c) for c in classes)

    def validate(self, value: object) -> object:
        """Return ``value`` if it is an instance, a pydantic model built from it, or raise."""
        if isinstance(value, self.classes):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and float in self.classes:
            return float(value)
        for cls in self.classes:
            validator = getattr(cls, "model_validate", None)
            if validator is not None and isinstance(value, dict):
                return validator(value)
        raise TypeError(f"expected {self.name}, got {type(value).__name__}")

    def accepts(self, other: SchemaAdapter) -> bool:
        """Return whether each class of ``other`` is a subclass of one of ours."""
        if isinstance(other, TypeSchema):
            return all(_fits(theirs, self.classes) for theirs in other.classes)
        if isinstance(other, TypedDictSchema):
            return _fits(dict, self.classes)
        if isinstance(other, UnionSchema):
            return all(self.accepts(member) for member in other.members)
        return isinstance(other, NamedSchema) and other.name == self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TypeSchema) and set(other.classes) == set(self.classes)

    def __hash__(self) -> int:
        return hash(frozenset(self.classes))


class TypedDictSchema:
    """A ``TypedDict``: a dict with the declared keys, their values checked shallowly."""

    def __init__(self, typed_dict: type) -> None:
        self.typed_dict = typed_dict
        self.name = _qualname(typed_dict)
        self.required: frozenset[str] = getattr(typed_dict, "__required_keys__", frozenset())
        self.fields: dict[str, SchemaAdapter] = {
            key: adapt(hint) for key, hint in typing.get_type_hints(typed_dict).items()
        }

    def validate(self, value: object) -> object:
        """Return ``value`` if it is a dict with every required key of the right type."""
        if not isinstance(value, dict):
            raise TypeError(f"expected {self.name} (a dict), got {type(value).__name__}")
        missing = sorted(self.required - value.keys())
        if missing:
            raise ValueError(f"{self.name} is missing key(s) {', '.join(missing)}")
        for key, adapter in self.fields.items():
            if key in value:
                try:
                    adapter.validate(value[key])
                except (TypeError, ValueError) as exc:
                    raise TypeError(f"{self.name}[{key!r}]: {exc}") from None
        return value

    def accepts(self, other: SchemaAdapter) -> bool:
        """Return whether ``other`` provides every required key with a fitting type."""
        if isinstance(other, TypedDictSchema):
            if other.typed_dict is self.typed_dict:
                return True
            return self.required <= other.required and all(
                key in other.fields and adapter.accepts(other.fields[key])
                for key, adapter in self.fields.items()
                if key in self.required
            )
        if isinstance(other, NamedSchema):
            return other.name == self.name
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TypedDictSchema) and other.typed_dict is self.typed_dict

    def __hash__(self) -> int:
        return hash(self.typed_dict)


class UnionSchema:
    """A union with at least one member that is not a plain class (a ``TypedDict``, say).

    A value is valid if any member accepts it; unions of plain classes use ``TypeSchema``.
    """

    def __init__(self, members: tuple[SchemaAdapter, ...]) -> None:
        self.members = members
        self.name = " | ".join(member.name for member in members)

    def validate(self, value: object) -> object:
        """Return ``value`` as the first member that accepts it converts it, or raise."""
        for member in self.members:
            try:
                return member.validate(value)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"expected {self.name}, got {type(value).__name__}")

    def accepts(self, other: SchemaAdapter) -> bool:
        """Return whether every value of ``other`` fits one of the members."""
        if isinstance(other, UnionSchema):
            return all(self.accepts(member) for member in other.members)
        return any(member.accepts(other) for member in self.members)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnionSchema) and other.members == self.members

    def __hash__(self) -> int:
        return hash(self.members)


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
        return TypedDictSchema(typing.cast(type, schema))
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


def _fits(cls: type, targets: tuple[type, ...]) -> bool:
    if float in targets and cls is int:
        return True
    return any(issubclass(cls, target) for target in targets)


def _qualname(cls: type) -> str:
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def describe(schema: object) -> str:
    """Return the name of ``schema`` as its adapter reports it."""
    return adapt(schema).name
