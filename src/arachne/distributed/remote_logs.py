"""Log records carried from a partition's process to its coordinator, and logged there again.

A worker process (or Ray actor) puts a :class:`ForwardingHandler` on the ``arachne`` logger at
the coordinator's level: each record becomes plain data (:func:`entry`: logger, level,
message, the ids of its origin, the exception's text), sent the way the partition sends
everything else. The coordinator hands each to :func:`relog`, which makes the record again
under the same logger, its message led by the partition's name, so the coordinator's own
logging configuration (the ``arachne`` command's, an application's) decides where it goes,
as for a record of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from arachne.runtime.log_context import log_fields

__all__ = ["IDS", "ForwardingHandler", "check_level", "entry", "forward", "relog"]

IDS: Final = ("execution_id", "node_id", "trace_id")
"""The ids of a record's origin that travel with it."""

MAX_MESSAGE: Final = 16_384
"""Characters of a message (or an exception's text) that travel; the rest is cut, said so."""


def _cut(text: str) -> str:
    if len(text) <= MAX_MESSAGE:
        return text
    return f"{text[:MAX_MESSAGE]}... ({len(text) - MAX_MESSAGE} more characters)"


def check_level(level: int | str | None) -> int | None:
    """Return ``level`` as a number (``None`` stays: nothing is forwarded).

    ``ValueError`` names the levels for a name logging does not know.
    """
    if level is None:
        return None
    if isinstance(level, bool) or not isinstance(level, int | str):
        raise ValueError(f"log_level must be a level name or number, got {level!r}")
    if isinstance(level, int):
        return level
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise ValueError(
            f"log_level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL (or a number)"
        )
    return number


def entry(record: logging.LogRecord) -> dict[str, Any]:
    """Return ``record`` as plain data (JSON-ready), with the ids of its origin."""
    ids = {key: getattr(record, key, None) for key in IDS}
    for key, value in log_fields().items():
        if key in ids and ids[key] is None:
            ids[key] = value
    exc = None
    if record.exc_info:
        exc = logging.Formatter().formatException(record.exc_info)
    return {
        "logger": record.name,
        "level": record.levelno,
        "message": _cut(record.getMessage()),
        "exception": None if exc is None else _cut(exc),
        **{key: None if value is None else str(value) for key, value in ids.items()},
    }


class ForwardingHandler(logging.Handler):
    """Hands each record, as :func:`entry` data, to ``send`` (which must not log)."""

    def __init__(self, send: Callable[[dict[str, Any]], None], level: int | str) -> None:
        super().__init__(level)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        """Send the record's data; a failure to send is left to ``handleError``."""
        try:
            self._send(entry(record))
        except Exception:
            self.handleError(record)


def forward(send: Callable[[dict[str, Any]], None], level: int | str) -> Callable[[], None]:
    """Have what the ``arachne`` loggers say at ``level`` go to ``send`` instead of here.

    Returns what undoes it (the records then propagate as before: nothing reads ``send``).
    """
    logger = logging.getLogger("arachne")
    handler = ForwardingHandler(send, level)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False

    def undo() -> None:
        logger.removeHandler(handler)
        logger.propagate = True

    return undo


def relog(partition: str, data: Mapping[str, Any]) -> None:
    """Log ``data`` (an :func:`entry` from ``partition``) again here, under its own logger.

    Data of the wrong shape is dropped: it came from a process of the cluster, but a
    record is never worth failing the run over.
    """
    name, level, message = data.get("logger"), data.get("level"), data.get("message")
    if not isinstance(name, str) or not isinstance(level, int) or not isinstance(message, str):
        return
    if not name.startswith("arachne"):  # (only the arachne loggers are forwarded)
        return
    logger = logging.getLogger(name)
    if not logger.isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "name": name,
        "levelno": level,
        "levelname": logging.getLevelName(level),
        "msg": f"{partition}: {message}",
        "args": None,
        "partition": partition,
    }
    exc = data.get("exception")
    if isinstance(exc, str):
        fields["exc_text"] = exc
    for key in IDS:
        value = data.get(key)
        if isinstance(value, str):
            fields[key] = value
    logger.handle(logging.makeLogRecord(fields))
