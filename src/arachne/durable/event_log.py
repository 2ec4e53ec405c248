"""The event log of a run: its events, and every message of the edges it records.

Entries are appended in batches (one transaction each) and numbered per run (``seq``). An
event is its kind and its fields as a JSON object; a message is the payload taken from a
recorded edge, numbered on that edge from 1 (``n``), so a replay feeds each edge its messages
in order and can tell when some are missing. ``keep`` bounds the entries a run keeps: past it
the oldest go at each append. A run resumed from a checkpoint cuts each recorded edge back to
the messages that checkpoint had seen, so the log holds each message once however often the
run was interrupted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from arachne.durable.store import Store

__all__ = ["DEFAULT_KEEP", "EventLog", "LoggedEvent", "ReplayGap"]

DEFAULT_KEEP: Final = 1_000_000
"""Entries a run's log keeps by default (events and messages together)."""


class ReplayGap(ValueError):
    """A recorded edge's messages are not all in the log (retention pruned the first ones)."""


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One event from the log: its number, wall-clock time, kind and fields."""

    seq: int
    ts: float
    kind: str
    fields: Mapping[str, Any]


class EventLog:
    """The log of run ``run`` in ``store``, keeping its newest ``keep`` entries."""

    def __init__(
        self,
        store: Store,
        run: str,
        *,
        keep: int = DEFAULT_KEEP,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an int >= 1 (entries of the log kept), got {keep!r}")
        self.store = store
        self.run = run
        self.keep = keep
        self.clock = clock

    def append(self, entries: Sequence[tuple[str, str, int | None, str]]) -> None:
        """Append ``(kind, name, n, body)`` entries in one transaction; prune past ``keep``.

        ``kind`` is ``event`` (``name`` its kind, ``body`` its fields as JSON text) or
        ``message`` (``name`` the edge, ``n`` its number there, ``body`` the payload as JSON).
        """
        if not entries:
            return
        now = self.clock()
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM event_log WHERE run = ?", (self.run,)
            ).fetchone()
            first = int(row[0]) + 1
            db.executemany(
                "INSERT INTO event_log (run, seq, ts, kind, name, n, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (self.run, first + index, now, kind, name, n, body)
                    for index, (kind, name, n, body) in enumerate(entries)
                ],
            )
            last = first + len(entries) - 1
            if last > self.keep:
                db.execute(
                    "DELETE FROM event_log WHERE run = ? AND seq <= ?",
                    (self.run, last - self.keep),
                )

    def cut(
        self,
        edges: Iterable[str],
        counts: Mapping[str, int],
        *,
        renamed: Mapping[str, str] | None = None,
    ) -> None:
        """Keep the first ``counts[edge]`` messages of each of ``edges`` (none if unnamed).

        ``renamed`` maps old edge ids to new ones: their messages are moved under the new id
        first, in the same transaction.
        """
        with self.store.transaction() as db:
            for old, new in (renamed or {}).items():
                db.execute(
                    "UPDATE event_log SET name = ? WHERE run = ? AND kind = 'message' AND name = ?",
                    (new, self.run, old),
                )
            for edge in edges:
                db.execute(
                    "DELETE FROM event_log WHERE run = ? AND kind = 'message' AND name = ? "
                    "AND n > ?",
                    (self.run, edge, counts.get(edge, 0)),
                )

    def clear(self) -> None:
        """Delete the whole log of the run."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM event_log WHERE run = ?", (self.run,))

    def recorded_edges(self) -> list[str]:
        """Return the edges with messages in the log, in the order first recorded."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT name FROM event_log WHERE run = ? AND kind = 'message' "
                "GROUP BY name ORDER BY MIN(seq)",
                (self.run,),
            ).fetchall()
        return [str(name) for (name,) in rows]

    def messages(self, edge: str) -> list[Any]:
        """Return every recorded message of ``edge``, in order (``ReplayGap`` if some are gone)."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT n, body FROM event_log WHERE run = ? AND kind = 'message' AND name = ? "
                "ORDER BY n",
                (self.run, edge),
            ).fetchall()
        values = []
        for expected, (n, body) in enumerate(rows, start=1):
            if n != expected:
                raise ReplayGap(
                    f"replay gap: edge {edge!r} lacks messages {expected} to {n - 1} of run "
                    f"{self.run!r}: the log's retention pruned them; record the run again "
                    "keeping more entries (--log-keep, log_keep=)"
                )
            values.append(json.loads(body))
        return values

    def events(self, kinds: Iterable[str] | None = None, *, limit: int = 1000) -> list[LoggedEvent]:
        """Return the run's newest ``limit`` logged events (of ``kinds``), oldest first."""
        wanted = list(kinds) if kinds is not None else None
        query = "SELECT seq, ts, name, body FROM event_log WHERE run = ? AND kind = 'event'"
        params: list[Any] = [self.run]
        if wanted:
            query += f" AND name IN ({', '.join('?' for _ in wanted)})"
            params += wanted
        query += " ORDER BY seq DESC LIMIT ?"
        params.append(limit)
        with self.store.transaction() as db:
            rows = db.execute(query, params).fetchall()
        return [
            LoggedEvent(int(seq), float(ts), str(name), json.loads(body))
            for seq, ts, name, body in reversed(rows)
        ]

    def __repr__(self) -> str:
        return f"EventLog({self.run!r}, store={self.store!r})"
