"""Lineage: which inputs and which nodes explain a message, kept per execution when asked for.

Off by default; ``Runtime(lineage=1.0)`` (or a rate below 1, to sample) turns it on. Each
sampled message that starts the graph (a source's emit, an ``inject``) becomes an *origin*:
the node, what kind of start it was, its position there (the source's 1st, 2nd... message)
and, for an injected one, a short text of its value. Each handling of a message carrying a
lineage id becomes a *hop*: the node and the hops it came from. A message carries one compact
id in its ``lineage`` header (an int: its origin's or the hop whose handling emitted it; a
value a node made from several kept messages carries their ids as a tuple, see
``runtime.hops.combine``), so the cost is a header per message and a table entry per
handling, and only while sampled.

Explaining a hop walks its parents back to the origins: ids only ever grow along the graph
(a hop is made after those it came from), so the nodes are listed in the order the data
reached them. A batch handled in one call (``on_batch``) gives each message a hop of its own
(a message emitted as it came keeps its own lineage), and what the call emits as a new value
comes from all of them. The table is bounded (``capacity`` entries, the oldest forgotten
first); an explanation that reaches a forgotten entry says it is not ``complete``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from arachne.model.message import Headers, Message, new_message

__all__ = ["LINEAGE", "Explanation", "Lineage", "Origin", "OriginKind", "check_rate"]

LINEAGE: Final = "lineage"
"""The header that carries a message's lineage id (an ``int``) from node to node."""

OriginKind: TypeAlias = Literal["source", "inject"]
"""How a message started: at a source, or by ``inject``."""

VALUE_TEXT: Final = 80
"""The characters of an injected value's text an origin keeps."""

RECENT: Final = 1024
"""The handlings per node the table lists for :meth:`Lineage.recent`."""


_Hop: TypeAlias = tuple[str, tuple[int, ...], tuple[str, ...]]
"""A handling in the table: the node, the ids it came from, the taint labels it passed on."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message started: ``node``'s ``position``-th message (1-based) of ``kind``."""

    id: int
    node: str
    kind: OriginKind
    position: int
    value: str | None = None  # an injected value's text, cut at VALUE_TEXT characters

    def to_dict(self) -> dict[str, Any]:
        """Return the origin as JSON data."""
        out: dict[str, Any] = {
            "id": self.id,
            "node": self.node,
            "kind": self.kind,
            "position": self.position,
        }
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass(frozen=True, slots=True)
class Explanation:
    """What explains one handling (or one message): its origins and the nodes between.

    ``nodes`` in the order the data reached them, the origins' nodes included; ``taints``
    the labels the handling passed on (``runtime.taints``); ``complete`` is False when part
    of the history was forgotten (the table is bounded), so the origins and nodes listed are
    some, not all.
    """

    id: int
    node: str
    origins: tuple[Origin, ...]
    nodes: tuple[str, ...]
    complete: bool
    taints: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the explanation as JSON data."""
        return {
            "id": self.id,
            "node": self.node,
            "origins": [origin.to_dict() for origin in self.origins],
            "nodes": list(self.nodes),
            "taints": list(self.taints),
            "complete": self.complete,
        }


def check_rate(rate: object) -> float | None:
    """Return ``rate`` as a sampling rate in (0, 1], or ``None`` (lineage off).

    ``ValueError`` naming what is allowed otherwise.
    """
    if rate is None or rate is False:
        return None
    if rate is True:
        return 1.0
    if isinstance(rate, int | float) and 0 < rate <= 1:
        return float(rate)
    raise ValueError(
        f"lineage must be a sampling rate in (0, 1] (1.0: every message), or None to turn it "
        f"off; got {rate!r}"
    )


class Lineage:
    """One execution's lineage table: origins and hops by id, bounded to ``capacity``.

    Written on the execution's loop only; read from anywhere (each read is of one entry, or
    a copy of a short list).
    """

    __slots__ = (
        "_entries",
        "_floor",
        "_next",
        "_positions",
        "_recent",
        "capacity",
        "rate",
    )

    def __init__(self, rate: float = 1.0, *, capacity: int = 100_000) -> None:
        checked = check_rate(rate)
        if checked is None:
            raise ValueError("Lineage needs a rate in (0, 1]; pass lineage=None to turn it off")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 16:
            raise ValueError(f"capacity must be an int >= 16, got {capacity!r}")
        self.rate = checked
        self.capacity = capacity
        # id -> an Origin, or (node, parents) for a hop; ids are consecutive from _floor up.
        self._entries: dict[int, Origin | _Hop] = {}
        self._floor = 1
        self._next = 1
        # Per place messages start (node and kind): how many started there, and the credit
        # that samples them evenly (the first one there always is).
        self._positions: dict[tuple[str, OriginKind], tuple[int, float]] = {}
        self._recent: dict[str, deque[int]] = {}

    # -- written on the loop ---------------------------------------------------------------

    def origin(self, node_id: str, kind: OriginKind, value: object = None) -> int | None:
        """Count a message starting at ``node_id``; return its origin's id if it is sampled.

        Sampling is even, not random, and per place: at rate 0.25 every fourth message of
        each source (and of each node's injections) is kept.
        """
        base, picked = self._count((node_id, kind), 1)
        if not picked:
            return None
        text = None
        if kind == "inject":
            text = repr(value)
            if len(text) > VALUE_TEXT:
                text = text[: VALUE_TEXT - 1] + "…"
        return self._add(Origin(self._next, node_id, kind, base + 1, text))

    def stamp(self, node_id: str, items: list[Any]) -> list[Any]:
        """Return a source's batch ``items`` with each sampled one an origin (``source``).

        What :meth:`origin` does item by item, for a pulled source's whole batch: a sampled
        item becomes a ``Message`` with its ``lineage`` id (one that is a ``Message`` keeps
        its headers, and its own lineage id if it has one); the list is copied only then.
        """
        base, picked = self._count((node_id, "source"), len(items))
        out = list(items) if picked else items
        for index in picked:
            ident = self._add(Origin(self._next, node_id, "source", base + index + 1))
            item = items[index]
            if type(item) is not Message:
                out[index] = new_message(item, Headers.trusted({LINEAGE: ident}))
            elif LINEAGE not in item.headers:
                out[index] = new_message(item.payload, item.headers.with_item(LINEAGE, ident))
        return out

    def _count(self, key: tuple[str, OriginKind], n: int) -> tuple[int, list[int]]:
        """Count ``n`` more messages starting at ``key``; say which of them are sampled.

        Returns how many started there before them, and the indexes (among the ``n``) of
        those sampled: evenly, the credit carried from one call to the next.
        """
        before, credit = self._positions.get(key, (0, 1.0 - self.rate))
        rate = self.rate
        picked = []
        for index in range(n):
            credit += rate
            if credit >= 1.0:
                credit -= 1.0
                picked.append(index)
        self._positions[key] = (before + n, credit)
        return before, picked

    def hop(
        self,
        node_id: str,
        parents: tuple[int, ...],
        listed: bool = True,
        taints: tuple[str, ...] = (),
    ) -> int:
        """Record a handling at ``node_id`` of messages with lineage ids ``parents``.

        ``listed``: one of the node's handlings :meth:`recent` lists (not a batch's whole,
        whose messages each have a hop of their own); ``taints``: the labels it passed on.
        """
        ident = self._add((node_id, parents, taints))
        if not listed:
            return ident
        recent = self._recent.get(node_id)
        if recent is None:
            recent = self._recent[node_id] = deque(maxlen=RECENT)
        recent.append(ident)
        return ident

    def unlist(self, node_id: str, hops: tuple[int, ...]) -> None:
        """Take ``hops`` (failed handlings at ``node_id``) off what :meth:`recent` lists."""
        recent = self._recent.get(node_id)
        if recent is None:
            return
        for hop in hops:
            try:
                recent.remove(hop)
            except ValueError:
                continue  # (pushed out of the window already)

    def _add(self, entry: Origin | _Hop) -> int:
        """Keep ``entry`` under the next id (an origin is made with it); forget the oldest."""
        ident = self._next
        self._next = ident + 1
        entries = self._entries
        entries[ident] = entry
        while len(entries) >= self.capacity:
            entries.pop(self._floor, None)
            self._floor += 1
        return ident

    # -- read from anywhere ----------------------------------------------------------------

    def explain(self, item: int | Message | Headers) -> Explanation:
        """Return what explains ``item``: a lineage id, or a message (or headers) carrying one.

        ``KeyError`` for an id the table does not hold (never made, or forgotten), and
        ``ValueError`` for a message that carries no lineage (it was not sampled).
        """
        idents = self._idents(item)
        entries = self._entries
        ident = idents[0]
        top = entries.get(ident)
        if top is None:
            raise KeyError(
                f"no lineage entry {ident} (entries {self._floor}..{self._next - 1} are kept)"
            )
        seen: set[int] = set()
        stack = list(idents)
        complete = True
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            entry = entries.get(current)
            if entry is None:
                complete = False
            elif not isinstance(entry, Origin):
                stack.extend(entry[1])
        origins: list[Origin] = []
        nodes: list[str] = []
        for current in sorted(seen):
            entry = entries.get(current)
            if entry is None:
                continue
            if isinstance(entry, Origin):
                origins.append(entry)
                node = entry.node
            else:
                node = entry[0]
            if node not in nodes:
                nodes.append(node)
        if isinstance(top, Origin):
            return Explanation(ident, top.node, tuple(origins), tuple(nodes), complete)
        return Explanation(ident, top[0], tuple(origins), tuple(nodes), complete, top[2])

    def recent(self, node_id: str, last: int = 10) -> list[Explanation]:
        """Explain the ``last`` sampled handlings at ``node_id`` (oldest first).

        A node's outputs are what it emits; for a sink, what it handles is the graph's output.
        Handlings whose entries were forgotten are left out.
        """
        if isinstance(last, bool) or not isinstance(last, int) or not 1 <= last <= RECENT:
            raise ValueError(f"last must be an int from 1 to {RECENT}, got {last!r}")
        ids = list(self._recent.get(node_id, ()))[-last:]
        out = []
        for ident in ids:
            try:
                out.append(self.explain(ident))
            except KeyError:
                continue
        return out

    @staticmethod
    def _idents(item: int | Message | Headers) -> tuple[int, ...]:
        if isinstance(item, Message):
            item = item.headers
        if isinstance(item, Headers):
            value = item.get(LINEAGE)
            if type(value) is tuple and value and all(type(v) is int for v in value):
                return value  # a value made from several messages
            if type(value) is not int:
                raise ValueError(
                    "this message carries no lineage id: it started before lineage was on, "
                    "or was not sampled (raise the rate: Runtime(lineage=1.0))"
                )
            return (value,)
        if type(item) is not int:
            raise TypeError(f"explain() takes a lineage id, a Message or Headers, got {item!r}")
        return (item,)
