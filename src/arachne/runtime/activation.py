"""Activation: one turn of one node, up to a quantum of messages or ticks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.model.errors import ExecutionError
from arachne.runtime.completion import finish_node
from arachne.runtime.concurrent import start_calls
from arachne.runtime.failure import decide
from arachne.runtime.requeue import after_turn, taken
from arachne.runtime.ticking import tick_source

if TYPE_CHECKING:
    from arachne.model.message import Message
    from arachne.runtime.execution import Execution
    from arachne.runtime.running_node import RunningNode

__all__ = ["activate", "consume", "recovered", "retry_message"]


def activate(ex: Execution, rn: RunningNode) -> None:
    """Give ``rn`` one turn: take input (or tick, for a source), then requeue or finish it.

    A blocked node only takes control messages (its outputs are full, so data must wait);
    it is queued again when its outputs drain. A node waiting to retry takes nothing.
    """
    if rn.finished or rn.suspended:
        return
    if rn.blocked:
        if any(edge.control and edge.queue for edge in rn.inputs):
            consume(ex, rn, control_only=True)
        return
    if rn.inputs:
        if rn.inline:
            consume(ex, rn, control_only=False)
        else:
            start_calls(ex, rn)
        if rn.finish_requested:
            raise ExecutionError(
                f"node {rn.id!r} called finish() but it has inputs; finish() is for sources, "
                "a node with inputs finishes when all of them have ended"
            )
        after_turn(ex, rn)
        return
    if rn.finish_requested or not (rn.tick_driven or rn.keep_alive):
        if not rn.busy:
            finish_node(ex, rn)
        return
    if rn.cadence or not rn.tick_driven:
        return  # timed ticks come from the timer heap; a passive source waits for stop()
    tick_source(ex, rn)
    after_turn(ex, rn)


def consume(ex: Execution, rn: RunningNode, *, control_only: bool) -> None:
    """Hand up to a quantum of queued messages to ``on_message``, highest rank first.

    Inputs of equal rank take turns leading, so none waits behind a flooded sibling. The turn
    ends early when an output edge fills (the node is then blocked) or a call is to be retried.
    """
    inputs = rn.inputs
    count = len(inputs)
    start = 0
    if count > 1 and inputs[0].rank == inputs[-1].rank:
        start = rn.rotation = (rn.rotation + 1) % count
    on_message = rn.node.on_message
    budget = ex.quantum
    for i in range(count):
        edge = inputs[(start + i) % count]
        queue = edge.queue
        if not queue or (control_only and not edge.control):
            continue
        port = edge.port
        count_taken = 0
        try:
            while queue and count_taken < budget:
                msg = queue.popleft()
                count_taken += 1
                rn.current = msg.headers
                try:
                    on_message(port, msg)
                except Exception as exc:
                    if not recovered(ex, rn, port, msg, exc, 1):
                        break
                if rn.blocked and not control_only:
                    break
        finally:
            rn.current = None
            taken(ex, edge, count_taken)
        budget -= count_taken
        if budget <= 0 or rn.suspended or (rn.blocked and not control_only):
            return


def recovered(
    ex: Execution, rn: RunningNode, port: str, msg: Message, exc: Exception, attempt: int
) -> bool:
    """Apply the error policy to a failed inline call; False if the node now waits to retry."""
    rn.current = None
    decision = decide(ex, rn, port, msg, exc, attempt)
    if decision.delay is None:
        return True
    rn.suspended = True
    ex.timers.add(
        ex.clock.now() + decision.delay,
        lambda: retry_message(ex, rn, port, msg, attempt + 1),
    )
    return False


def retry_message(ex: Execution, rn: RunningNode, port: str, msg: Message, attempt: int) -> None:
    """Call ``on_message`` again for a message whose earlier attempt failed."""
    if rn.finished:
        return
    rn.current = msg.headers
    try:
        rn.node.on_message(port, msg)
    except Exception as exc:
        if not recovered(ex, rn, port, msg, exc, attempt):
            return
    finally:
        rn.current = None
    rn.suspended = False
    after_turn(ex, rn)
