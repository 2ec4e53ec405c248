"""Messages: an immutable payload with headers that travel with it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from operator import itemgetter
from typing import Any, Final

__all__ = ["EMPTY_HEADERS", "Headers", "Message", "as_message", "new_message"]

_HEADER_KEYS: Final = ("trace_id", "ts", "seq", "schema_version", "content_type")


class Headers(Mapping[str, Any]):
    """A read-only mapping of message headers.

    Well-known keys are ``trace_id``, ``ts`` (nanoseconds), ``seq``, ``schema_version`` and
    ``content_type``; any other string key is allowed. Immutable, so derived messages can
    share one instance without copying it.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None, /, **items: Any) -> None:
        merged = dict(data) if data else {}
        merged.update(items)
        for key in merged:
            if not isinstance(key, str):
                raise TypeError(f"header keys must be str, got {key!r}; convert it with str()")
        self._data: dict[str, Any] = merged

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Headers({self._data!r})"

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._data.items(), key=lambda kv: kv[0])))

    @classmethod
    def trusted(cls, data: dict[str, Any]) -> Headers:
        """Wrap ``data`` without copying or checking it; the caller gives up the dict.

        For the runtime's hot path, where the keys are known to be strings.
        """
        headers = object.__new__(cls)
        headers._data = data
        return headers

    def replace(self, **changes: Any) -> Headers:
        """Return headers with ``changes`` applied; this instance is left as it was."""
        merged = dict(self._data)
        merged.update(changes)
        return Headers(merged)


EMPTY_HEADERS: Final = Headers()


def _field(index: int, doc: str) -> Any:
    # CPython's namedtuple field accessor reads a tuple slot in C; fall back to itemgetter.
    try:
        from _collections import _tuplegetter  # type: ignore[import-not-found]  # CPython
    except ImportError:  # pragma: no cover  # other interpreters
        return property(itemgetter(index), doc=doc)
    return _tuplegetter(index, doc)


class Message(tuple[Any, "Headers"]):
    """A payload and its headers, as carried by an edge.

    Immutable: a message is a named pair, built on ``tuple`` because that is the cheapest
    immutable object Python makes (about half the cost of a slotted class that refuses
    ``setattr``; the runtime builds one per hop when headers travel). A message derived from
    another (see :meth:`derive`) shares its parent's headers object unless a header changes.
    Unhashable, since payloads may be.
    """

    __slots__ = ()

    payload: Any = _field(0, "The payload.")
    headers: Headers = _field(1, "The headers (a read-only mapping).")

    def __new__(
        cls,
        payload: Any = None,
        headers: Mapping[str, Any] | None = None,
        **header_items: Any,
    ) -> Message:
        """Return a message; ``headers`` and keyword items are merged into its headers."""
        if headers is None and not header_items:
            hdrs = EMPTY_HEADERS
        elif isinstance(headers, Headers) and not header_items:
            hdrs = headers
        else:
            hdrs = Headers(headers, **header_items)
        return tuple.__new__(cls, (payload, hdrs))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Message is immutable; use derive() to change {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Message is immutable; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self[0] == other[0] and self[1] == other[1]

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]  # payloads may be unhashable

    def __repr__(self) -> str:
        return f"Message(payload={self.payload!r}, headers={dict(self.headers)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Message, (self.payload, dict(self.headers)))

    @property
    def trace_id(self) -> str | None:
        """The correlation id this message carries, if any."""
        value = self.headers.get("trace_id")
        return None if value is None else str(value)

    def derive(self, payload: Any, **header_changes: Any) -> Message:
        """Return a message with a new payload that keeps this message's headers.

        Headers are shared, not copied, unless ``header_changes`` alters one.
        """
        headers = self.headers.replace(**header_changes) if header_changes else self.headers
        return new_message(payload, headers)


_new_tuple = tuple.__new__


def new_message(payload: Any, headers: Headers) -> Message:
    """Return a message without the constructor's checks, for headers known to be valid.

    The runtime builds one per emitted value that carries headers.
    """
    return _new_tuple(Message, (payload, headers))


def as_message(item: Any) -> Message:
    """Return ``item`` as a message: itself if it is one, else a message with no headers.

    Edges carry bare payloads when a message has no headers (most do, unless tracing is on),
    so the runtime builds a ``Message`` only for a hook that takes one.
    """
    if type(item) is Message:
        return item
    return new_message(item, EMPTY_HEADERS)


def well_known_header_keys() -> tuple[str, ...]:
    """Return the header keys Arachne itself sets or reads."""
    return _HEADER_KEYS
