"""Runs in the store: a named run's graph, its state, and the checkpoints it resumes from.

``Run(store, name, checksum=...)`` opens the run ``name``. A run that has not ended is
resumed: its newest committed checkpoint is what the execution restores (``latest``). One that
ended (completed, failed, cancelled), or one opened ``fresh``, starts over, its checkpoints
dropped. The graph's checksum is kept, so a run is never resumed with another graph: that is
refused with the way out named. A ``Run`` is the runtime's ``CheckpointTarget``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from arachne.durable.checkpoints import Checkpoints

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from arachne.durable.store import Store

__all__ = ["Run"]


class Run:
    """One named run in ``store``: where its checkpoints go and what it resumes from."""

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        checksum: str | None = None,
        fresh: bool = False,
        keep: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a run's name must be a non-empty string (the graph's name will do)")
        self.store = store
        self.name = name
        self.checksum = checksum
        self.checkpoints = Checkpoints(store, name, keep=keep, clock=clock)
        self._clock = clock
        self.resumed = self._open(fresh)

    def _open(self, fresh: bool) -> bool:
        """Resume the run if it is under way (True), else start it over."""
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT checksum, state FROM runs WHERE name = ?", (self.name,)
            ).fetchone()
            if row is not None and row[1] == "running" and not fresh:
                saved = row[0]
                if saved is not None and self.checksum is not None and saved != self.checksum:
                    raise ValueError(
                        f"run {self.name!r} in the store was made from another graph (checksum "
                        f"{saved[:12]}, this one {self.checksum[:12]}); resume it with its own "
                        "graph, or start it over (fresh=True, arachne run --fresh)"
                    )
                db.execute("UPDATE runs SET resumes = resumes + 1 WHERE name = ?", (self.name,))
                return True
            db.execute("DELETE FROM checkpoint_parts WHERE run = ?", (self.name,))
            db.execute("DELETE FROM checkpoints WHERE run = ?", (self.name,))
            db.execute(
                "INSERT OR REPLACE INTO runs (name, checksum, state, started_at, ended_at, "
                "resumes) VALUES (?, ?, 'running', ?, NULL, 0)",
                (self.name, self.checksum, self._clock()),
            )
            return False

    # -- the runtime's CheckpointTarget --------------------------------------------------------

    def latest(self) -> tuple[int, Mapping[str, Mapping[str, Any]]] | None:
        """Return the newest committed checkpoint's number and parts, or ``None``."""
        checkpoint = self.checkpoints.latest()
        if checkpoint is None:
            return None
        return checkpoint.id, checkpoint.parts

    def write(self, parts: Mapping[str, Mapping[str, str]]) -> int:
        """Commit a checkpoint of ``parts`` (JSON texts by kind and node id); its number."""
        return self.checkpoints.record(parts)

    def ended(self, state: str) -> None:
        """Record that the run ended in ``state``; a completed run is not resumed again.

        A run that failed or was cancelled keeps its checkpoints and stays resumable: the
        point of them is to go on after whatever stopped it.
        """
        if state != "completed":
            return
        with self.store.transaction() as db:
            db.execute(
                "UPDATE runs SET state = ?, ended_at = ? WHERE name = ?",
                (state, self._clock(), self.name),
            )

    def state(self) -> str | None:
        """Return the run's recorded state (``running``, ``completed``), or ``None``."""
        with self.store.transaction() as db:
            row = db.execute("SELECT state FROM runs WHERE name = ?", (self.name,)).fetchone()
        return None if row is None else str(row[0])

    def __repr__(self) -> str:
        return f"Run({self.name!r}, store={self.store!r})"
