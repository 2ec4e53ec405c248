"""One client's per-message events, folded by what they are about until the client is sent them.

An execution's watcher (``Execution.watch``) reports every batch a node takes from an edge; for
each client subscribed to it, a :class:`Coalescer` turns that into two kinds of event, kept
one per key: ``port:emit`` per edge (the newest value sent from one port to another, with its
number on that edge; not for ``inject`` calls) and ``component:invoked`` per node input (how
many messages its handler was handed, injected ones included). A key already waiting is
updated in place and counts what it folded in (``coalesced``), so what waits is bounded by
the graph's size, never by its rate, and a slow client costs the execution one dictionary
update per batch. The client's pump takes the oldest keys first, as many as its rate allows;
a key sent and seen again goes to the back, so a busy edge cannot starve a quiet one.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from arachne.model.message import Message

if TYPE_CHECKING:
    from arachne.runtime import Taken

__all__ = ["VALUE_CHARS", "Coalescer", "event_value"]

VALUE_CHARS: Final = 8192
"""Characters of a value's JSON an event carries; a longer one is cut, and marked so."""


@dataclass(slots=True)
class _Emit:
    ends: tuple[str, str, str, str]  # source node and port, target node and port
    last: object  # the newest message (not its batch: that is let go)
    sequence: int  # its number on the edge
    count: int  # messages on this edge since the last event sent for it


@dataclass(slots=True)
class _Invoked:
    execution_id: str
    node: str
    port: str
    count: int


class Coalescer:
    """Folds one client's per-message events by key until :meth:`take` hands them out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._emits: dict[tuple[str, str], _Emit] = {}
        self._invoked: dict[tuple[str, str, str], _Invoked] = {}
        self.coalesced = 0  # messages folded into an event already waiting, in all
        self.sent = 0

    def taken(self, execution_id: str, taken: Taken) -> None:
        """Note a batch a node took (on the execution's loop: one update per key, no I/O)."""
        n = len(taken.items)
        emit_key = (execution_id, taken.edge_id)
        invoked_key = (execution_id, taken.target, taken.target_port)
        with self._lock:
            emit = self._emits.get(emit_key)
            if taken.injected:
                pass  # what an inject call hands in was sent by no port
            elif emit is None:
                ends = (taken.source, taken.source_port, taken.target, taken.target_port)
                self._emits[emit_key] = _Emit(ends, taken.items[-1], taken.sequence, n)
                self.coalesced += n - 1
            else:
                emit.last, emit.sequence = taken.items[-1], taken.sequence
                emit.count += n
                self.coalesced += n
            invoked = self._invoked.get(invoked_key)
            if invoked is None:
                self._invoked[invoked_key] = _Invoked(
                    execution_id, taken.target, taken.target_port, n
                )
            else:
                invoked.count += n

    def take(self, limit: int, execution_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Return up to ``limit`` waiting events, oldest first, as ``(name, data)`` pairs.

        With ``execution_id``, only (and all up to ``limit``) of that execution's.
        """
        with self._lock:
            emits = self._pick(self._emits, limit, execution_id)
            invoked = self._pick(self._invoked, limit - len(emits), execution_id)
        events = [("port:emit", _emit_data(key[0], key[1], emit)) for key, emit in emits]
        events += [
            (
                "component:invoked",
                {
                    "executionId": call.execution_id,
                    "nodeId": call.node,
                    "port": call.port,
                    "count": call.count,
                },
            )
            for _, call in invoked
        ]
        self.sent += len(events)
        return events

    @staticmethod
    def _pick(waiting: dict[Any, Any], limit: int, execution_id: str | None) -> list[Any]:
        keys = [key for key in waiting if execution_id is None or key[0] == execution_id]
        return [(key, waiting.pop(key)) for key in keys[: max(0, limit)]]

    def waiting(self) -> int:
        """Return how many events wait to be sent."""
        with self._lock:
            return len(self._emits) + len(self._invoked)

    def forget(self, execution_id: str) -> None:
        """Drop what waits for ``execution_id`` (the client unsubscribed)."""
        with self._lock:
            for waiting in (self._emits, self._invoked):
                _drop(waiting, execution_id)


def _drop(waiting: dict[Any, Any], execution_id: str) -> None:
    for key in [key for key in waiting if key[0] == execution_id]:
        del waiting[key]


def _emit_data(execution_id: str, edge_id: str, emit: _Emit) -> dict[str, Any]:
    source, source_port, target, target_port = emit.ends
    value, cut = event_value(emit.last)
    data = {
        "executionId": execution_id,
        "edgeId": edge_id,
        "sourceNode": source,
        "sourcePort": source_port,
        "targetNode": target,
        "targetPort": target_port,
        "value": value,
        "sequence": emit.sequence,
        "coalesced": emit.count - 1,
    }
    if cut:
        data["truncated"] = True
    return data


def event_value(item: object) -> tuple[Any, bool]:
    """Return ``item``'s payload as JSON-ready data, and whether it had to be cut or described.

    A value JSON cannot hold as it is (NaN, an object of the program's own) is sent as its
    text; one whose JSON is over :data:`VALUE_CHARS` characters as the start of that JSON.
    """
    payload = item.payload if isinstance(item, Message) else item
    try:
        text = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        described = repr(payload)
        return described[:VALUE_CHARS], True
    if len(text) > VALUE_CHARS:
        return text[:VALUE_CHARS], True
    return payload, False
