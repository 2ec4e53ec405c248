"""Checkpoints in the store: numbered, filled part by part, committed all at once.

A checkpoint of a run is begun (``begin``), filled with the parts the barrier passes (each
node's state, each source's position, each sink's prepared offset: JSON data under a part
name and a kind), then committed (``commit``) when every sink has seen its barrier. Only a
committed checkpoint is ever read back (``latest``); a process killed before the commit leaves
a pending one, which the next ``begin`` or ``abandon`` clears. Each run keeps its newest
``keep`` committed checkpoints (the older are pruned at each commit).

The runtime's barriers fill these tables (issue 16); this module owns the tables and every
change to them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from arachne.durable.store import Store

__all__ = ["KINDS", "Checkpoint", "Checkpoints"]

KINDS: Final = ("state", "position", "sink", "finished", "recorded", "graph")
"""What a part of a checkpoint holds: a node's state, a source's position, a sink's offset,
that a node had finished, how many messages of a recorded edge the event log holds, or the
checksum of a graph changed live."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A committed checkpoint: its number, when it committed, and its parts by kind and name."""

    run: str
    id: int
    committed_at: float
    parts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def part(self, kind: str, name: str, default: Any = None) -> Any:
        """Return the part ``name`` of ``kind`` (``default`` if the checkpoint has none)."""
        return self.parts.get(kind, {}).get(name, default)


class Checkpoints:
    """The checkpoints of run ``run`` in ``store``; the newest ``keep`` committed are kept."""

    def __init__(
        self,
        store: Store,
        run: str,
        *,
        keep: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(run, str) or not run:
            raise ValueError("run must be a non-empty string: the run's name in the store")
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an int >= 1, got {keep!r}")
        self.store = store
        self.run = run
        self.keep = keep
        self.clock = clock

    def begin(self) -> int:
        """Start the next checkpoint (a pending one left by a crash is dropped); its number."""
        with self.store.transaction() as db:
            self._drop_pending(db)
            row = db.execute(
                "SELECT COALESCE(MAX(id), 0) FROM checkpoints WHERE run = ?", (self.run,)
            ).fetchone()
            number = int(row[0]) + 1
            db.execute(
                "INSERT INTO checkpoints (run, id, state, started_at) VALUES (?, ?, 'pending', ?)",
                (self.run, number, self.clock()),
            )
            return number

    def save(self, checkpoint: int, kind: str, name: str, value: Any) -> None:
        """Keep ``value`` (JSON data) as part ``name`` of ``kind`` of pending ``checkpoint``."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        try:
            body = json.dumps(value, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"part {name!r} ({kind}) must be JSON data to be checkpointed: {exc}; keep "
                "node state in plain values (numbers, strings, lists, dicts)"
            ) from None
        with self.store.transaction() as db:
            self._pending(db, checkpoint)
            db.execute(
                "INSERT INTO checkpoint_parts (run, checkpoint, kind, name, body) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run, checkpoint, kind, name) "
                "DO UPDATE SET body = excluded.body",
                (self.run, checkpoint, kind, name, body),
            )

    def commit(self, checkpoint: int) -> None:
        """Commit pending ``checkpoint``: from now on it is what ``latest`` returns."""
        with self.store.transaction() as db:
            self._pending(db, checkpoint)
            db.execute(
                "UPDATE checkpoints SET state = 'committed', committed_at = ? "
                "WHERE run = ? AND id = ?",
                (self.clock(), self.run, checkpoint),
            )
            self._prune(db)

    def record(self, parts: Mapping[str, Mapping[str, str]]) -> int:
        """Begin, fill and commit a checkpoint in one transaction; return its number.

        ``parts`` maps each kind to part names and their values already written as JSON text
        (the runtime encodes each as its barrier passes, so later changes cannot reach it).
        """
        with self.store.transaction() as db:
            return self.record_in(db, parts)

    def record_in(self, db: Any, parts: Mapping[str, Mapping[str, str]]) -> int:
        """:meth:`record` inside the caller's transaction ``db`` (to commit more with it)."""
        for kind in parts:
            if kind not in KINDS:
                raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self._drop_pending(db)
        row = db.execute(
            "SELECT COALESCE(MAX(id), 0) FROM checkpoints WHERE run = ?", (self.run,)
        ).fetchone()
        number = int(row[0]) + 1
        now = self.clock()
        db.execute(
            "INSERT INTO checkpoints (run, id, state, started_at, committed_at) "
            "VALUES (?, ?, 'committed', ?, ?)",
            (self.run, number, now, now),
        )
        db.executemany(
            "INSERT INTO checkpoint_parts (run, checkpoint, kind, name, body) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (self.run, number, kind, name, body)
                for kind, by_name in parts.items()
                for name, body in by_name.items()
            ],
        )
        self._prune(db)
        return number

    def forget(self) -> None:
        """Delete every checkpoint of the run, committed or not."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM checkpoint_parts WHERE run = ?", (self.run,))
            db.execute("DELETE FROM checkpoints WHERE run = ?", (self.run,))

    def abandon(self) -> None:
        """Drop the pending checkpoint, if any (its parts go with it)."""
        with self.store.transaction() as db:
            self._drop_pending(db)

    def latest(self) -> Checkpoint | None:
        """Return the newest committed checkpoint with its parts, or ``None`` if none."""
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT id, committed_at FROM checkpoints WHERE run = ? AND state = 'committed' "
                "ORDER BY id DESC LIMIT 1",
                (self.run,),
            ).fetchone()
            if row is None:
                return None
            number, committed_at = row
            parts: dict[str, dict[str, Any]] = {}
            for kind, name, body in db.execute(
                "SELECT kind, name, body FROM checkpoint_parts WHERE run = ? AND checkpoint = ?",
                (self.run, number),
            ):
                parts.setdefault(kind, {})[name] = json.loads(body)
        return Checkpoint(self.run, int(number), float(committed_at), parts)

    def committed(self) -> list[int]:
        """Return the numbers of the committed checkpoints kept, oldest first."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT id FROM checkpoints WHERE run = ? AND state = 'committed' ORDER BY id",
                (self.run,),
            ).fetchall()
        return [int(number) for (number,) in rows]

    # -- inside a transaction ------------------------------------------------------------------

    def _pending(self, db: Any, checkpoint: int) -> None:
        row = db.execute(
            "SELECT state FROM checkpoints WHERE run = ? AND id = ?", (self.run, checkpoint)
        ).fetchone()
        if row is None or row[0] != "pending":
            state = "unknown" if row is None else str(row[0])
            raise ValueError(
                f"checkpoint {checkpoint} of run {self.run!r} is {state}, not pending; begin "
                "a new one"
            )

    def _prune(self, db: Any) -> None:
        old = db.execute(
            "SELECT id FROM checkpoints WHERE run = ? AND state = 'committed' AND id NOT IN "
            "(SELECT id FROM checkpoints WHERE run = ? AND state = 'committed' "
            "ORDER BY id DESC LIMIT ?)",
            (self.run, self.run, self.keep),
        ).fetchall()
        for (number,) in old:
            self._delete(db, number)

    def _drop_pending(self, db: Any) -> None:
        for (number,) in db.execute(
            "SELECT id FROM checkpoints WHERE run = ? AND state = 'pending'", (self.run,)
        ).fetchall():
            self._delete(db, number)

    def _delete(self, db: Any, number: int) -> None:
        db.execute(
            "DELETE FROM checkpoint_parts WHERE run = ? AND checkpoint = ?", (self.run, number)
        )
        db.execute("DELETE FROM checkpoints WHERE run = ? AND id = ?", (self.run, number))

    def __repr__(self) -> str:
        return f"Checkpoints({self.run!r}, store={self.store!r})"
