"""DurableQueue: a bounded queue in the store, with leases, acks and dead letters (SQS-like).

A message is *enqueued* (JSON data, an optional ordering ``key``), *leased* by a consumer for
a visibility timeout, and then *acked* (gone for good) or *nacked* (back, after an optional
delay). A lease that is neither acked nor nacked before its deadline ends by itself: the
message is leased again by the next ``lease`` call, its attempt counted. A message that has
been leased ``max_attempts`` times and comes back once more goes to the dead letters
instead, with the reason; ``redrive`` returns dead letters to the queue.

Guarantees (each tested, ``tests/durable``):

- **Nothing acknowledged is lost, nothing is lost unacknowledged.** Every change is one
  SQLite transaction, so a process killed at any point leaves each message either enqueued,
  leased (and due again at its deadline), dead or gone by an ack.
- **An ack counts once.** Each lease has its own token; once a message is leased again, an
  ack or nack with an older token is refused (``False``), so a consumer that overran its
  deadline cannot remove a message another consumer now holds. An ack after the deadline
  but before anyone leased the message again still counts: nobody else received it.
- **Order per key.** Messages with the same ``key`` are leased one at a time, in the order
  they were enqueued: the next waits until the one before is acked or dead. Messages
  without a key are leased in enqueue order, with no such wait.
- **Bounded.** At most ``capacity`` messages are enqueued or leased at once
  (``QueueFull`` past it); dead letters are counted apart.

Processes share a queue by opening the same store file; the clock is the wall clock (seconds
since the epoch) so that their deadlines agree, and a test passes a clock of its own.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from arachne.model.errors import QueueFull

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Iterable

    from arachne.durable.store import Store

__all__ = ["MAX_VISIBILITY", "DeadLetter", "DurableQueue", "Leased", "QueueStats"]

MAX_VISIBILITY: Final = 12 * 3600.0
"""The longest visibility timeout a lease may take, in seconds (as SQS: 12 hours)."""


@dataclass(frozen=True, slots=True)
class Leased:
    """A message leased to a consumer until ``deadline``; ``token`` acks or nacks it."""

    id: int
    body: Any
    key: str | None
    attempt: int
    token: str
    deadline: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message given up on: leased ``attempts`` times, and why it was given up."""

    id: int
    body: Any
    key: str | None
    attempts: int
    error: str


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How many messages wait (``ready``), are leased, and are dead; the bound on the first two."""

    ready: int
    leased: int
    dead: int
    capacity: int


class DurableQueue:
    """The queue ``name`` in ``store``: bounded by ``capacity``, leases ``visibility`` long."""

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        capacity: int,
        visibility: float = 30.0,
        max_attempts: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("name must be a non-empty string: the queue's name in the store")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be an int >= 1 (a queue is bounded), got {capacity!r}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        self.store = store
        self.name = name
        self.capacity = capacity
        self.visibility = _visibility(visibility, "visibility")
        self.max_attempts = max_attempts
        self.clock = clock

    # -- producing -----------------------------------------------------------------------------

    def enqueue(self, body: Any, *, key: str | None = None, delay: float = 0.0) -> int:
        """Add a message (JSON data); return its id. ``QueueFull`` at capacity.

        ``key``: messages with the same key are leased one at a time, in order. ``delay``:
        seconds before it may be leased.
        """
        text = _encode(body)
        if key is not None and not isinstance(key, str):
            raise TypeError(f"key must be a string or None, got {type(key).__name__}")
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        with self.store.transaction() as db:
            live = self._live(db)
            if live >= self.capacity:
                raise QueueFull(
                    f"queue {self.name!r} holds {live} messages, its capacity; ack some, or "
                    "give it a larger capacity"
                )
            now = self.clock()
            cursor = db.execute(
                "INSERT INTO queue_items (queue, key, body, state, visible_at, enqueued_at) "
                "VALUES (?, ?, ?, 'ready', ?, ?)",
                (self.name, key, text, now + delay, now),
            )
            return int(cursor.lastrowid or 0)

    # -- consuming -----------------------------------------------------------------------------

    def lease(self, n: int = 1, *, visibility: float | None = None) -> list[Leased]:
        """Lease up to ``n`` messages that may be leased now, oldest first, each order kept."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        span = self.visibility if visibility is None else _visibility(visibility, "visibility")
        with self.store.transaction() as db:
            now = self.clock()
            self._expire(db, now)
            rows = db.execute(
                "SELECT id, key, body, attempts FROM queue_items AS item "
                "WHERE queue = ? AND state = 'ready' AND visible_at <= ? AND (key IS NULL OR "
                "NOT EXISTS (SELECT 1 FROM queue_items AS before WHERE before.queue = item.queue "
                "AND before.key = item.key AND before.id < item.id AND before.state != 'dead')) "
                "ORDER BY id LIMIT ?",
                (self.name, now, n),
            ).fetchall()
            leased = []
            for item_id, key, body, attempts in rows:
                token = uuid.uuid4().hex
                db.execute(
                    "UPDATE queue_items SET state = 'leased', attempts = ?, token = ?, "
                    "visible_at = ? WHERE id = ?",
                    (attempts + 1, token, now + span, item_id),
                )
                leased.append(
                    Leased(item_id, json.loads(body), key, attempts + 1, token, now + span)
                )
            return leased

    def ack(self, token: str) -> bool:
        """Remove the message leased under ``token``; ``False`` if that lease is not current."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "DELETE FROM queue_items WHERE queue = ? AND token = ? AND state = 'leased'",
                (self.name, token),
            )
            return bool(cursor.rowcount == 1)

    def ack_many(self, tokens: list[str]) -> int:
        """Ack every lease in ``tokens`` in one transaction; return how many were current."""
        return self._delete_each("token = ? AND state = 'leased'", tokens)

    def remove(self, ids: list[int]) -> int:
        """Delete the messages ``ids`` whatever their lease (not dead letters); how many.

        For a consumer that recovered knowing these were handled before it crashed: their
        leases may have run out or be held by nobody, and they must not come back.
        """
        return self._delete_each("id = ? AND state != 'dead'", ids)

    def nack(self, token: str, *, delay: float = 0.0, error: str = "nacked") -> bool:
        """Give the message back, after ``delay`` seconds; ``False`` if that lease is not current.

        A message that has had its ``max_attempts`` goes to the dead letters instead.
        """
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT id, attempts FROM queue_items "
                "WHERE queue = ? AND token = ? AND state = 'leased'",
                (self.name, token),
            ).fetchone()
            if row is None:
                return False
            item_id, attempts = row
            if attempts >= self.max_attempts:
                self._bury(db, item_id, f"{error} after {attempts} attempt(s)")
            else:
                db.execute(
                    "UPDATE queue_items SET state = 'ready', token = NULL, visible_at = ?, "
                    "error = ? WHERE id = ?",
                    (self.clock() + delay, error, item_id),
                )
            return True

    def extend(self, token: str, visibility: float) -> bool:
        """Move the lease's deadline to ``visibility`` seconds from now (``False``: not current)."""
        span = _visibility(visibility, "visibility")
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE queue_items SET visible_at = ? "
                "WHERE queue = ? AND token = ? AND state = 'leased'",
                (self.clock() + span, self.name, token),
            )
            return bool(cursor.rowcount == 1)

    # -- dead letters and counts ---------------------------------------------------------------

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Return up to ``limit`` dead letters, oldest first."""
        with self.store.transaction() as db:
            self._expire(db, self.clock())
            rows = db.execute(
                "SELECT id, body, key, attempts, error FROM queue_items "
                "WHERE queue = ? AND state = 'dead' ORDER BY id LIMIT ?",
                (self.name, limit),
            ).fetchall()
        return [DeadLetter(i, json.loads(b), k, a, e or "") for i, b, k, a, e in rows]

    def redrive(self, ids: Iterable[int] | None = None) -> int:
        """Return dead letters (all, or those of ``ids``) to the queue with fresh attempts.

        They keep their ids, so their place in their key's order. ``QueueFull`` if they would
        not fit; then none is moved. Returns how many were moved.
        """
        with self.store.transaction() as db:
            chosen = None if ids is None else sorted(set(ids))
            where = "queue = ? AND state = 'dead'"
            args: list[Any] = [self.name]
            if chosen is not None:
                where += f" AND id IN ({', '.join('?' * len(chosen))})"
                args += chosen
            moving = db.execute(f"SELECT COUNT(*) FROM queue_items WHERE {where}", args)  # noqa: S608
            count = int(moving.fetchone()[0])
            live = self._live(db)
            if live + count > self.capacity:
                raise QueueFull(
                    f"queue {self.name!r} has room for {self.capacity - live} of the "
                    f"{count} dead letters; ack some first"
                )
            db.execute(
                "UPDATE queue_items SET state = 'ready', attempts = 0, token = NULL, "  # noqa: S608
                f"visible_at = ?, error = NULL WHERE {where}",
                [self.clock(), *args],
            )
            return count

    def stats(self) -> QueueStats:
        """Return the counts now (leases past their deadline counted as ready or dead)."""
        with self.store.transaction() as db:
            self._expire(db, self.clock())
            counts = dict(
                db.execute(
                    "SELECT state, COUNT(*) FROM queue_items WHERE queue = ? GROUP BY state",
                    (self.name,),
                ).fetchall()
            )
        return QueueStats(
            counts.get("ready", 0), counts.get("leased", 0), counts.get("dead", 0), self.capacity
        )

    # -- inside a transaction ------------------------------------------------------------------

    def _expire(self, db: sqlite3.Connection, now: float) -> None:
        """End every lease past its deadline: back to ready, or dead if out of attempts."""
        db.execute(
            "UPDATE queue_items SET state = 'dead', token = NULL, "
            "error = 'lease expired after ' || attempts || ' attempt(s)' "
            "WHERE queue = ? AND state = 'leased' AND visible_at <= ? AND attempts >= ?",
            (self.name, now, self.max_attempts),
        )
        db.execute(
            "UPDATE queue_items SET state = 'ready', token = NULL, error = 'lease expired' "
            "WHERE queue = ? AND state = 'leased' AND visible_at <= ?",
            (self.name, now),
        )

    def _bury(self, db: sqlite3.Connection, item_id: int, error: str) -> None:
        db.execute(
            "UPDATE queue_items SET state = 'dead', token = NULL, error = ? WHERE id = ?",
            (error, item_id),
        )

    def _delete_each(self, condition: str, keys: list[Any]) -> int:
        """Delete, in one transaction, each message matching ``condition`` for a key; how many."""
        with self.store.transaction() as db:
            done = 0
            for key in keys:
                cursor = db.execute(
                    f"DELETE FROM queue_items WHERE queue = ? AND {condition}",  # noqa: S608
                    (self.name, key),
                )
                done += cursor.rowcount
            return done

    def _live(self, db: sqlite3.Connection) -> int:
        """Return the messages that are not dead (kept by the store's triggers: no scan)."""
        row = db.execute("SELECT live FROM queue_live WHERE queue = ?", (self.name,)).fetchone()
        return int(row[0]) if row is not None else 0

    def __repr__(self) -> str:
        return f"DurableQueue({self.name!r}, capacity={self.capacity}, store={self.store!r})"


def _encode(body: Any) -> str:
    try:
        return json.dumps(body, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"a queued message must be JSON data (str, number, bool, None, list, dict): {exc}"
        ) from None


def _visibility(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not 0 < value <= MAX_VISIBILITY:
        raise ValueError(
            f"{name} must be more than 0 and at most {MAX_VISIBILITY:.0f} s, got {value}"
        )
    return float(value)
