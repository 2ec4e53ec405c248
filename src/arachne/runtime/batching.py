"""Batches: a node that overrides ``on_batch`` gets up to a quantum of messages per call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.model.message import as_message
from arachne.runtime.failure import decide_batch
from arachne.runtime.requeue import after_turn, taken

if TYPE_CHECKING:
    from arachne.model.message import Message
    from arachne.runtime.edge import Edge
    from arachne.runtime.execution import Execution
    from arachne.runtime.running_node import RunningNode

__all__ = ["take_batch"]


def take_batch(ex: Execution, rn: RunningNode, edge: Edge, budget: int, control_only: bool) -> int:
    """Hand up to ``budget`` queued messages from ``edge`` to ``on_batch`` in one call.

    A failure applies the node's error policy to the batch as a unit (a retry calls
    ``on_batch`` again with the same messages). Returns how many messages were taken.
    """
    queue = edge.queue
    count = min(len(queue), budget)
    batch = [as_message(queue.popleft()) for _ in range(count)]
    try:
        rn.node.on_batch(edge.port, batch)
    except Exception as exc:
        _failed(ex, rn, edge.port, batch, exc, 1)
    finally:
        taken(ex, edge, count)
    return count


def _failed(
    ex: Execution, rn: RunningNode, port: str, batch: list[Message], exc: Exception, attempt: int
) -> None:
    decision = decide_batch(ex, rn, port, batch, exc, attempt)
    if decision.delay is None:
        return
    rn.suspended = True
    ex.timers.add(ex.clock.now() + decision.delay, lambda: _retry(ex, rn, port, batch, attempt + 1))


def _retry(ex: Execution, rn: RunningNode, port: str, batch: list[Message], attempt: int) -> None:
    if rn.finished:
        return
    rn.suspended = False
    try:
        rn.node.on_batch(port, batch)
    except Exception as exc:
        _failed(ex, rn, port, batch, exc, attempt)
        if rn.suspended:
            return
    after_turn(ex, rn)
