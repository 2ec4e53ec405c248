"""The states of an execution and the changes allowed between them."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

from arachne.model.errors import ExecutionError
from arachne.runtime.events import ExecutionStateChanged

if TYPE_CHECKING:
    from arachne.runtime.events import EventBus

__all__ = ["ExecutionState", "StateCell", "check_transition"]


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


class StateCell:
    """An execution's current state: only allowed changes, each announced on the bus."""

    __slots__ = ("bus", "execution_id", "value")

    def __init__(self, execution_id: str, bus: EventBus) -> None:
        self.execution_id = execution_id
        self.bus = bus
        self.value = ExecutionState.PENDING

    def move(self, new: ExecutionState, *, error: str | None = None) -> None:
        """Change to ``new`` (``ExecutionError`` if not allowed) and publish the change."""
        old = self.value
        check_transition(old, new)
        self.value = new
        bus = self.bus
        if ExecutionStateChanged in bus.wanted:
            bus.publish(
                ExecutionStateChanged(
                    execution_id=self.execution_id, old=old.value, new=new.value, error=error
                )
            )
