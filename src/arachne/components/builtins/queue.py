"""``arachne.durable.queue-writer`` and ``queue-reader``: a DurableQueue as a pair of nodes.

The writer enqueues each value it takes; the reader leases what the queue holds and emits it.
Put them in one graph to cut it at a durable buffer, or in two executions or processes that
open the same store file to hand work from one to the other.

Both run in a worker thread (``mode="thread"``): every enqueue and lease is a transaction on
disk. The reader acks what it emitted once it is safe: at once in a run without checkpoints
(at-most-once past the emit), or when the checkpoint its barrier came after commits, in a
checkpointed run, so a crash before that lets the leases run out and the messages come back
to the resumed run. The checkpoint also names the messages it covers, so a crash between its
commit and the acks removes them on resume instead: with an exactly-once sink, each message
reaches the output once. Its ``visibility`` must outlast a checkpoint interval and the time
the graph takes (a shorter one is reported: acks that came too late).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from arachne.components.builtins._defs import ANY_VALUE, keyword_factory, strict_object
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.components.files import FILE_PATH
from arachne.durable.queue import DurableQueue
from arachne.durable.sealed_acks import SealedAcks
from arachne.durable.sqlite import SqliteStore
from arachne.model.errors import QueueFull
from arachne.model.node import Node
from arachne.model.port import Input, Output

if TYPE_CHECKING:
    from arachne.model.message import Message
    from arachne.model.policies import Delivery

__all__ = ["QUEUE_READER", "QUEUE_WRITER", "QueueReader", "QueueWriter"]

DEFAULT_CAPACITY: Final = 100_000
"""Messages a queue made by the nodes holds at most, by default."""


def _check(path: object, name: object, capacity: object) -> None:
    if not isinstance(path, str) or not path:
        raise ValueError(f"store must be a file path, got {path!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"queue must be a non-empty name, got {name!r}")
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"capacity must be an int >= 1 (a queue is bounded), got {capacity!r}")


class _Handle:
    """A node's queue: opened at its start (building the node touches no file), closed at stop."""

    def __init__(self, store: str, queue: str, capacity: int, visibility: float) -> None:
        _check(store, queue, capacity)
        self.where = (store, queue, capacity, visibility)
        self.store: SqliteStore | None = None
        self.queue: DurableQueue | None = None

    def open(self) -> DurableQueue:
        """Open the store file and the queue in it."""
        path, name, capacity, visibility = self.where
        self.store = SqliteStore(Path(path))
        self.queue = DurableQueue(self.store, name, capacity=capacity, visibility=visibility)
        return self.queue

    def close(self) -> None:
        """Close the store (a reader's leases not acked run out and come back)."""
        store, self.store, self.queue = self.store, None, None
        if store is not None:
            store.close()


class QueueWriter(Node):
    """Enqueue each value into queue ``queue`` of the store file ``store``.

    While the queue is full the call waits in its worker thread, trying again after a growing
    pause, for up to ``full_timeout_s`` seconds (backpressure: the graph upstream is held
    back), then fails with ``QueueFull`` under the node's error policy. ``key_field`` names an
    object field whose value orders messages per key. At-least-once: a recovered run may
    enqueue again what it enqueued after its last checkpoint.
    """

    default_name = "queue_writer"
    mode = "thread"
    delivery: Delivery = "at-least-once"
    inp = Input(None, name="in", description="Any JSON value")

    def __init__(
        self,
        *,
        store: str,
        queue: str,
        capacity: int = DEFAULT_CAPACITY,
        key_field: str | None = None,
        full_timeout_s: float = 60.0,
        name: str | None = None,
    ) -> None:
        if not full_timeout_s >= 0:
            raise ValueError(f"full_timeout_s must be >= 0 seconds, got {full_timeout_s!r}")
        config: dict[str, Any] = {
            "store": store,
            "queue": queue,
            "capacity": capacity,
            "full_timeout_s": full_timeout_s,
        }
        if key_field is not None:
            config["key_field"] = key_field
        self._handle = _Handle(store, queue, capacity, 30.0)
        super().__init__(name=name, config=config)
        self.queue: DurableQueue | None = None
        self.key_field = key_field
        self.full_timeout = full_timeout_s

    def on_start(self) -> None:
        """Open the queue."""
        self.queue = self._handle.open()

    def on_stop(self) -> None:
        """Close the store."""
        self._handle.close()

    def on_message(self, port: str, msg: Message) -> None:
        """Enqueue the value, waiting while the queue is full (up to ``full_timeout_s``)."""
        queue = self.queue
        assert queue is not None  # noqa: S101  # opened at on_start
        value = msg.payload
        key = None
        if self.key_field is not None and isinstance(value, dict):
            found = value.get(self.key_field)
            key = None if found is None else str(found)
        pause, waited = 0.01, 0.0
        while True:
            try:
                queue.enqueue(value, key=key)
                return
            except QueueFull:
                if waited >= self.full_timeout:
                    raise
                time.sleep(pause)  # in the worker thread: the loop runs on
                waited += pause
                pause = min(pause * 2, 1.0)


class QueueReader(Node):
    """Emit the messages of queue ``queue`` of the store file ``store``, leased ``batch`` at a time.

    It polls every ``poll_ms`` while the queue is empty and keeps the run open (a queue fed
    by another process may fill again) unless ``until_empty``: then it finishes the first
    time it finds the queue empty with nothing of its own left to ack.
    """

    default_name = "queue_reader"
    mode = "thread"
    keep_alive = True
    delivery: Delivery = "at-least-once"
    out = Output(None, description="Each message's value, in queue order")

    def __init__(
        self,
        *,
        store: str,
        queue: str,
        capacity: int = DEFAULT_CAPACITY,
        batch: int = 100,
        visibility: float = 30.0,
        poll_ms: float = 50.0,
        until_empty: bool = False,
        name: str | None = None,
    ) -> None:
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be an int >= 1, got {batch!r}")
        if not poll_ms > 0:
            raise ValueError(f"poll_ms must be > 0, got {poll_ms!r}")
        config: dict[str, Any] = {
            "store": store,
            "queue": queue,
            "capacity": capacity,
            "batch": batch,
            "visibility": visibility,
            "poll_ms": poll_ms,
            "until_empty": until_empty,
        }
        self._handle = _Handle(store, queue, capacity, visibility)
        super().__init__(name=name, config=config)
        self.queue: DurableQueue | None = None
        self.batch = batch
        self.cadence = poll_ms / 1000
        self.until_empty = until_empty
        self._acks = SealedAcks()  # acked once a checkpoint covers them, when checkpointed

    def on_start(self) -> None:
        """Open the queue; remove what the checkpoint resumed from covered (if resuming)."""
        self.queue = self._handle.open()
        handled = self._acks.take_handled()
        if handled:
            self.queue.remove(handled)

    def on_stop(self) -> None:
        """Close the store (leases not acked run out and come back)."""
        self._handle.close()

    def on_tick(self) -> None:
        """Lease a batch and emit it; ack it at once unless the run is checkpointed."""
        queue = self.queue
        assert queue is not None  # noqa: S101  # opened at on_start
        leased = queue.lease(self.batch)
        if not leased:
            if self.until_empty and not self._acks.open:
                stats = queue.stats()
                if not stats.ready and not stats.leased:  # (leases of a crashed run come back)
                    self.finish()
            return
        for message in leased:
            self.emit("out", message.body)
        if self.context.checkpointed:
            self._acks.add((message.id, message.token) for message in leased)
        else:
            self._ack([message.token for message in leased])

    def snapshot(self) -> dict[str, list[int]]:
        """Seal what was emitted before this barrier, naming it: acked when the checkpoint is."""
        return self._acks.snapshot()

    def restore(self, state: Any) -> None:
        """Take the ids a checkpoint covered: they were handled, and are removed at start."""
        self._acks.restore(state, "queue-reader")

    def on_checkpoint(self, checkpoint: int) -> None:
        """Ack what the checkpoint that just committed covers."""
        tokens = self._acks.committed()
        if tokens:
            self._ack(tokens)

    def _ack(self, tokens: list[str]) -> None:
        queue = self.queue
        if queue is None:
            return
        done = queue.ack_many(tokens)
        if done < len(tokens):
            self.context.logger.warning(
                "%d of %d acks came after their lease ran out (visibility %s s): those "
                "messages may be delivered again; give the reader a longer visibility",
                len(tokens) - done,
                len(tokens),
                queue.visibility,
            )


_STORE = {
    "type": "string",
    "minLength": 1,
    "format": FILE_PATH,
    "description": "The SQLite file holding the queue (made if missing)",
}
_QUEUE = {"type": "string", "minLength": 1, "description": "The queue's name in the store"}
_CAPACITY = {
    "type": "integer",
    "minimum": 1,
    "default": DEFAULT_CAPACITY,
    "description": "Most messages the queue holds (the writer waits past it)",
}

QUEUE_WRITER = ComponentDefinition(
    id="arachne.durable.queue-writer",
    factory=keyword_factory(QueueWriter),
    name="Durable queue writer",
    category="durable",
    description="Enqueue each value into a durable queue on disk",
    inputs=(PortDoc("in", ANY_VALUE, "Any JSON value"),),
    outputs=(),
    config_schema=strict_object(
        {
            "store": _STORE,
            "queue": _QUEUE,
            "capacity": _CAPACITY,
            "key_field": {
                "type": "string",
                "minLength": 1,
                "description": "An object field whose value orders messages per key",
            },
            "full_timeout_s": {
                "type": "number",
                "minimum": 0,
                "default": 60,
                "description": "Seconds to wait while the queue is full before failing",
            },
        },
        required=("store", "queue"),
    ),
)
"""The durable queue's writing end."""

QUEUE_READER = ComponentDefinition(
    id="arachne.durable.queue-reader",
    factory=keyword_factory(QueueReader),
    name="Durable queue reader",
    category="durable",
    description="Emit the messages of a durable queue on disk, acked when safe",
    inputs=(),
    outputs=(PortDoc("out", ANY_VALUE, "Each message's value, in queue order"),),
    config_schema=strict_object(
        {
            "store": _STORE,
            "queue": _QUEUE,
            "capacity": _CAPACITY,
            "batch": {
                "type": "integer",
                "minimum": 1,
                "default": 100,
                "description": "Messages leased at a time",
            },
            "visibility": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 30,
                "description": "Seconds a lease lasts before an unacked message comes back",
            },
            "poll_ms": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 50,
                "description": "Milliseconds between looks at an empty queue",
            },
            "until_empty": {
                "type": "boolean",
                "default": False,
                "description": "Finish the first time the queue is found empty",
            },
        },
        required=("store", "queue"),
    ),
)
"""The durable queue's reading end."""
