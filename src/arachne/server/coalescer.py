"""One client's per-message events, folded by what they are about until the client is sent them.

An execution's watcher (``Execution.watch``) reports every batch a node takes from an edge; for
each client subscribed to it, a :class:`Coalescer` turns that into two kinds of event, kept
one per key: ``port:emit`` per edge (the newest value sent from one port to another, with its
number on that edge; not for ``inject`` calls) and ``component:invoked`` per node input (how
many messages its handler was handed, injected ones included). A key already waiting is
updated in place and counts what it folded in (``coalesced``), so what waits is bounded by
the graph's size, never by its rate, and a slow client costs the execution one dictionary
update per batch. Both kinds wait in one queue, oldest first, and the client's pump takes
from its front as many as its rate allows; a key sent and seen again goes to the back, so a
busy edge cannot starve a quiet one, nor one kind the other.

Counts come from the edges' own numbers: a batch a node takes, gives back unhandled (its
output filled) and takes again is counted once, by how far the edge's number moved.
"""

from __future__ import annotations

import json
import reprlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from arachne.components.json_text import plain
from arachne.model.message import Message

if TYPE_CHECKING:
    from arachne.runtime import Taken

__all__ = ["VALUE_CHARS", "Coalescer", "event_value"]

VALUE_CHARS: Final = 8192
"""Characters of a value's JSON an event carries; a longer one is cut, and marked so."""

_ENCODER: Final = json.JSONEncoder(allow_nan=False, default=plain)
"""JSON as the graph's outputs are written: ``to_dict()`` objects (an ``ErrorRecord`` on its
way to dead letters) and dataclasses as objects (``arachne.components.json_text.plain``)."""
_SHORT: Final = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = VALUE_CHARS // 8
_SHORT.maxlevel = 4


@dataclass(slots=True)
class _Emit:
    ends: tuple[str, str, str, str]  # source node and port, target node and port
    last: object  # the newest message (not its batch: that is let go)
    sequence: int  # its number on the edge
    count: int  # messages on this edge since the last event sent for it


@dataclass(slots=True)
class _Invoked:
    count: int  # messages handed to this input since the last event sent for it


class Coalescer:
    """Folds one client's per-message events by key until :meth:`take` hands them out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # ("port:emit", execution, edge) -> _Emit; ("component:invoked", execution, node,
        # port) -> _Invoked; in the order they began to wait.
        self._waiting: dict[tuple[str, ...], _Emit | _Invoked] = {}
        # (execution, edge id) -> (the edge's serial, the highest number counted on it)
        self._seen: dict[tuple[str, str], tuple[int, int]] = {}
        self._followed: set[str] = set()  # executions whose batches are counted
        self.coalesced = 0  # messages folded into an event already waiting, in all
        self.sent = 0

    def taken(self, execution_id: str, taken: Taken) -> None:
        """Note a batch a node took (on the execution's loop: a few updates, no I/O)."""
        edge_key = (execution_id, taken.edge_id)
        with self._lock:
            if execution_id not in self._followed:
                return  # (a batch reported as the client let the execution go)
            serial, seen = self._seen.get(edge_key, (0, 0))
            if serial != taken.edge_serial:  # first sight of this edge (maybe a new one)
                seen = taken.sequence - len(taken.items)
            new = taken.sequence - seen
            if new <= 0:
                return  # (given back and taken again: counted the first time)
            self._seen[edge_key] = (taken.edge_serial, taken.sequence)
            if not taken.injected:  # (what an inject call hands in was sent by no port)
                key: tuple[str, ...] = ("port:emit", execution_id, taken.edge_id)
                emit = self._waiting.get(key)
                if emit is None:
                    ends = (taken.source, taken.source_port, taken.target, taken.target_port)
                    self._waiting[key] = _Emit(ends, taken.items[-1], taken.sequence, new)
                    self.coalesced += new - 1
                elif isinstance(emit, _Emit):
                    emit.last, emit.sequence = taken.items[-1], taken.sequence
                    emit.count += new
                    self.coalesced += new
            key = ("component:invoked", execution_id, taken.target, taken.target_port)
            invoked = self._waiting.get(key)
            if invoked is None:
                self._waiting[key] = _Invoked(new)
            elif isinstance(invoked, _Invoked):
                invoked.count += new

    def take(self, limit: int, execution_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Return up to ``limit`` waiting events, oldest first, as ``(name, data)`` pairs.

        With ``execution_id``, only (and all up to ``limit``) of that execution's. Values are
        encoded here, so call it off the event loop when they may be large.
        """
        with self._lock:
            keys = [key for key in self._waiting if execution_id is None or key[1] == execution_id][
                : max(0, limit)
            ]
            picked = [(key, self._waiting.pop(key)) for key in keys]
        events = [_data(key, entry) for key, entry in picked]
        self.sent += len(events)
        return events

    def waiting(self) -> int:
        """Return how many events wait to be sent."""
        with self._lock:
            return len(self._waiting)

    def follow(self, execution_id: str) -> None:
        """Count ``execution_id``'s batches from now on."""
        with self._lock:
            self._followed.add(execution_id)

    def forget(self, execution_id: str) -> None:
        """Stop counting ``execution_id``'s batches; drop what waits and what was counted."""
        with self._lock:
            self._followed.discard(execution_id)
            for key in [key for key in self._waiting if key[1] == execution_id]:
                del self._waiting[key]
            for seen in [seen for seen in self._seen if seen[0] == execution_id]:
                del self._seen[seen]


def _data(key: tuple[str, ...], entry: _Emit | _Invoked) -> tuple[str, dict[str, Any]]:
    name, execution_id = key[0], key[1]
    if isinstance(entry, _Invoked):
        node, port = key[2], key[3]
        return name, {
            "executionId": execution_id,
            "nodeId": node,
            "port": port,
            "count": entry.count,
        }
    source, source_port, target, target_port = entry.ends
    value, cut = event_value(entry.last)
    data = {
        "executionId": execution_id,
        "edgeId": key[2],
        "sourceNode": source,
        "sourcePort": source_port,
        "targetNode": target,
        "targetPort": target_port,
        "value": value,
        "sequence": entry.sequence,
        "coalesced": entry.count - 1,
    }
    if cut:
        data["truncated"] = True
    return name, data


def event_value(item: object) -> tuple[Any, bool]:
    """Return ``item``'s payload as JSON-ready data, and whether it had to be cut or described.

    The data is a copy, read back from the value's JSON, never the node's own object. A value
    JSON cannot hold as it is (NaN, an object of the program's own) is sent as a short
    description; one whose JSON is over :data:`VALUE_CHARS` characters as the start of that
    JSON, encoded only that far (in Python, piece by piece: a huge value neither holds the
    interpreter nor is encoded whole). Never raises.
    """
    payload = item.payload if isinstance(item, Message) else item
    if isinstance(payload, str) and len(payload) > VALUE_CHARS:
        return payload[:VALUE_CHARS], True  # (no need to encode all of it to cut it)
    pieces: list[str] = []
    size = 0
    try:
        for piece in _ENCODER.iterencode(payload):
            pieces.append(piece)
            size += len(piece)
            if size > VALUE_CHARS:
                return "".join(pieces)[:VALUE_CHARS], True
        return json.loads("".join(pieces)), False
    except Exception:  # (not JSON; or changed while read, by the node that holds it)
        try:
            return _SHORT.repr(payload)[:VALUE_CHARS], True
        except Exception:
            return f"<{type(payload).__name__}>", True
