"""The embedded store: one SQLite file in WAL mode, the durable parts' tables in it.

``SqliteStore(path)`` opens (or creates) the file, turns on write-ahead logging and writes the
schema once, versioned in ``PRAGMA user_version``. Every durable part keeps its tables here
and changes them through ``transaction()``: ``BEGIN IMMEDIATE``, so two processes sharing the
file take turns rather than fail on a lock upgrade half-way, and a process killed mid-way
leaves the file as the last committed transaction left it. ``synchronous=FULL`` by default:
a commit survives the machine losing power, not only the process dying (``"normal"`` keeps
it across a process crash only, and writes less).

This is the seam a server-backed store (PostgreSQL) fills later: the durable parts ask for
``transaction()`` and plain SQL whose dialect both understand.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from arachne.durable.event_log import DEFAULT_KEEP
from arachne.durable.runs import Run
from arachne.runtime.simulation import at_power_loss, declare, fault
from arachne.runtime.simulation import current as current_simulation

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator

    from arachne.model.manifest import Manifest

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

DISK_FULL = declare("durable.disk-full", "a store's transaction finds the disk full at commit")
LOST_FSYNC = declare(
    "durable.lost-fsync",
    "a store's commit returns but its fsync never reached the disk: until a later commit "
    "syncs, a power loss (a killed simulated run) takes it back",
)

SCHEMA_VERSION: Final = 2
"""The version of the tables below; a file written by a newer Arachne is refused."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS queue_items (
    queue       TEXT    NOT NULL,
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT,
    body        TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('ready', 'leased', 'dead')),
    visible_at  REAL    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    token       TEXT,
    enqueued_at REAL    NOT NULL,
    error       TEXT
);
CREATE INDEX IF NOT EXISTS queue_items_by_queue ON queue_items (queue, state, id);
CREATE INDEX IF NOT EXISTS queue_items_by_key ON queue_items (queue, key, id);
CREATE TABLE IF NOT EXISTS queue_live (
    queue TEXT    PRIMARY KEY,
    live  INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS queue_live_insert AFTER INSERT ON queue_items
WHEN NEW.state != 'dead' BEGIN
    INSERT INTO queue_live (queue, live) VALUES (NEW.queue, 1)
    ON CONFLICT (queue) DO UPDATE SET live = live + 1;
END;
CREATE TRIGGER IF NOT EXISTS queue_live_delete AFTER DELETE ON queue_items
WHEN OLD.state != 'dead' BEGIN
    UPDATE queue_live SET live = live - 1 WHERE queue = OLD.queue;
END;
CREATE TRIGGER IF NOT EXISTS queue_live_bury AFTER UPDATE OF state ON queue_items
WHEN OLD.state != 'dead' AND NEW.state = 'dead' BEGIN
    UPDATE queue_live SET live = live - 1 WHERE queue = OLD.queue;
END;
CREATE TRIGGER IF NOT EXISTS queue_live_raise AFTER UPDATE OF state ON queue_items
WHEN OLD.state = 'dead' AND NEW.state != 'dead' BEGIN
    INSERT INTO queue_live (queue, live) VALUES (NEW.queue, 1)
    ON CONFLICT (queue) DO UPDATE SET live = live + 1;
END;
CREATE TABLE IF NOT EXISTS checkpoints (
    run          TEXT    NOT NULL,
    id           INTEGER NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'committed')),
    started_at   REAL    NOT NULL,
    committed_at REAL,
    PRIMARY KEY (run, id)
);
CREATE TABLE IF NOT EXISTS checkpoint_parts (
    run        TEXT    NOT NULL,
    checkpoint INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    PRIMARY KEY (run, checkpoint, kind, name)
);
CREATE TABLE IF NOT EXISTS event_log (
    run  TEXT    NOT NULL,
    seq  INTEGER NOT NULL,
    ts   REAL    NOT NULL,
    kind TEXT    NOT NULL CHECK (kind IN ('event', 'message')),
    name TEXT    NOT NULL,
    n    INTEGER,
    body TEXT    NOT NULL,
    PRIMARY KEY (run, seq)
);
CREATE INDEX IF NOT EXISTS event_log_messages ON event_log (run, kind, name, n);
CREATE TABLE IF NOT EXISTS service_graphs (
    id         TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS service_components (
    id         TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS service_executions (
    id         TEXT PRIMARY KEY,
    graph_id   TEXT NOT NULL,
    state      TEXT NOT NULL,
    resume     INTEGER NOT NULL DEFAULT 0,
    record     TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS lease_revisions (
    lessor   TEXT    PRIMARY KEY,
    revision INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS route_journal (
    name   TEXT    NOT NULL,
    seq    INTEGER NOT NULL,
    step   TEXT    NOT NULL,
    start  INTEGER NOT NULL,
    stop   INTEGER NOT NULL,
    epoch  INTEGER NOT NULL,
    detail TEXT    NOT NULL,
    data   TEXT,
    at     REAL    NOT NULL,
    PRIMARY KEY (name, seq)
);
CREATE TABLE IF NOT EXISTS runs (
    name       TEXT    PRIMARY KEY,
    checksum   TEXT,
    state      TEXT    NOT NULL,
    started_at REAL    NOT NULL,
    ended_at   REAL,
    resumes    INTEGER NOT NULL DEFAULT 0,
    document   TEXT,
    manifest   TEXT
);
"""


class SqliteStore:
    """A SQLite file holding the durable parts' tables; safe to share between processes.

    One connection per store, used by one thread at a time (a lock serialises callers), so a
    store may be handed to several threads of one process; other processes open their own.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["full", "normal"] = "full",
        timeout: float = 30.0,
        read_only: bool = False,
    ) -> None:
        if synchronous not in ("full", "normal"):
            raise ValueError(f"synchronous must be 'full' or 'normal', got {synchronous!r}")
        self.path = Path(path)
        if self.path.is_dir():
            raise IsADirectoryError(f"store path {str(self.path)!r} is a folder; give a file")
        self.read_only = read_only
        self._lock = threading.RLock()
        # (under simulation, after a lost fsync: the file as the disk holds it, until a sync,
        # and the simulation last told that a power loss would take commits back)
        self._durable: sqlite3.Connection | None = None
        self._told: object | None = None
        # (autocommit off in the driver's sense: transactions are begun here, explicitly)
        target = f"file:{self.path.resolve()}?mode=ro" if read_only else str(self.path)
        self._db = sqlite3.connect(
            target,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=False,
            uri=read_only,
        )
        try:
            if read_only:
                self._check_schema()
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ValueError(
                f"{str(self.path)!r} is not a store Arachne can open ({exc}); give the file "
                "arachne run --store or SqliteStore wrote"
            ) from None
        except BaseException:
            self._db.close()
            raise

    def _check_schema(self) -> None:
        """Refuse, opening read-only, a file that holds no Arachne store (or a newer one)."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        found = self._db.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
        ).fetchone()[0]
        if not found or version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                "no Arachne tables in it" if not found else f"a newer schema ({version})"
            )

    def _migrate(self) -> None:
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"store {str(self.path)!r} was written by a newer Arachne (schema "
                    f"{version}, this one knows {SCHEMA_VERSION}); upgrade Arachne to open it"
                )
            for statement in _statements(_SCHEMA):
                db.execute(statement)
            columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
            if "manifest" not in columns:  # (schema 1: runs kept no manifest)
                db.execute("ALTER TABLE runs ADD COLUMN manifest TEXT")
            # Each queue's count of live messages, kept by the triggers, made whole again (a
            # file written before they existed): enqueue reads it instead of counting rows.
            db.execute("DELETE FROM queue_live")
            db.execute(
                "INSERT INTO queue_live (queue, live) SELECT queue, COUNT(*) FROM queue_items "
                "WHERE state != 'dead' GROUP BY queue"
            )
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one write transaction: all of it is committed, or none of it."""
        with self._lock:
            self._db.execute("BEGIN" if self.read_only else "BEGIN IMMEDIATE")
            changes = self._db.total_changes
            lost = False
            try:
                yield self._db
                if fault(DISK_FULL):
                    raise sqlite3.OperationalError("database or disk is full (simulated)")
                wrote = self._db.total_changes != changes  # (a commit of nothing syncs nothing)
                lost = wrote and fault(LOST_FSYNC)
                if lost:
                    self._unsynced()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            if wrote and not lost:
                self._synced()

    def _unsynced(self) -> None:
        """Keep the file as the disk holds it, until a sync: this commit's fsync is lost.

        Read before the commit, by a second connection: in WAL mode it sees the last
        committed state, not this transaction. The simulation running now is told, so its
        kill (a power loss) takes back this commit and every unsynced one before it.
        """
        if self._durable is None:
            reader = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True)
            try:
                self._durable = sqlite3.connect(":memory:")
                reader.backup(self._durable)
            finally:
                reader.close()
        simulation = current_simulation()
        if simulation is not None and simulation is not self._told:
            self._told = simulation
            at_power_loss(self._lose_power)

    def _synced(self) -> None:
        """Note that a commit's fsync reached the disk, and so every commit before it."""
        if self._durable is not None:
            self._durable.close()
            self._durable = None
        self._told = None

    def _lose_power(self) -> None:
        """Put the file back as the disk held it: the commits since a lost fsync are gone."""
        with self._lock:
            if self._durable is not None:
                self._durable.backup(self._db)
                self._synced()

    def open_run(
        self,
        name: str,
        *,
        checksum: str | None = None,
        fresh: bool = False,
        document: str | None = None,
        log_keep: int = DEFAULT_KEEP,
        manifest: Manifest | None = None,
        upgrade: bool = False,
    ) -> Run:
        """Return the run ``name``: resumed from its checkpoints unless it completed (or ``fresh``).

        ``checksum`` names the graph it runs; resuming a run made from another graph is
        refused (``ValueError``) unless ``fresh`` starts it over, or ``upgrade`` carries its
        saved state over to the new graph by the diff of their manifests (``manifest`` is the
        new graph's). ``document`` (the graph document's text, if it came from one) is kept
        for ``arachne replay``; ``log_keep`` bounds its event log.
        """
        return Run(
            self,
            name,
            checksum=checksum,
            fresh=fresh,
            document=document,
            log_keep=log_keep,
            manifest=manifest,
            upgrade=upgrade,
        )

    def close(self) -> None:
        """Close the file; the store cannot be used after."""
        with self._lock:
            self._synced()  # (closing syncs)
            self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"


def _statements(script: str) -> Iterator[str]:
    """Yield the SQL statements of ``script`` one by one (a trigger's body kept whole)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        yield pending.strip()
