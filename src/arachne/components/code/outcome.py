"""What one invocation of a code component did: emits, log lines, state changes, or why not.

A worker replies with an outcome per invocation (see ``_js``); :func:`read_outcome` turns
it into an :class:`Outcome`, whose values are Python data again. A failed invocation becomes a
:class:`CodeError`, or a :class:`LimitExceeded` naming the limit it hit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    """What an invocation emitted, logged and changed in its state (``None`` removes a key).

    ``sizes`` holds each changed key's size as JSON text (0 for a removed one). A failed
    invocation emits nothing; it may still carry changes, made as its instance was built
    again (``initialize``).
    """

    emits: list[tuple[str, Any]]
    logs: list[tuple[str, str, Any]]
    changes: dict[str, Any]
    error: CodeError | None
    sizes: dict[str, int] = field(default_factory=dict)


_EXTRA_LOGS: Final = 2
"""Lines the runtime adds to a call's own (values emitted late; a value returned)."""


def read_outcome(data: Any, component: str, limits: Mapping[str, Any]) -> Outcome:
    """Return the outcome a worker sent, with its values parsed from their JSON text.

    The worker is not trusted: an outcome that is not of the form the runtime makes, or that
    holds more than ``limits`` allow, raises ``ValueError`` (or ``TypeError``).
    """
    if not isinstance(data, dict):
        raise TypeError("an outcome is an object")
    failure, emitted, logged, changed = data.get("x"), data["e"], data["l"], data["s"]
    if not (isinstance(emitted, list) and isinstance(logged, list) and isinstance(changed, dict)):
        raise TypeError("an outcome holds a list of emits and logs and an object of changes")
    if len(emitted) > limits["emits"] or len(logged) > limits["logs"] + _EXTRA_LOGS:
        raise ValueError("more emits or log lines than the limits allow")
    if sum(len(text) for _, text in emitted) > limits["emitBytes"]:
        raise ValueError("more bytes emitted than the limits allow")
    logs = [(str(level)[:16], str(message), json.loads(meta)) for level, message, meta in logged]
    sizes = {str(key): 0 if text is None else len(text) for key, text in changed.items()}
    if sum(sizes.values()) > limits["stateBytes"]:
        raise ValueError("more state than the limits allow")
    changes = {
        str(key): None if text is None else json.loads(text) for key, text in changed.items()
    }
    if failure is not None:
        name = failure.get("limit")
        text = f"{component}: {failure.get('message')}"
        if name in LIMIT_NAMES:
            field_name = LIMIT_NAMES[name]
            hint = f"execution.limits.{field_name} sets how much"
            error: CodeError = LimitExceeded(field_name, f"{text}; {hint} (limit {field_name})")
        else:
            error = CodeError(text + _hint(text))
        return Outcome([], logs, changes, error, sizes)
    emits = []
    for port, text in emitted:
        if not isinstance(port, str):
            raise TypeError("an emit names its port")
        emits.append((port, json.loads(text)))
    return Outcome(emits, logs, changes, None, sizes)


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
