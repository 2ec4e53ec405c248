"""The store interface every durable part is written against: one transaction at a time.

A store hands out ``transaction()``: a block run as one write transaction on a DB-API
connection, committed whole or not at all, taken in turn by every process sharing the store.
The durable parts (queues, checkpoints, runs) ask for nothing else, and use only plain SQL
that SQLite and PostgreSQL both understand. ``SqliteStore`` is the embedded one; a store on a
server (PostgreSQL, for users who outgrow one machine) fills the same seam.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = ["Store"]


class Store(Protocol):
    """What the durable parts need of a store."""

    def transaction(self) -> AbstractContextManager[Any]:
        """Return a context that runs its block as one write transaction (a connection)."""
        ...
