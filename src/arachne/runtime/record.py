"""An execution's record: what the Runtime Service lists and shows for each execution.

A frozen snapshot (``Execution.record()``): ids, the graph's name and checksum, the state, wall
clock times, the error that ended it, and its metrics under the Service's names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ExecutionFailure", "ExecutionRecord", "ExecutionTimeout"]


class ExecutionTimeout(TimeoutError):
    """An execution ran past its timeout; it ends failed with this error."""

    def __init__(self, execution_id: str, timeout: float) -> None:
        super().__init__(
            f"execution {execution_id} ran past its timeout of {timeout:g} s and was stopped; "
            "give it a longer timeout (or None) if it should run on"
        )
        self.execution_id = execution_id
        self.timeout = timeout


@dataclass(frozen=True, slots=True)
class ExecutionFailure:
    """Why an execution failed: the error's type and message, and the node it came from."""

    type: str
    message: str
    node: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return it as the Runtime Service writes it (``nodeId``)."""
        return {"type": self.type, "message": self.message, "nodeId": self.node}


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """One execution, as a frozen record (times are Unix seconds; ``None``: not yet).

    ``graph_id`` is the graph's name (``""`` if it has none) and ``checksum`` its SHA-256 as
    the execution was created (``None`` when a config has no JSON form); ``metrics`` has the
    Runtime Service's names (``ExecutionStats.service_metrics``).
    """

    id: str
    graph_id: str
    checksum: str | None
    state: str
    created_at: float
    started_at: float | None
    completed_at: float | None
    error: ExecutionFailure | None
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the record with the Runtime Service's field names."""
        return {
            "id": self.id,
            "graphId": self.graph_id,
            "checksum": self.checksum,
            "state": self.state,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "completedAt": self.completed_at,
            "error": self.error.to_dict() if self.error is not None else None,
            "metrics": dict(self.metrics),
        }
