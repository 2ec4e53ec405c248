"""Activation: one turn of one node, up to a quantum of messages or ticks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.model.errors import ExecutionError
from arachne.runtime.completion import finish_node
from arachne.runtime.running_node import NO_INPUT_RANK

if TYPE_CHECKING:
    from arachne.runtime.execution import Execution
    from arachne.runtime.running_node import RunningNode

__all__ = ["activate", "tick_once"]


def activate(ex: Execution, rn: RunningNode) -> None:
    """Give ``rn`` one turn: take input (or tick, for a source), then requeue or finish it.

    A blocked node is skipped (it may have been queued by an upstream push); it is queued
    again when its outputs drain. Finishing waits for room too, since ``on_finish`` may emit.
    """
    if rn.finished or rn.blocked:
        return
    if rn.inputs:
        consume(ex, rn)
        if rn.finish_requested:
            raise ExecutionError(
                f"node {rn.id!r} called finish() but it has inputs; finish() is for sources, "
                "a node with inputs finishes when all of them have ended"
            )
        if rn.has_input():
            if not rn.blocked:
                ex.ready.add(rn, rn.top_rank())
        elif rn.inputs_open == 0:
            finish_node(ex, rn)
        return
    if rn.finish_requested or not (rn.tick_driven or rn.keep_alive):
        finish_node(ex, rn)
        return
    if rn.cadence or not rn.tick_driven:
        return  # timed ticks come from the timer heap; a passive source waits for stop()
    if not rn.blocked and tick_source(ex, rn):
        finish_node(ex, rn)
    elif rn.idle:
        ex.idle_sources.append(rn)
    elif not rn.blocked:
        ex.ready.add(rn, NO_INPUT_RANK)


def consume(ex: Execution, rn: RunningNode) -> None:
    """Hand up to a quantum of queued messages to ``on_message``, highest rank first.

    Inputs of equal rank take turns leading, so none waits behind a flooded sibling. The turn
    ends early when an output edge fills (the node is then blocked).
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
        if not queue:
            continue
        port = edge.port
        taken = 0
        try:
            while queue and taken < budget:
                msg = queue.popleft()
                taken += 1
                rn.current = msg.headers
                on_message(port, msg)
                if rn.blocked:
                    break
        finally:
            rn.current = None
            edge.dequeued += taken
            rn.received += taken
            edge.drained()
            source = edge.source
            if source.blocked and len(queue) < edge.capacity and not source.still_blocked():
                ex.unblocked(source)
        budget -= taken
        if budget <= 0 or rn.blocked:
            return


def tick_source(ex: Execution, rn: RunningNode) -> bool:
    """Let a source produce while its outputs have room, up to a quantum of ticks or items.

    Return whether the source asked to finish (or its iterator ran out).
    """
    puller = rn.puller
    if puller is not None:
        room = ex.quantum
        for edge in rn.block_outputs:
            room = min(room, edge.capacity - len(edge.queue))
        if room <= 0:
            rn.blocked = True
            return False
        items = puller.pull(room)
        rn.ticks += 1
        emit = rn.node.emit
        port = puller.port
        for item in items:
            emit(port, item)
        if len(items) < room:
            rn.finish_requested = True
        return rn.finish_requested
    on_tick = rn.node.on_tick
    for _ in range(ex.quantum):
        before = rn.emitted
        on_tick()
        rn.ticks += 1
        rn.idle = rn.emitted == before
        if rn.idle or rn.blocked or rn.finish_requested:
            break
    return rn.finish_requested


def tick_once(ex: Execution, rn: RunningNode) -> None:
    """Run one timed tick of ``rn`` (cadence > 0) and finish it if it asked to."""
    before = rn.emitted
    rn.node.on_tick()
    rn.ticks += 1
    rn.idle = rn.emitted == before
    if rn.finish_requested:
        if rn.inputs:
            raise ExecutionError(
                f"node {rn.id!r} called finish() but it has inputs; finish() is for sources"
            )
        finish_node(ex, rn)
