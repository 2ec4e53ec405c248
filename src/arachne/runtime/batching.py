"""Batches: a node that overrides ``on_batch`` gets up to a quantum of messages per call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.model.message import Message, as_message
from arachne.runtime.failure import decide_batch
from arachne.runtime.requeue import after_turn, taken

if TYPE_CHECKING:
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
    if rn.batch_fn is not None:
        _call_batch_fn(ex, rn, edge, [queue.popleft() for _ in range(count)])
        return count
    batch = [as_message(queue.popleft()) for _ in range(count)]
    try:
        rn.node.on_batch(edge.port, batch)
    except Exception as exc:
        _failed(ex, rn, edge.port, batch, exc, 1)
    finally:
        taken(ex, edge, count)
    return count


def _call_batch_fn(ex: Execution, rn: RunningNode, edge: Edge, items: list[object]) -> None:
    """Call an ``@node(batch=True)`` function on bare payloads: no ``Message`` per item."""
    fn = rn.batch_fn
    assert fn is not None  # noqa: S101  # chosen by take_batch only when set
    try:
        try:
            # Results are collected before any leaves, so a failure half-way emits nothing
            # (and a retry cannot emit anything twice).
            results = fn([item.payload if type(item) is Message else item for item in items])
            results = [] if results is None else [r for r in results if r is not None]
        except Exception as exc:
            _failed(ex, rn, edge.port, [as_message(item) for item in items], exc, 1)
            return
        emit, port = rn.node.emit, rn.node.output_port  # type: ignore[attr-defined]
        for result in results:
            emit(port, result)
    finally:
        taken(ex, edge, len(items))


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
