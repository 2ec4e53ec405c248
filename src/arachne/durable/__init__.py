"""Durable parts: a store on disk and what is built on it (docs/durable.md).

``SqliteStore`` is the embedded store, one SQLite file in WAL mode; ``DurableQueue`` a bounded
queue in it with leases, acks, retries and dead letters, shared by any process that opens the
file; ``Checkpoints`` the numbered checkpoints of a run, committed all at once. The barriers
that fill them, recovery and the event log come next (issue 16).
"""

from __future__ import annotations

from arachne.durable.checkpoints import Checkpoint, Checkpoints
from arachne.durable.queue import DeadLetter, DurableQueue, Leased, QueueStats
from arachne.durable.sqlite import SqliteStore

__all__ = [
    "Checkpoint",
    "Checkpoints",
    "DeadLetter",
    "DurableQueue",
    "Leased",
    "QueueStats",
    "SqliteStore",
]
