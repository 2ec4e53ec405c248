"""Runs in the store: a named run's graph, its state, and the checkpoints it resumes from.

``Run(store, name, checksum=...)`` opens the run ``name``. A run that has not completed is
resumed: its newest committed checkpoint is what the execution restores (``latest``). One that
completed, or one opened ``fresh``, starts over, its checkpoints and event log dropped. The
graph's checksum and manifest are kept, so a run is never resumed with another graph by
mistake: that is refused with the way out named. Opened with ``upgrade``, a run resumes with a
changed graph when the diff of the two manifests lets every saved state follow its node (by id,
or by a rename the author declared): a node's state that nothing takes over, or that a change
of component or schema would break, is refused before the run starts, naming the nodes. A
``Run`` is the runtime's ``CheckpointTarget`` and ``LogTarget``.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arachne.durable.checkpoints import Checkpoints
from arachne.durable.event_log import DEFAULT_KEEP, EventLog
from arachne.durable.run_lock import RunLock
from arachne.model.manifest import Manifest, ManifestDiff

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from arachne.durable.store import Store

__all__ = ["Run", "run_names", "run_state", "stored_document"]


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
        log_keep: int = DEFAULT_KEEP,
        document: str | None = None,
        clock: Callable[[], float] = time.time,
        manifest: Manifest | None = None,
        upgrade: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a run's name must be a non-empty string (the graph's name will do)")
        self.store = store
        self.name = name
        self.checksum = checksum
        self.checkpoints = Checkpoints(store, name, keep=keep, clock=clock)
        self.log = EventLog(store, name, keep=log_keep, clock=clock)
        self.document = document
        self.manifest = manifest
        self.upgrade = upgrade
        self.renames: dict[str, str] = {}  # old node id -> new, when resumed onto a new graph
        self.edge_renames: dict[str, str] = {}  # old edge id -> new, likewise
        self._dropped: set[str] = set()  # old node ids no node of the new graph takes over
        self.carried: ManifestDiff | None = None  # what changed, when resumed onto a new graph
        self._moving = False  # resumed onto a new graph, and no checkpoint of it written yet
        self._clock = clock
        path = getattr(store, "path", None)  # (a store on a server locks runs its own way)
        self.lock = RunLock(Path(path), name) if path is not None else None
        try:
            self.resumed = self._open(fresh)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Let other processes run this run (it is let go at the end of the process anyway)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _open(self, fresh: bool) -> bool:
        """Resume the run if it is under way (True), else start it over."""
        manifest = None if self.manifest is None else self.manifest.canonical().decode()
        if not fresh:
            with self.store.transaction() as db:
                row = db.execute(
                    "SELECT checksum, state, manifest FROM runs WHERE name = ?", (self.name,)
                ).fetchone()
            if row is not None and row[1] == "running":
                saved, kept = row[0], row[2]
                if saved is not None and self.checksum is not None:
                    if saved != self.checksum:
                        self._carry_over(saved, self.checksum, kept)
                elif kept is not None and manifest is not None and kept != manifest:
                    # (a graph with no checksum, a config JSON cannot write: its manifest tells)
                    self._carry_over(_digest(kept), _digest(manifest), kept)
        with self.store.transaction() as db:
            row = db.execute("SELECT state FROM runs WHERE name = ?", (self.name,)).fetchone()
            if row is not None and row[0] == "running" and not fresh:
                db.execute("UPDATE runs SET resumes = resumes + 1 WHERE name = ?", (self.name,))
                if self.carried is None and manifest is not None:  # (a run saved without one)
                    db.execute(
                        "UPDATE runs SET manifest = ? WHERE name = ? AND manifest IS NULL",
                        (manifest, self.name),
                    )
                return True
            db.execute("DELETE FROM checkpoint_parts WHERE run = ?", (self.name,))
            db.execute("DELETE FROM checkpoints WHERE run = ?", (self.name,))
            db.execute("DELETE FROM event_log WHERE run = ?", (self.name,))
            db.execute(
                "INSERT INTO runs (name, checksum, state, started_at, ended_at, resumes, "
                "document, manifest) VALUES (?, ?, 'running', ?, NULL, 0, ?, ?) ON CONFLICT "
                "(name) DO UPDATE SET checksum = excluded.checksum, state = 'running', "
                "started_at = excluded.started_at, ended_at = NULL, resumes = 0, "
                "document = excluded.document, manifest = excluded.manifest",
                (self.name, self.checksum, self._clock(), self.document, manifest),
            )
            return False

    def _carry_over(self, saved: str, checksum: str, saved_manifest: str | None) -> None:
        """Accept resuming onto a changed graph if every saved state can follow its node.

        Sets :attr:`renames` and :attr:`carried`; ``ValueError`` naming the nodes otherwise.
        The run keeps the old graph's checksum and manifest until its first checkpoint of
        the new one commits, so a crash before then resumes (and is checked) the same way.
        """
        if not self.upgrade or self.manifest is None:
            raise ValueError(
                f"run {self.name!r} in the store was made from another graph (checksum "
                f"{saved[:12]}, this one {checksum[:12]}); resume it with its own graph, "
                "carry its state over to this one (upgrade_runs=True, arachne run --upgrade), "
                "or start it over (fresh=True, arachne run --fresh)"
            )
        if saved_manifest is None:
            raise ValueError(
                f"run {self.name!r} was saved without its graph's manifest (by an older "
                "Arachne), so its state cannot be matched to this graph's nodes; resume it "
                "with its own graph, or start it over (fresh=True, arachne run --fresh)"
            )
        diff = Manifest.from_dict(json.loads(saved_manifest)).diff(self.manifest)
        latest = self.checkpoints.latest()
        held: set[str] = set()  # node ids (old) with saved state
        if latest is not None:
            for kind in ("state", "position", "sink"):
                held.update(latest.parts.get(kind, {}))
        new_ids = {node.id for node in self.manifest.nodes}
        renames = diff.renames
        back = {new: old for old, new in renames.items()}
        # (an id the new graph reuses for a renamed node still loses its old node's state)
        dropped = {c.id for c in diff.changes if c.subject == "node" and c.kind == "removed"}
        problems = [
            f"{node_id!r}: its saved state has no node to go to (the node that takes it "
            "over can declare renamedFrom, renamed_from in Python)"
            for node_id in sorted(held)
            if node_id in dropped or (node_id not in new_ids and node_id not in renames)
        ]
        for change in diff.flagged:
            if change.kind == "removed":
                continue  # (counted above, when it saved state)
            node = change.id if change.subject == "node" else change.id.rpartition(".")[0]
            if back.get(node, node) in held:
                problems.append(f"{back.get(node, node)!r}: {change.lost}")
        if problems:
            raise ValueError(
                f"run {self.name!r} cannot resume with this graph: "
                + "; ".join(problems)
                + "; keep those nodes as they were, or start the run over (fresh=True, "
                "arachne run --fresh); `arachne diff` shows every change"
            )
        self.renames = renames
        self.edge_renames = diff.edge_renames
        self._dropped = dropped
        self.carried = diff
        self._moving = True

    # -- the runtime's CheckpointTarget --------------------------------------------------------

    def latest(self) -> tuple[int, Mapping[str, Mapping[str, Any]]] | None:
        """Return the newest committed checkpoint's number and parts, or ``None``.

        Resumed onto a changed graph, the parts of a renamed node are under its new id.
        """
        checkpoint = self.checkpoints.latest()
        if checkpoint is None:
            return None
        if not self.renames and not self._dropped and not self.edge_renames:
            return checkpoint.id, checkpoint.parts
        renames, dropped, edges = self.renames, self._dropped, self.edge_renames
        # A removed node's parts (its finished mark) go, before a renamed node takes its id;
        # a recorded edge's count follows the edge to its new id.
        parts = {
            kind: by_name
            if kind == "graph"
            else {edges.get(name, name): value for name, value in by_name.items()}
            if kind == "recorded"
            else {
                renames.get(name, name): value
                for name, value in by_name.items()
                if name not in dropped
            }
            for kind, by_name in checkpoint.parts.items()
        }
        return checkpoint.id, parts

    def write(self, parts: Mapping[str, Mapping[str, str]]) -> int:
        """Commit a checkpoint of ``parts`` (JSON texts by kind and node id); its number.

        A checkpoint of a graph changed live carries its checksum and manifest (part
        ``graph``): from then on the run resumes only with the changed graph, in the same
        transaction; so does the first checkpoint of a run resumed onto a changed graph.
        """
        with self.store.transaction() as db:
            number = self.checkpoints.record_in(db, parts)
            graph = parts.get("graph", {})
            if "checksum" in graph:
                db.execute(
                    "UPDATE runs SET checksum = ?, manifest = ? WHERE name = ?",
                    (
                        json.loads(graph["checksum"]),
                        json.loads(graph["manifest"]) if "manifest" in graph else None,
                        self.name,
                    ),
                )
            elif self._moving and self.manifest is not None:
                db.execute(
                    "UPDATE runs SET checksum = ?, manifest = ? WHERE name = ?",
                    (self.checksum, self.manifest.canonical().decode(), self.name),
                )
        self._moving = False
        self.renames = {}  # the checkpoint just written names the new ids
        self.edge_renames = {}
        self._dropped = set()
        return number

    def ended(self, state: str) -> None:
        """Record that the run ended in ``state``; a completed run is not resumed again.

        A run that failed, was cancelled or ``stopped`` early keeps its checkpoints and stays
        resumable: the point of them is to go on after whatever stopped it.
        """
        try:
            if state != "completed":
                return
            with self.store.transaction() as db:
                db.execute(
                    "UPDATE runs SET state = ?, ended_at = ? WHERE name = ?",
                    (state, self._clock(), self.name),
                )
        finally:
            self.release()

    def append_log(self, entries: Sequence[tuple[str, str, int | None, str]]) -> None:
        """Append entries to the run's event log (see ``EventLog.append``)."""
        self.log.append(entries)

    def cut_log(self, edges: Iterable[str], counts: Mapping[str, int]) -> None:
        """Keep the first ``counts[edge]`` recorded messages of each of ``edges``.

        Resumed onto a changed graph, a recorded edge whose id changed (one named by the
        ports it joins, after a node it joins was renamed) keeps its messages under its new
        id first, so its log goes on where it was.
        """
        self.log.cut(edges, counts, renamed=self.edge_renames)

    def resumes(self) -> int:
        """Return how many times the run has been resumed since it last started afresh."""
        with self.store.transaction() as db:
            row = db.execute("SELECT resumes FROM runs WHERE name = ?", (self.name,)).fetchone()
        return 0 if row is None else int(row[0])

    def state(self) -> str | None:
        """Return the run's recorded state (``running``, ``completed``), or ``None``."""
        with self.store.transaction() as db:
            row = db.execute("SELECT state FROM runs WHERE name = ?", (self.name,)).fetchone()
        return None if row is None else str(row[0])

    def __repr__(self) -> str:
        return f"Run({self.name!r}, store={self.store!r})"


def stored_document(store: Store, name: str) -> str | None:
    """Return the graph document run ``name`` was started from, if it was one."""
    with store.transaction() as db:
        row = db.execute("SELECT document FROM runs WHERE name = ?", (name,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def run_state(store: Store, name: str) -> str | None:
    """Return run ``name``'s recorded state (``running``, ``completed``), or ``None``."""
    with store.transaction() as db:
        row = db.execute("SELECT state FROM runs WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def run_names(store: Store) -> list[str]:
    """Return the names of the runs in ``store``, the most recently started first."""
    with store.transaction() as db:
        rows = db.execute("SELECT name FROM runs ORDER BY started_at DESC").fetchall()
    return [str(name) for (name,) in rows]


def _digest(manifest: str) -> str:
    """Name a graph by its manifest's SHA-256 (for one with no checksum)."""
    return hashlib.sha256(manifest.encode("utf-8")).hexdigest()
