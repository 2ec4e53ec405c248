"""Ticks: sources producing while their outputs have room, and timed ticks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from arachne.model.message import Message
from arachne.runtime.completion import finish_node, finish_refused
from arachne.runtime.concurrent import start_tick
from arachne.runtime.edge import Edge
from arachne.runtime.failure import decide
from arachne.runtime.requeue import after_turn

if TYPE_CHECKING:
    from arachne.runtime.execution import Execution
    from arachne.runtime.running_node import RunningNode

__all__ = ["TICK_BUDGET", "schedule_ticks", "tick_source"]

TICK_BUDGET: Final = 20e-6
"""Seconds of ticking after which a source's turn ends even before its quantum is used up.

A source that takes a while per tick (a paced feed, a poll) would otherwise hold what it
emitted back from its consumers for a whole quantum of ticks; with this bound a message waits
at most about this long before the scheduler moves on (see benchmarks: the latency case).
"""


def tick_source(ex: Execution, rn: RunningNode) -> None:
    """Let a source produce while its outputs have room: a batch of items, or a quantum of ticks.

    An ``IterSource`` is pulled for as many items as there is room; any other source is ticked
    until a tick emits nothing (it is then idle), it fills an output, or it asks to finish.
    """
    puller = rn.puller
    if puller is not None:
        room = ex.batch
        for edge in rn.block_outputs:
            room = min(room, edge.room)
        if room <= 0:
            rn.blocked = True
            return
        items = puller.pull(room)
        pulled = len(items)  # counted first: what the items pass through must not change it
        rn.ticks += 1
        edges = rn.outputs[puller.port]
        if edges and not ex.trace and all(edge.is_block for edge in edges):
            rn.emitted += pulled  # room was counted, so the whole batch fits every outlet
            # Fanned out to several fused chains, the batch is checked for Messages once
            # rather than by every chain (plain edges never look).
            chains = sum(type(edge) is not Edge for edge in edges)
            plain = Message not in map(type, items) if chains > 1 else None
            for edge in edges:
                edge.push_many(items, plain)
        else:
            emit = rn.node.emit
            for item in items:
                emit(puller.port, item)
        if pulled < room:
            rn.finish_requested = True
        return
    if not rn.inline:
        start_tick(ex, rn)
        return
    deadline = time.perf_counter() + TICK_BUDGET
    for _ in range(ex.quantum):
        if not tick_inline(ex, rn) or rn.idle or rn.blocked or rn.finish_requested:
            return
        if time.perf_counter() >= deadline:
            return


def tick_inline(ex: Execution, rn: RunningNode, attempt: int = 1) -> bool:
    """Run ``on_tick`` once on the loop; False if it failed and will be retried."""
    before = rn.emitted + rn.errors
    rn.ticks += 1
    try:
        rn.node.on_tick()
    except Exception as exc:
        decision = decide(ex, rn, None, None, exc, attempt)
        if decision.delay is not None:
            rn.suspended = True
            ex.timers.add(ex.clock.now() + decision.delay, lambda: _retry_tick(ex, rn, attempt))
            return False
    # A tick that raised (and was skipped or dead-lettered) did something, as one that emitted
    # did: it may have consumed input, so the source is not idle.
    rn.idle = rn.emitted + rn.errors == before
    return True


def _retry_tick(ex: Execution, rn: RunningNode, attempt: int) -> None:
    if rn.finished:
        return
    rn.suspended = False
    if tick_inline(ex, rn, attempt + 1):
        if rn.finish_requested and not rn.cadence:
            finish_node(ex, rn)
        elif not rn.cadence:
            after_turn(ex, rn)


def schedule_ticks(ex: Execution, rn: RunningNode, deadline: float) -> None:
    """Tick ``rn`` at ``deadline`` and every ``cadence`` after (a fixed rate).

    A blocked or busy node skips the tick; ticks missed by more than one period are skipped
    rather than bunched.
    """

    def fire() -> None:
        if rn.finished:
            return
        if not (rn.blocked or rn.busy):
            if rn.inline:
                tick_inline(ex, rn)
            else:
                start_tick(ex, rn)
            if rn.finish_requested and rn.inline:
                if rn.inputs:
                    raise finish_refused(rn)
                finish_node(ex, rn)
                return
        now = ex.clock.now()
        cadence = rn.cadence or 0.0
        following = deadline + cadence
        schedule_ticks(ex, rn, following if following > now else now + cadence)

    ex.timers.add(deadline, fire)
