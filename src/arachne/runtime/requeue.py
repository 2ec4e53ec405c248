"""After a turn: requeue a node that can do more or finish one whose work is over.

Also where a producer whose output has room again is woken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.runtime.completion import finish_node
from arachne.runtime.running_node import NO_INPUT_RANK

if TYPE_CHECKING:
    from arachne.runtime.edge import Edge
    from arachne.runtime.execution import Execution
    from arachne.runtime.running_node import RunningNode

__all__ = ["after_turn", "taken"]


def after_turn(ex: Execution, rn: RunningNode) -> None:
    """Requeue ``rn`` if it can do more now, or finish it if its work is over."""
    if rn.finished or rn.suspended or rn.blocked:
        return
    if rn.inputs:
        if rn.has_input():
            if rn.inline or rn.pending < rn.concurrency:
                ex.ready.add(rn, rn.top_rank())
        elif rn.inputs_open == 0 and not rn.pending:
            finish_node(ex, rn)
        return
    if rn.finish_requested:
        if not rn.pending:
            finish_node(ex, rn)
    elif rn.idle:
        ex.idle_sources.append(rn)
    elif not rn.pending and not rn.cadence:
        ex.ready.add(rn, NO_INPUT_RANK)


def taken(ex: Execution, edge: Edge, count: int) -> None:
    """Account for ``count`` messages taken off ``edge``; wake its producer if it has room."""
    edge.dequeued += count
    edge.target.received += count
    edge.drained()
    producer = edge.producer
    if producer.blocked and len(edge.queue) < edge.capacity and not producer.still_blocked():
        ex.unblocked(producer)
