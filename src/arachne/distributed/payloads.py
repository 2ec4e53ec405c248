"""Lazy payloads across a mesh link: what the sender lends, and how the receiver borrows it.

With ``LinkOptions.lazy_bytes`` set, an item whose payload (bytes or text) is at least that
long crosses the link as a :class:`PayloadRef`: the item's position on its channel, the
payload's size and kind (and its headers, if the item is a message, travel as usual). The
sending channel's :class:`Lender` keeps the payload; the receiving host's :class:`Borrower`
turns each handle into a ``LazyPayload`` (``arachne.model.payloads``) that the node across
the link opens when it reads it: a ``FETCH`` frame asks the sender for that position, a
``PAYLOAD`` frame answers (empty, with ``end``, if the payload is gone). Fetches are asked
again each ``retransmit`` until answered (a silent sender may come back: a network partition
heals), and fail with ``PayloadUnavailable`` once the sender has left or answers that it no
longer has the payload (it restarted). A handle opened or dropped is *released*: the
positions ride on the receiver's next grant, and the sender lets those payloads go. Grants
may be lost, so a sender whose channel has ended and that still holds payloads lists their
positions in its announcements; the receiver answers with those no live handle holds. A
sender also lets go of what it lent to a receiver that restarted or left.

A transport with an object store of its own (Ray's) puts the payload there instead: the
handle carries the store's reference, the receiver opens it from the store, and the store's
reference counting frees it; nothing is kept by the sender then.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, Final, Protocol

from arachne.model.message import Message
from arachne.model.payloads import LazyPayload, PayloadUnavailable

__all__ = [
    "FETCH_BACKOFF",
    "REF_BYTES",
    "Borrower",
    "Lender",
    "ObjectStore",
    "PayloadRef",
    "lendable",
]

FETCH_BACKOFF: Final = 16
"""A fetch not answered is asked again after twice as long each time, up to this many
``retransmit``s."""

REF_BYTES: Final = 48
"""What a handle counts for in a frame's size (its payload stays behind)."""


class ObjectStore(Protocol):
    """A transport's own store for large objects (Ray's): put on one host, awaited on another."""

    def put(self, value: Any) -> Any:
        """Store ``value``; return a reference any host awaits to get it (freed when dropped)."""
        ...


class PayloadRef:
    """A lent payload's handle on the wire: its channel position, its size and kind.

    ``stored`` is the object store's reference when the transport has a store (then the
    payload is fetched from there, not from the sender). (A plain class, not a dataclass:
    the frame encoder must see it to write it as a handle.)
    """

    __slots__ = ("position", "size", "stored", "text")

    def __init__(self, position: int, size: int, text: bool = False, stored: Any = None) -> None:
        self.position = position
        self.size = size
        self.text = text
        self.stored = stored

    def __eq__(self, other: object) -> bool:
        if type(other) is not PayloadRef:
            return NotImplemented
        mine = (self.position, self.size, self.text, self.stored)
        return mine == (other.position, other.size, other.text, other.stored)

    def __hash__(self) -> int:
        return hash((self.position, self.size, self.text))

    def __repr__(self) -> str:
        return f"PayloadRef(position={self.position}, size={self.size}, text={self.text})"


def lendable(item: Any) -> Any:
    """Return the payload of ``item`` if it is bytes or text (what may be lent), else None."""
    payload = item.payload if type(item) is Message else item
    if isinstance(payload, bytes | bytearray | str):
        return payload
    if isinstance(payload, memoryview):
        return bytes(payload)
    return None


class Lender:
    """The payloads a sending channel lent its receiver, by position, until released.

    Positions to lend are those whose items were big when pushed (``big``, sorted, trimmed as
    the channel forgets items); :meth:`lend` swaps such items for handles as a frame is cut.
    """

    __slots__ = ("big", "lent", "lent_bytes", "released", "served", "store", "total")

    def __init__(self, store: ObjectStore | None = None) -> None:
        self.big: list[int] = []  # positions of kept items that go lazily
        self.lent: dict[int, Any] = {}  # position -> payload the receiver holds a handle to
        self.lent_bytes = 0
        self.store = store
        self.total = self.served = self.released = 0

    def lend(self, items: list[Any], first: int) -> list[Any]:
        """Return ``items`` (at positions after ``first``) with the big ones as handles."""
        big = self.big
        lo, hi = bisect_right(big, first), bisect_right(big, first + len(items))
        if lo == hi:
            return items
        items = list(items)  # (the channel's own list stays as it was)
        for position in big[lo:hi]:
            index = position - first - 1
            item = items[index]
            payload = lendable(item)
            if payload is None:  # (cannot happen: only such items are marked)
                continue
            size = len(payload)
            stored = None
            if self.store is not None:
                stored = self.store.put(payload)
            else:
                self.keep(position, payload)
            self.total += 1
            ref = PayloadRef(position, size, isinstance(payload, str), stored)
            items[index] = Message(ref, item.headers) if type(item) is Message else ref
        return items

    def keep(self, position: int, payload: Any) -> None:
        """Hold ``payload`` for the handle at ``position`` until it is released."""
        if position not in self.lent:
            self.lent_bytes += len(payload)
            self.lent[position] = payload

    def forget(self, upto: int) -> None:
        """Stop marking positions up to ``upto`` (the channel dropped those items)."""
        del self.big[: bisect_right(self.big, upto)]

    def release(self, positions: Iterable[Any]) -> None:
        """Let the payloads at ``positions`` go (the receiver opened or dropped their handles)."""
        lent = self.lent
        for position in positions:
            if type(position) is int and position in lent:
                payload = lent.pop(position)
                self.lent_bytes -= len(payload)
                self.released += 1

    def clear(self) -> None:
        """Let everything lent go (the receiver restarted or left: its handles are gone)."""
        self.released += len(self.lent)
        self.lent.clear()
        self.lent_bytes = 0


class Borrower:
    """A receiving channel's handles: made into lazy payloads, fetched, released.

    ``request(position)`` sends a ``FETCH`` for a position; ``let_go()`` asks for a grant soon
    (it carries the released positions). Both are the host's.
    """

    __slots__ = (
        "_let_go",
        "_loop",
        "_request",
        "channel",
        "fetched_bytes",
        "live",
        "opened",
        "pending",
        "refs",
        "released",
        "releasing",
        "source",
    )

    def __init__(
        self,
        channel: str,
        source: str,
        request: Callable[[int], None],
        let_go: Callable[[], None],
    ) -> None:
        self.channel = channel
        self.source = source
        self._request = request
        self._let_go = let_go
        self._loop: asyncio.AbstractEventLoop | None = None
        self.pending: dict[int, list[Any]] = {}  # position -> [future, when last asked]
        self.releasing: list[int] = []  # released positions the next grant carries
        self.live: set[int] = set()  # positions whose handles are not released yet
        self.refs = self.opened = self.fetched_bytes = self.released = 0

    def bind(self, items: list[Any]) -> list[Any]:
        """Return ``items`` with every handle made a ``LazyPayload`` (a copy, if any is)."""
        out: list[Any] | None = None
        for index, item in enumerate(items):
            ref = item.payload if type(item) is Message else item
            if type(ref) is not PayloadRef:
                continue
            if out is None:
                out = list(items)
            lazy = self._lazy(ref)
            out[index] = Message(lazy, item.headers) if type(item) is Message else lazy
        return items if out is None else out

    def _lazy(self, ref: PayloadRef) -> LazyPayload:
        self.refs += 1
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if ref.stored is not None:
            fetch: Callable[[], Awaitable[Any]] = partial(self._from_store, ref)
            return LazyPayload(ref.size, fetch, partial(self._dropped, None), text=ref.text)
        self.live.add(ref.position)
        return LazyPayload(
            ref.size,
            partial(self.fetch, ref.position),
            partial(self._dropped, ref.position),
            text=ref.text,
        )

    def _from_store(self, ref: PayloadRef) -> Awaitable[Any]:
        return asyncio.ensure_future(self._stored(ref))

    async def _stored(self, ref: PayloadRef) -> Any:
        try:
            value = await ref.stored
        except Exception as exc:  # (the store lost it: its owner died)
            raise PayloadUnavailable(
                f"the payload at position {ref.position} of channel {self.channel!r} is gone "
                f"from the object store ({type(exc).__name__}: {exc})"
            ) from exc
        self.opened += 1
        self.fetched_bytes += ref.size
        return value

    def fetch(self, position: int) -> Awaitable[Any]:
        """Ask the sender for the payload at ``position``; return a future of it."""
        entry = self.pending.get(position)
        if entry is not None:
            future: asyncio.Future[Any] = entry[0]
            return asyncio.shield(future)  # (one opener cancelled leaves the fetch going)
        loop = self._loop if self._loop is not None else asyncio.get_running_loop()
        future = loop.create_future()
        self.pending[position] = [future, loop.time(), 0.0]  # (future, asked when, wait)
        self._request(position)
        return asyncio.shield(future)

    def arrived(self, position: int, items: list[Any], gone: bool) -> None:
        """Take the sender's answer for ``position`` (``gone``: it no longer has it)."""
        entry = self.pending.pop(position, None)
        if entry is None or entry[0].done():
            return
        if gone or len(items) != 1:
            entry[0].set_exception(
                PayloadUnavailable(
                    f"host {self.source!r} no longer has the payload at position {position} "
                    f"of channel {self.channel!r} (it restarted since it sent it)"
                )
            )
            return
        value = items[0]
        self.opened += 1
        self.fetched_bytes += len(value) if isinstance(value, bytes | str) else 0
        entry[0].set_result(value)

    def due(self, now: float, wait: float) -> list[int]:
        """Return the positions to ask for again now.

        A position is asked again ``wait`` seconds after it was first asked, then each time
        twice as long after (up to ``FETCH_BACKOFF`` waits): a sender slow to answer is not
        flooded with fetches.
        """
        again = []
        for position, entry in self.pending.items():
            if now - entry[1] >= max(entry[2], wait):
                entry[1], entry[2] = now, min(max(entry[2], wait) * 2, wait * FETCH_BACKOFF)
                again.append(position)
        return again

    def fail(self, reason: str) -> None:
        """Fail every fetch waiting: the sender is unavailable."""
        pending, self.pending = self.pending, {}
        for position, entry in pending.items():
            if not entry[0].done():
                entry[0].set_exception(
                    PayloadUnavailable(
                        f"the payload at position {position} of channel {self.channel!r} "
                        f"cannot be fetched: host {self.source!r} is {reason}"
                    )
                )

    def _dropped(self, position: int | None) -> None:
        # (opened or dropped: may run in a finalizer, at any point, so only noted here)
        self.released += 1
        if position is None:
            return
        self.live.discard(position)
        self.releasing.append(position)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._let_go)

    def asked(self, positions: Iterable[Any], delivered: int) -> None:
        """Release again those of ``positions`` handed on and no longer held (the sender asks).

        ``delivered`` is the last position the channel handed on (a restarted receiver's
        counts from its checkpoint); a position after it is still to come: not released.
        """
        live = self.live
        self.releasing += [
            p for p in positions if type(p) is int and p <= delivered and p not in live
        ]

    def take_released(self) -> list[int]:
        """Return the positions released since the last grant (the grant carries them)."""
        released, self.releasing = self.releasing, []
        return released
