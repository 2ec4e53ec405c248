"""Messages: an immutable payload with headers that travel with it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

__all__ = ["EMPTY_HEADERS", "Headers", "Message", "as_message", "new_message", "refill"]

_HEADER_KEYS: Final = ("trace_id", "ts", "seq", "schema_version", "content_type", "traceparent")


class Headers(Mapping[str, Any]):
    """A read-only mapping of message headers.

    Well-known keys are ``trace_id``, ``ts`` (nanoseconds), ``seq``, ``schema_version``,
    ``content_type`` and ``traceparent`` (the W3C trace context, with a tracer); any other
    string key is allowed. Immutable, so derived messages can
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

    def get(self, key: str, default: Any = None) -> Any:
        """Return the header ``key``, or ``default`` (the dict's own lookup: a hot path)."""
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._data

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

    def with_item(self, key: str, value: Any) -> Headers:
        """Return these headers with ``key`` set to ``value`` (a string key; not checked)."""
        data = self._data.copy()
        data[key] = value
        return Headers.trusted(data)

    def as_dict(self) -> dict[str, Any]:
        """Return the headers as a new dict (the caller's to change)."""
        return self._data.copy()

    def replace(self, **changes: Any) -> Headers:
        """Return headers with ``changes`` applied; this instance is left as it was."""
        merged = dict(self._data)
        merged.update(changes)
        return Headers(merged)


EMPTY_HEADERS: Final = Headers()


class Message:
    """A payload and its headers, as carried by an edge.

    Immutable: setting or deleting an attribute raises. A message derived from another (see
    :meth:`derive`) shares its parent's headers object unless a header changes. Unhashable,
    since payloads may be.

    A slotted object rather than a tuple: the runtime hands class nodes one message object
    after another and, when a hook kept no reference to it (its reference count says so), puts
    the next payload into the same object instead of building a new one. Measured: that costs
    about half as much as building a message per hop; nothing anyone holds ever changes.
    """

    __slots__ = ("headers", "payload")

    payload: Any
    headers: Headers

    def __init__(
        self,
        payload: Any = None,
        headers: Mapping[str, Any] | None = None,
        **header_items: Any,
    ) -> None:
        """Make a message; ``headers`` and keyword items are merged into its headers."""
        if headers is None and not header_items:
            hdrs = EMPTY_HEADERS
        elif isinstance(headers, Headers) and not header_items:
            hdrs = headers
        else:
            hdrs = Headers(headers, **header_items)
        _set_payload(self, payload)
        _set_headers(self, hdrs)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Message is immutable; use derive() to change {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Message is immutable; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return bool(self.payload == other.payload) and self.headers == other.headers

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


# The slots' own setters: the one way to fill a message, past its refusing __setattr__.
_set_payload: Final[Callable[[Message, Any], None]] = vars(Message)["payload"].__set__
_set_headers: Final[Callable[[Message, Headers], None]] = vars(Message)["headers"].__set__
_object_new = object.__new__


def new_message(payload: Any, headers: Headers) -> Message:
    """Return a message without the constructor's checks, for headers known to be valid."""
    msg: Message = _object_new(Message)
    _set_payload(msg, payload)
    _set_headers(msg, headers)
    return msg


refill: Final = _set_payload
"""``refill(msg, payload)``: put ``payload`` into the runtime's own ``msg``.

Only for a message the runtime made and whose reference count shows that no hook kept it
(see ``Message``); any other use breaks the promise that a message never changes.
"""


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
