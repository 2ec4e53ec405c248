"""End of stream: finishing nodes, closing their edges, and stopping them at the end."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arachne.model.errors import ExecutionError, describe
from arachne.runtime import events
from arachne.runtime.failure import node_failure
from arachne.runtime.log_context import CURRENT_NODE
from arachne.runtime.running_node import NO_INPUT_RANK
from arachne.runtime.slot import CURRENT_SLOT, Slot

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import RunningNode

__all__ = ["close_outputs", "finish_node", "finish_refused"]


def finish_refused(rn: RunningNode) -> ExecutionError:
    """Return the error for ``finish()`` called by a node that has inputs."""
    return ExecutionError(
        f"node {rn.id!r} called finish() but it has inputs; finish() is for sources, "
        "a node with inputs finishes when all of them have ended"
    )


def finish_node(ctx: RunContext, rn: RunningNode) -> None:
    """Run ``on_finish`` (which may still emit), then close the node's output edges.

    An ``async def on_finish`` runs as a task; the outputs close when it is done. A downstream
    node whose inputs have all closed is queued so that it finishes in turn once it has taken
    what is left on them.
    """
    if rn.finished or rn.finishing:
        return
    if rn.aligning and ctx.checkpointer is not None:
        ctx.checkpointer.node_finishing(rn)
    rn.finishing = True
    rn.current = None
    token = CURRENT_NODE.set(rn)  # on_finish logs as its node, whoever finishes it
    try:
        result = rn.node.on_finish()
    except Exception as exc:
        raise node_failure(ctx, rn, "on_finish", exc, f"on_finish raised {describe(exc)}") from exc
    finally:
        CURRENT_NODE.reset(token)
    if result is not None:
        ctx.spawn(_finish_later(ctx, rn, result))
        return
    close_outputs(ctx, rn)


async def _finish_later(ctx: RunContext, rn: RunningNode, pending: Awaitable[Any]) -> None:
    slot = Slot(None, None)
    token = CURRENT_SLOT.set(slot)
    try:
        try:
            await pending
        finally:
            CURRENT_SLOT.reset(token)
        for port, value in slot.outputs:  # what it emitted; a full "fail" edge raises here
            rn.emit_slow(port, value)
    except Exception as exc:
        ctx.fail_soon(node_failure(ctx, rn, "on_finish", exc, f"on_finish raised {describe(exc)}"))
        return
    close_outputs(ctx, rn)
    ctx.gate.wake()


def close_outputs(ctx: RunContext, rn: RunningNode) -> None:
    """Mark ``rn`` finished and close its output edges, queuing nodes whose inputs all ended."""
    rn.finished = True
    rn.timing.ended = ctx.clock.now()
    if rn.aligning and ctx.checkpointer is not None:
        ctx.checkpointer.node_finished(rn)
    for outlets in rn.outputs.values():
        for outlet in outlets:
            outlet.closed = True
            target = outlet.target
            target.inputs_open -= 1
            if target.inputs_open == 0 and not target.finished:
                ctx.ready.add(target, NO_INPUT_RANK)
            elif target.event_time is not None and ctx.watermarks is not None:
                ctx.watermarks.passed(target)  # (an ended input holds its watermark back no more)
    bus = ctx.bus
    if events.NodeFinished in bus.wanted:
        bus.publish(events.NodeFinished(execution_id=ctx.execution_id, node_id=rn.id))
