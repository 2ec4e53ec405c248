"""The states of an execution and the changes allowed between them."""

from __future__ import annotations

import enum
from typing import Final

from arachne.model.errors import ExecutionError

__all__ = ["ExecutionState", "check_transition"]


class ExecutionState(enum.Enum):
    """Where an execution is in its life."""

    PENDING = "pending"
    INITIALIZING = "initializing"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Whether the execution has ended."""
        return self in _FINAL


_FINAL: Final = frozenset(
    {ExecutionState.COMPLETED, ExecutionState.FAILED, ExecutionState.CANCELLED}
)

_ALLOWED: Final[dict[ExecutionState, frozenset[ExecutionState]]] = {
    ExecutionState.PENDING: frozenset(
        {ExecutionState.INITIALIZING, ExecutionState.CANCELLED, ExecutionState.FAILED}
    ),
    ExecutionState.INITIALIZING: frozenset(
        {ExecutionState.RUNNING, ExecutionState.FAILED, ExecutionState.CANCELLED}
    ),
    ExecutionState.RUNNING: frozenset(
        {
            ExecutionState.PAUSED,
            ExecutionState.COMPLETED,
            ExecutionState.FAILED,
            ExecutionState.CANCELLED,
        }
    ),
    ExecutionState.PAUSED: frozenset(
        {ExecutionState.RUNNING, ExecutionState.FAILED, ExecutionState.CANCELLED}
    ),
}


def check_transition(current: ExecutionState, target: ExecutionState) -> None:
    """Raise ``ExecutionError`` unless ``current -> target`` is allowed."""
    if target not in _ALLOWED.get(current, frozenset()):
        raise ExecutionError(
            f"an execution cannot go from {current.value} to {target.value}"
            + ("; it has already ended" if current.is_final else "")
        )
