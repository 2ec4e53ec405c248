"""Lazy payloads: a payload left on the host that made it until a node reads it.

A mesh link set to carry large payloads lazily (``LinkOptions.lazy_bytes``) sends a message's
headers and a small handle at once, and leaves the payload itself with its sender. The node
across the link receives a :class:`LazyPayload` as the message's payload: it knows the
payload's size and kind without fetching anything, and ``await payload.open()`` (or
:func:`open_payload`, which also takes a payload that was never lazy) fetches it, once. A
handle dropped unopened, or opened, tells the sender it may let the payload go.

This module is the part nodes see; how a handle fetches and releases is the link's
(``arachne.distributed.payloads``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from arachne.model.errors import ArachneError

__all__ = ["LazyPayload", "PayloadUnavailable", "open_payload"]


class PayloadUnavailable(ArachneError):
    """A lazy payload could not be fetched: the host that kept it restarted, left or is silent."""


class LazyPayload:
    """A payload still on the host that made it: its size now, its value once opened.

    ``size`` is the payload's length (bytes, or characters for text); ``text`` says which.
    ``fetch`` returns an awaitable of the value (or raises :class:`PayloadUnavailable`),
    one per opener: an opener cancelled leaves the others waiting;
    ``release`` is called once, when the value has been fetched or the handle is dropped
    without being opened, so the sender can let the payload go.
    """

    __slots__ = ("_fetch", "_release", "_value", "size", "text")

    def __init__(
        self,
        size: int,
        fetch: Callable[[], Awaitable[Any]],
        release: Callable[[], None] | None = None,
        *,
        text: bool = False,
    ) -> None:
        self.size = size
        self.text = text
        self._fetch: Callable[[], Awaitable[Any]] | None = fetch
        self._release = release
        self._value: Any = None

    @property
    def opened(self) -> bool:
        """Whether the value has been fetched (opening again costs nothing)."""
        return self._fetch is None

    @property
    def value(self) -> Any:
        """The value of an opened payload (``RuntimeError`` before it is opened)."""
        if self._fetch is not None:
            raise RuntimeError(
                "this lazy payload has not been opened: await payload.open() (or "
                "arachne.open_payload(payload)) before reading its value"
            )
        return self._value

    async def open(self) -> Any:
        """Fetch the payload (the first time) and return it.

        Raises :class:`PayloadUnavailable` if the host that kept it can no longer give it.
        """
        fetch = self._fetch
        if fetch is None:
            return self._value
        value = await fetch()  # (concurrent openers each wait; the link asks once)
        if self._fetch is not None:
            self._value, self._fetch = value, None
            self._let_go()
        return self._value

    def _let_go(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __del__(self) -> None:
        # (an unopened handle that is dropped frees the payload on its sender)
        with contextlib.suppress(Exception):  # (a finalizer never raises: the loop may be gone)
            self._let_go()

    def __repr__(self) -> str:
        unit = "characters" if self.text else "bytes"
        state = "opened" if self.opened else "not opened"
        return f"LazyPayload({self.size} {unit}, {state})"


async def open_payload(payload: Any) -> Any:
    """Return ``payload``'s value: a lazy payload opened, anything else as it is.

    Node code that may run on either side of a lazy link reads payloads through this.
    """
    if isinstance(payload, LazyPayload):
        return await payload.open()
    return payload
