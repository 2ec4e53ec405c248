"""RouteJournal: the steps of route changes, written before each is taken as done.

A change of who owns a range of key groups (``arachne.distributed.moves``) goes through
several steps; each is appended here, in one transaction, once it is done, with what a later
step needs (the keys' state a snapshot took, as JSON text). A controller that dies between
two steps leaves the journal as its last written step left it; the next one reads it back
(:meth:`RouteJournal.entries`) and goes on from there. This module owns the
``route_journal`` table and every change to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arachne.durable.store import Store

__all__ = ["JournalEntry", "RouteJournal"]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One step written: its number, name, key-group range, epoch, detail, data and time."""

    seq: int
    step: str
    start: int
    stop: int
    epoch: int
    detail: str
    data: str | None
    at: float


class RouteJournal:
    """The route steps of ``name`` in ``store``, in the order they were written."""

    def __init__(self, store: Store, name: str, *, clock: Callable[[], float] = time.time) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("name must be a non-empty string: whose routes the journal keeps")
        self.store = store
        self.name = name
        self.clock = clock

    def append(
        self, step: str, start: int, stop: int, epoch: int, detail: str, data: str | None = None
    ) -> JournalEntry:
        """Write one step (in a transaction of its own) and return it."""
        at = self.clock()
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM route_journal WHERE name = ?", (self.name,)
            ).fetchone()
            seq = int(row[0]) + 1
            db.execute(
                "INSERT INTO route_journal (name, seq, step, start, stop, epoch, detail, data, "
                "at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self.name, seq, step, start, stop, epoch, detail, data, at),
            )
        return JournalEntry(seq, step, start, stop, epoch, detail, data, at)

    def entries(self) -> list[JournalEntry]:
        """Return every step written, oldest first."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT seq, step, start, stop, epoch, detail, data, at FROM route_journal "
                "WHERE name = ? ORDER BY seq",
                (self.name,),
            ).fetchall()
        return [JournalEntry(*row) for row in rows]
