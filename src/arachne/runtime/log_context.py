"""Which execution, node and trace a log record comes from, read only when one is made.

The scheduler notes the node it is activating (and each call off the loop notes its own node)
in a context variable: two assignments per activation, nothing per message. Whoever formats
a record (``arachne.observability.logs``) asks :func:`log_fields` for the ids then, so a
record that is never made costs nothing.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

from arachne.runtime.slot import CURRENT_SLOT

if TYPE_CHECKING:
    from arachne.model.message import Headers
    from arachne.runtime.running_node import RunningNode

__all__ = [
    "CURRENT_EXECUTION",
    "CURRENT_NODE",
    "LogCapture",
    "log_fields",
    "node_fields",
    "replay_logs",
]

CURRENT_NODE: Final[ContextVar[RunningNode | None]] = ContextVar(
    "arachne_current_node", default=None
)
"""The node whose hook runs here (on the loop, in a worker thread or in a coroutine)."""

CURRENT_EXECUTION: Final[ContextVar[str | None]] = ContextVar(
    "arachne_current_execution", default=None
)
"""The id of the execution driven here (set for its whole run on the loop)."""


def node_fields(rn: RunningNode, headers: Headers | None) -> dict[str, str]:
    """Return the ids of a record made while ``rn`` handles a message with ``headers``."""
    fields = {"execution_id": rn.context.execution_id, "node_id": rn.id}
    trace = headers.get("trace_id") if headers else None
    if trace is not None:
        fields["trace_id"] = str(trace)
    return fields


def log_fields() -> dict[str, str]:
    """Return the ids a log record made now should carry: execution, node, trace.

    ``trace_id`` is the one of the message being handled, when it has headers (tracing on,
    or a message from ``inject``).
    """
    fields: dict[str, str] = {}
    rn = CURRENT_NODE.get()
    if rn is not None:
        slot = CURRENT_SLOT.get()  # a call off the loop: its own message
        headers = slot.msg.headers if slot is not None and slot.msg is not None else rn.current
        return node_fields(rn, headers)
    execution = CURRENT_EXECUTION.get()
    if execution is not None:
        fields["execution_id"] = execution
    return fields


_PLAIN = (str, int, float, bool, type(None))


class LogCapture(logging.Handler):
    """In a worker process, for one call: keeps the records made, with the call's ids.

    A process-mode call runs where the application's logging is not configured; what it logs
    at ``level`` or above is kept here (as plain fields, the message formatted, a traceback
    as text) and sent back with its result, for :func:`replay_logs` to hand to the runtime
    process's own loggers.
    """

    def __init__(self, level: int, ids: dict[str, str]) -> None:
        super().__init__(level)
        self.ids = ids
        self.records: list[dict[str, Any]] = []
        self._root_level = logging.NOTSET
        self._root_handlers: list[logging.Handler] = []

    def __enter__(self) -> LogCapture:
        """Take the worker's root logger over for the call: its records come here only.

        Handlers the worker's own imports installed (a module-level ``basicConfig``) are set
        aside meanwhile, or each record would be written twice: there and, sent back, here.
        """
        root = logging.getLogger()
        self._root_level, self._root_handlers = root.level, list(root.handlers)
        for handler in self._root_handlers:
            root.removeHandler(handler)
        root.setLevel(self.level)
        root.addHandler(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        """Give the root logger back as it was."""
        root = logging.getLogger()
        root.removeHandler(self)
        for handler in self._root_handlers:
            root.addHandler(handler)
        root.setLevel(self._root_level)

    def emit(self, record: logging.LogRecord) -> None:
        """Keep ``record`` as plain fields, with the call's ids.

        A record that cannot be formatted (``log("%d", "x")``) is reported as ``logging``
        reports it, and never fails the call.
        """
        try:
            fields = {k: v for k, v in record.__dict__.items() if isinstance(v, _PLAIN)}
            fields["msg"], fields["args"] = record.getMessage(), None
            if record.exc_info and not record.exc_text:
                fields["exc_text"] = logging.Formatter().formatException(record.exc_info)
            for key, value in self.ids.items():
                fields.setdefault(key, value)
        except Exception:
            self.handleError(record)
            return
        self.records.append(fields)


def replay_logs(records: list[dict[str, Any]]) -> None:
    """Hand records a worker process made (see :class:`LogCapture`) to this process's loggers."""
    for fields in records:
        record = logging.makeLogRecord(fields)
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
