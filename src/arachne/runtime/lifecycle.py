"""A node's life in an execution: started (``on_start``), seeded, stopped (``on_stop``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from arachne.model.errors import describe
from arachne.runtime import events
from arachne.runtime.failure import node_failure
from arachne.runtime.log_context import CURRENT_NODE
from arachne.runtime.running_node import NO_INPUT_RANK
from arachne.runtime.ticking import schedule_ticks

if TYPE_CHECKING:
    from collections.abc import Iterable

    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import RunningNode

__all__ = ["seed", "start_node", "stop_node", "stop_nodes"]

log = logging.getLogger("arachne.runtime")


async def start_node(ctx: RunContext, rn: RunningNode) -> None:
    """Run ``on_start`` (awaited if ``async def``); raise ``NodeFailed`` if it raises."""
    token = CURRENT_NODE.set(rn)  # for log records made by the hook
    try:
        result = rn.node.on_start()
        if result is not None:
            await result
    except Exception as exc:
        raise node_failure(ctx, rn, "on_start", exc, f"on_start raised {describe(exc)}") from exc
    finally:
        CURRENT_NODE.reset(token)
    rn.started = True
    rn.timing.started = ctx.clock.now()
    bus = ctx.bus
    if events.NodeStarted in bus.wanted:
        bus.publish(events.NodeStarted(execution_id=ctx.execution_id, node_id=rn.id))


def seed(ctx: RunContext, rn: RunningNode, *, live: bool = False) -> None:
    """Give a started node its first work: its timed ticks, or a turn if it is a source.

    A node added ``live`` with no input edge yet and nothing to tick waits for its first edge
    (at the start of a run such a node has no input ever, and finishes at once).
    """
    if rn.cadence:
        schedule_ticks(ctx, rn, ctx.clock.now())
    elif rn.is_source:
        if not live or rn.tick_driven or rn.keep_alive:
            ctx.ready.add(rn, NO_INPUT_RANK)
    else:
        rank = rn.wake_rank()
        if rank is not None:
            ctx.ready.add(rn, rank)


async def stop_nodes(ctx: RunContext, nodes: Iterable[RunningNode]) -> BaseException | None:
    """Call ``on_stop`` on every started node of ``nodes`` (given in reverse topological order).

    Every node gets its call even if an earlier one raises; the first error is returned as a
    ``NodeFailed`` (with the cause chained) and the rest are logged. ``async def on_stop`` is
    awaited.
    """
    first: BaseException | None = None
    for rn in nodes:
        error = await stop_node(ctx, rn)
        if error is not None:
            if first is None:
                first = error
            else:
                log.error("node %r: %s", rn.id, error, exc_info=error.__cause__)
    return first


async def stop_node(ctx: RunContext, rn: RunningNode) -> BaseException | None:
    """Call ``rn``'s ``on_stop`` once (if it started); return the failure it raised, if any."""
    if not rn.started or rn.stopped:
        return None
    rn.stopped = True
    error: BaseException | None = None
    token = CURRENT_NODE.set(rn)  # for log records made by the hook
    try:
        result = rn.node.on_stop()
        if result is not None:
            await result
    except Exception as exc:
        error = node_failure(ctx, rn, "on_stop", exc, f"on_stop raised {describe(exc)}")
    finally:
        CURRENT_NODE.reset(token)
    bus = ctx.bus
    if events.NodeStopped in bus.wanted:
        bus.publish(events.NodeStopped(execution_id=ctx.execution_id, node_id=rn.id))
    return error
