"""After a turn: requeue a node that can do more, or finish one whose work is over."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.runtime.completion import finish_node
from arachne.runtime.running_node import NO_INPUT_RANK

if TYPE_CHECKING:
    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import RunningNode

__all__ = ["after_turn"]


def after_turn(ctx: RunContext, rn: RunningNode) -> None:
    """Requeue ``rn`` if it can do more now, or finish it if its work is over.

    A checkpoint's barrier waiting for ``rn`` is let pass first, if it can now.
    """
    if rn.aligning and ctx.checkpointer is not None:
        ctx.checkpointer.turn_ended(rn)
    if rn.event_time is not None and ctx.watermarks is not None:
        ctx.watermarks.passed(rn)
    if rn.cancel_requested:
        ctx.cancel(rn)  # (it ends now, blocked or not)
        return
    if rn.finished or rn.suspended or rn.blocked:
        return
    if rn.inputs:
        if rn.has_input():
            draining = rn.event_time is not None and rn.event_time.draining  # (watermarks)
            if not rn.held and not draining and (rn.inline or rn.pending < rn.concurrency):
                ctx.ready.add(rn, rn.top_rank())
            return
        if rn.links_in:
            if rn.inputs_open == 0 and not rn.pending:
                finish_node(ctx, rn)
            return
        # Fed only by inject calls, and they are taken: on as the source it otherwise is.
    if rn.finish_requested:
        if not rn.pending:
            finish_node(ctx, rn)
    elif rn.idle:
        if not getattr(rn.puller, "live", False):  # (a live pull source says when: wake())
            ctx.idle_sources.append(rn)
    elif rn.tick_driven and not rn.pending and not rn.cadence:
        ctx.ready.add(rn, NO_INPUT_RANK)
