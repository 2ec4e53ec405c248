"""The record a failed message becomes on a node's implicit ``error`` port."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["ERROR_PORT", "ErrorRecord"]

ERROR_PORT: Final = "error"
"""The name of every node's implicit output for failed messages."""


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """A message a node failed to handle, with why and where.

    ``port`` is the input it arrived on (``None`` for a failed tick), ``payload`` and ``headers``
    are the original message's, ``attempts`` counts the calls made (more than one after
    retries). Replaying a record means offering ``payload`` with ``headers`` to ``node_id`` at
    ``port`` again (see ``Execution.replay``).
    """

    node_id: str
    port: str | None
    error_type: str
    error: str
    attempts: int
    payload: Any
    headers: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the record as plain data (the payload as it is)."""
        return {
            "node_id": self.node_id,
            "port": self.port,
            "error_type": self.error_type,
            "error": self.error,
            "attempts": self.attempts,
            "payload": self.payload,
            "headers": dict(self.headers),
        }
