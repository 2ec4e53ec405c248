"""Execution states: only allowed changes, each announced on the bus."""

from __future__ import annotations

import pytest

from arachne.model.errors import ExecutionError
from arachne.runtime.events import Event, EventBus, ExecutionStateChanged
from arachne.runtime.state import ExecutionState, StateCell, check_transition

S = ExecutionState


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.PENDING, S.INITIALIZING),
        (S.INITIALIZING, S.RUNNING),
        (S.RUNNING, S.PAUSED),
        (S.PAUSED, S.RUNNING),
        (S.RUNNING, S.COMPLETED),
        (S.PAUSED, S.CANCELLED),
        (S.INITIALIZING, S.FAILED),
    ],
)
def test_allowed_changes_pass(old: ExecutionState, new: ExecutionState) -> None:
    check_transition(old, new)


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (S.PENDING, S.RUNNING, "from pending to running"),
        (S.COMPLETED, S.RUNNING, "it has already ended"),
        (S.FAILED, S.CANCELLED, "it has already ended"),
        (S.PAUSED, S.COMPLETED, "from paused to completed"),
    ],
)
def test_other_changes_raise_naming_both_states(
    old: ExecutionState, new: ExecutionState, says: str
) -> None:
    with pytest.raises(ExecutionError, match=says):
        check_transition(old, new)


def test_final_states() -> None:
    assert {s for s in S if s.is_final} == {S.COMPLETED, S.FAILED, S.CANCELLED}


def test_the_cell_publishes_every_change_with_its_error() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append, ExecutionStateChanged)
    cell = StateCell("exec-1", bus)
    cell.move(S.INITIALIZING)
    cell.move(S.FAILED, error="NodeFailed: node 'x' failed: boom")
    assert cell.value is S.FAILED
    assert [(e.old, e.new, e.error) for e in seen if isinstance(e, ExecutionStateChanged)] == [
        ("pending", "initializing", None),
        ("initializing", "failed", "NodeFailed: node 'x' failed: boom"),
    ]
    assert all(e.execution_id == "exec-1" for e in seen)


def test_a_refused_change_leaves_the_state_and_publishes_nothing() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    cell = StateCell("exec-1", bus)
    with pytest.raises(ExecutionError):
        cell.move(S.COMPLETED)
    assert cell.value is S.PENDING
    assert seen == []
