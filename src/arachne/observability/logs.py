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
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from arachne.runtime.log_context import log_fields

__all__ = ["JsonLogFormatter", "LogContextFilter", "Redactor"]

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
