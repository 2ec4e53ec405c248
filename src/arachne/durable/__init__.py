"""Durable parts: a store on disk and what is built on it (docs/durable.md).

``SqliteStore`` is the embedded store, one SQLite file in WAL mode (``Store`` the interface a
server-backed one fills); ``Run`` a named run in it, its checkpoints and ``EventLog``;
``replay_into`` feeds an execution a run's recorded messages; ``DurableQueue`` a bounded queue
with leases, acks, retries and dead letters, shared by any process that opens the file;
``Checkpoints`` the numbered checkpoints of a run, committed all at once.
"""

from __future__ import annotations

from arachne.durable.checkpoints import Checkpoint, Checkpoints
from arachne.durable.event_log import EventLog, LoggedEvent, ReplayGap
from arachne.durable.queue import DeadLetter, DurableQueue, Leased, QueueStats
from arachne.durable.replay import replay_into
from arachne.durable.runs import Run
from arachne.durable.sqlite import SqliteStore
from arachne.durable.store import Store
from arachne.model.idempotency import IdempotencyKeys

__all__ = [
    "Checkpoint",
    "Checkpoints",
    "DeadLetter",
    "DurableQueue",
    "EventLog",
    "IdempotencyKeys",
    "Leased",
    "LoggedEvent",
    "QueueStats",
    "ReplayGap",
    "Run",
    "SqliteStore",
    "Store",
    "replay_into",
]
