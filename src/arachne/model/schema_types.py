"""Schema adapters: the protocol and its implementations for types, TypedDicts and unions."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = [
    "AnySchema",
    "NamedSchema",
    "SchemaAdapter",
    "TypeSchema",
    "TypedDictSchema",
    "UnionSchema",
    "qualname",
]


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
        self.name = " | ".join(qualname(c) for c in classes)

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

    def __init__(self, typed_dict: type, fields: dict[str, SchemaAdapter]) -> None:
        self.typed_dict = typed_dict
        self.name = qualname(typed_dict)
        self.required: frozenset[str] = getattr(typed_dict, "__required_keys__", frozenset())
        self.fields = fields

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


def _fits(cls: type, targets: tuple[type, ...]) -> bool:
    if float in targets and cls is int:
        return True
    return any(issubclass(cls, target) for target in targets)


def qualname(cls: type) -> str:
    """Return a class's name as schemas report it: bare for builtins, dotted otherwise."""
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
