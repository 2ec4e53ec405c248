"""Log records as JSON lines, each carrying the execution, node and trace it came from.

Arachne logs through the standard ``logging`` module and never configures it; an application
(or the ``arachne`` command, with ``--log-format json``) opts in here:

    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    logging.getLogger("arachne").addHandler(handler)

Every line is one JSON object: ``timestamp``, ``level``, ``logger``, ``message``, the ids the
runtime knew when the record was made (``execution_id``, ``node_id``, ``trace_id``: see
``arachne.runtime.log_context``), an ``exception`` with its traceback when there is one, and
whatever ``extra=`` fields the call gave. The ids are looked up when a record is handled (a
:class:`LogContextFilter` on the handler captures them as it is made, for handlers that
format later on another thread), so a record below the logger's level costs nothing. A
``redact`` hook sees each object before it is written and returns what may be written: drop
or mask payload fields there.

:func:`log_events` turns the runtime's events into records of the ``arachne.events`` logger:
state changes of executions, nodes failing, retries, tick overruns, and (at DEBUG) nodes
starting and stopping, backpressure spells, drops and live changes. It subscribes only to the
kinds its logger's level lets through, so the rest cost nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from pythonjsonlogger.json import JsonFormatter

from arachne.runtime import events
from arachne.runtime.log_context import log_fields

if TYPE_CHECKING:
    from arachne.model.delta import GraphDelta
    from arachne.runtime import EventBus, Runtime, Subscription

__all__ = ["EVENT_LEVELS", "JsonLogFormatter", "LogContextFilter", "Redactor", "log_events"]

Redactor = Callable[[dict[str, Any]], dict[str, Any]]
"""Takes a record's JSON object and returns the one to write (a copy or the same, edited)."""


class LogContextFilter(logging.Filter):
    """Copies the execution, node and trace ids onto each record when it is made.

    Put it on the handler that first sees a record (a ``QueueHandler``, when records are
    formatted later on another thread): without it the formatter looks the ids up when it
    formats, which is the same moment for an ordinary handler.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the ids the runtime knows now (ids given with ``extra=`` win); keep the record."""
        for key, value in log_fields().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonLogFormatter(JsonFormatter):
    """One JSON object per record, with the execution, node and trace ids of its origin."""

    def __init__(self, *, redact: Redactor | None = None) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
            timestamp=True,
            json_ensure_ascii=False,
        )
        self._redact = redact

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """Add the ids of the record's origin.

        Ids already on the record (from ``extra=`` or a :class:`LogContextFilter`) win.
        """
        super().add_fields(log_data, record, message_dict)
        for key, value in log_fields().items():
            log_data.setdefault(key, value)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """Apply the redaction hook, if any, last."""
        log_data = super().process_log_record(log_data)
        return self._redact(log_data) if self._redact is not None else log_data


EVENT_LEVELS: dict[type[events.Event], int] = {
    events.ExecutionStateChanged: logging.INFO,
    events.ExecutionRestarted: logging.INFO,
    events.GraphCommitted: logging.INFO,
    events.CommitRolledBack: logging.WARNING,
    events.NodeFailed: logging.ERROR,
    events.RetryScheduled: logging.INFO,
    events.TickOverran: logging.WARNING,
    events.NodeStarted: logging.DEBUG,
    events.NodeFinished: logging.DEBUG,
    events.NodeStopped: logging.DEBUG,
    events.NodeAdded: logging.DEBUG,
    events.NodeRemoved: logging.DEBUG,
    events.NodeReconfigured: logging.INFO,
    events.EdgeAdded: logging.DEBUG,
    events.EdgeRemoved: logging.DEBUG,
    events.BackpressureBegan: logging.DEBUG,
    events.BackpressureEnded: logging.DEBUG,
    events.MessageDropped: logging.DEBUG,
    events.MessageCoalesced: logging.DEBUG,
    events.MessageRejected: logging.DEBUG,
}
"""The level each event kind is logged at. Skipped and dead-lettered messages are left out:
the runtime logs those itself, as they happen."""


def log_events(source: Runtime | EventBus, logger: str = "arachne.events") -> Subscription:
    """Log the events of ``source`` (a runtime, or an event bus) to ``logger``.

    Returns the subscription (``unsubscribe()`` to stop). Each record's message says what
    happened; its fields carry the event's own (``event``, ``execution_id``, ``node_id`` or
    ``edge_id``, and the rest), so ``JsonLogFormatter`` writes them as JSON fields. A failed
    execution's state change is logged at ERROR.
    """
    log = logging.getLogger(logger)
    wanted = [kind for kind, level in EVENT_LEVELS.items() if log.isEnabledFor(level)]

    def write(event: events.Event) -> None:
        level = EVENT_LEVELS[type(event)]
        extra = {f.name: getattr(event, f.name) for f in fields(event) if f.name != "ts_ns"}
        if isinstance(event, events.GraphCommitted | events.CommitRolledBack):
            extra["delta"] = event.delta.to_dict()  # JSON fields, not the object's repr
        extra["event"] = type(event).__name__
        if isinstance(event, events.ExecutionStateChanged) and event.new == "failed":
            level = logging.ERROR
        if log.isEnabledFor(level):
            log.log(level, "%s", _describe(event), extra=extra)

    if not wanted:  # nothing would be written now: one rare kind, checked as it comes
        wanted = [events.NodeFailed]
    return source.subscribe(write, *wanted)


def _describe(event: events.Event) -> str:
    """One line saying what happened."""
    if isinstance(event, events.ExecutionStateChanged):
        said = f"execution {event.execution_id}: {event.old} -> {event.new}"
        return f"{said} ({event.error})" if event.error else said
    if isinstance(event, events.ExecutionRestarted):
        return f"execution {event.previous} restarted as {event.execution_id}"
    if isinstance(event, events.GraphCommitted):
        dropped = sum(event.dropped.values())
        said = f"execution {event.execution_id}: committed {_changes(event.delta)}"
        return f"{said}; {dropped} queued message(s) dropped" if dropped else said
    if isinstance(event, events.CommitRolledBack):
        return (
            f"execution {event.execution_id}: commit of {_changes(event.delta)} rolled back "
            f"({event.error})"
        )
    if isinstance(event, events.NodeFailed):
        return f"node {event.node_id!r} failed in {event.hook}: {event.error_type}: {event.error}"
    if isinstance(event, events.RetryScheduled):
        return (
            f"node {event.node_id!r}: attempt {event.attempt} failed ({event.error}); "
            f"retrying in {event.delay:.3g} s"
        )
    if isinstance(event, events.TickOverran):
        return (
            f"node {event.node_id!r}: tick {event.late_by * 1000:.3g} ms late "
            f"(cadence {event.cadence * 1000:.3g} ms); {event.skipped} tick(s) skipped"
        )
    if isinstance(event, events.BackpressureBegan):
        return f"edge {event.edge_id!r} is full: {event.producer_id!r} held back"
    if isinstance(event, events.BackpressureEnded):
        return f"edge {event.edge_id!r} drained after {event.blocked_seconds:.3g} s"
    if isinstance(event, events.MessageDropped):
        return f"edge {event.edge_id!r}: {event.count} message(s) dropped ({event.reason})"
    name = type(event).__name__
    if isinstance(event, events.NodeEvent):
        return f"{name}: node {event.node_id!r}"
    if isinstance(event, events.EdgeEvent):
        return f"{name}: edge {event.edge_id!r}"
    return name


def _changes(delta: GraphDelta) -> str:
    """Return the changes of ``delta`` counted by kind: ``1 node added, 2 links removed``."""
    parts = [
        (len(delta.removed_links), "link", "removed"),
        (len(delta.removed_nodes), "node", "removed"),
        (len(delta.added_nodes), "node", "added"),
        (len(delta.added_links), "link", "added"),
        (len(delta.reconfigured), "node", "reconfigured"),
        (len(delta.retuned), "link", "retuned"),
    ]
    said = [f"{n} {what}{'s' if n != 1 else ''} {how}" for n, what, how in parts if n]
    return ", ".join(said) or "no change"
