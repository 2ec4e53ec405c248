"""What one invocation of a code component did: emits, log lines, state changes, or why not.

A worker replies with an outcome per invocation (see ``_js``); :func:`read_outcome` turns
it into an :class:`Outcome`, whose values are Python data again. A failed invocation becomes a
:class:`CodeError`, or a :class:`LimitExceeded` naming the limit it hit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["LIMIT_NAMES", "CodeError", "LimitExceeded", "Outcome", "read_outcome"]

LIMIT_NAMES: Final = {
    "time": "timeMs",
    "memory": "memoryBytes",
    "stack": "stackBytes",
    "emits": "emits",
    "emit-bytes": "emitBytes",
    "logs": "logs",
    "state-bytes": "stateBytes",
    "fuel": "fuel",
}
"""The engine's name of each limit, and the name a definition sets it by."""


class CodeError(RuntimeError):
    """A code component's invocation failed: its code threw, or it could not be run."""


class LimitExceeded(CodeError):
    """An invocation hit a limit; :attr:`limit` is its name in ``execution.limits``."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an invocation emitted, logged and changed in its state (``None`` removes a key)."""

    emits: list[tuple[str, Any]]
    logs: list[tuple[str, str, Any]]
    changes: dict[str, Any]
    error: CodeError | None


_HINTS: Final = (
    ("setTimeout is not defined", "code components have no timers"),
    ("setInterval is not defined", "code components have no timers"),
    ("require is not defined", "code components load no modules: put the code in the source"),
    ("fetch is not defined", "code components have no network"),
    ("process is not defined", "code components see no host process"),
)


def _hint(text: str) -> str:
    for sign, hint in _HINTS:
        if sign in text:
            return f" ({hint})"
    return ""


def read_outcome(data: Any, component: str) -> Outcome:
    """Return the outcome a worker sent, with its values parsed from their JSON text."""
    failure = data.get("x")
    logs = [(level, message, json.loads(meta)) for level, message, meta in data.get("l", ())]
    if failure is not None:
        name = failure.get("limit")
        text = f"{component}: {failure.get('message')}"
        if name in LIMIT_NAMES:
            field = LIMIT_NAMES[name]
            hint = f"execution.limits.{field} sets how much"
            error: CodeError = LimitExceeded(field, f"{text}; {hint} (limit {field})")
        else:
            error = CodeError(text + _hint(text))
        return Outcome([], logs, {}, error)
    emits = [(port, json.loads(text)) for port, text in data["e"]]
    changes = {key: None if text is None else json.loads(text) for key, text in data["s"].items()}
    return Outcome(emits, logs, changes, None)
