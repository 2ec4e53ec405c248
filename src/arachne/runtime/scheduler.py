"""The scheduler loop: activate ready nodes, fire timers, detect quiescence, wait."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Final

from arachne.model.errors import ExecutionError, NodeFailed
from arachne.runtime.activation import activate
from arachne.runtime.completion import describe

if TYPE_CHECKING:
    from arachne.runtime.execution import Execution

__all__ = ["drive"]

YIELD_CHECK: Final = 64
"""Activations between looks at the clock to decide whether to yield to the event loop."""

YIELD_AFTER: Final = 2 * sys.getswitchinterval()
"""Seconds of work before yielding to the event loop, so other executions and requests run.

Not shorter: each yield releases the GIL for an instant and takes it back, and a thread that
waits for the GIL only forces a switch after a full switch interval with no hand-over. Yielding
more often than that starves every other thread of the process (measured: a 0.2 s sleep in
the main thread took 10 s while a graph ran on the loop thread and yielded every 128 steps).
"""


async def drive(ex: Execution) -> None:
    """Run ``ex`` until every node has finished or it is cancelled.

    Raises ``NodeFailed`` (cause chained) when a hook raises.
    """
    ready = ex.ready
    clock = time.perf_counter
    while True:
        if ex.failure is not None:
            raise ex.failure
        if ex.cancel_requested:
            ex.discard_all()
            return
        if ex.stop_requested:
            ex.end_of_stream(include_keep_alive=True)
        if ex.paused:
            await ex.wait_resumed()
            continue
        activations = 0
        started = clock()
        rn = ready.pop()
        while rn is not None:
            try:
                activate(ex, rn)
            except NodeFailed:
                raise
            except Exception as exc:
                rn.errors += 1
                raise NodeFailed(rn.id, describe(exc)) from exc
            activations += 1
            if (
                ex.interrupted
                or ex.failure is not None
                or (activations % YIELD_CHECK == 0 and clock() - started >= YIELD_AFTER)
            ):
                break
            rn = ready.pop()
        ex.activations += activations
        if ex.interrupted:
            ex.interrupted = False
            continue
        if rn is not None:
            await asyncio.sleep(0)
            continue
        if ex.all_finished():
            return
        if ex.timers.fire(ex.clock.now()) or ex.next_round():
            continue
        if ex.quiescent():
            if ex.end_of_stream(include_keep_alive=False):
                continue
            # Nothing runs, nothing is queued, every source was told to finish, yet some node
            # has not: no event can ever change that, so say so instead of hanging.
            stuck = ", ".join(rn.id for rn in ex.wiring.nodes.values() if not rn.finished)
            raise ExecutionError(f"execution {ex.id} stalled with unfinished nodes: {stuck}")
        deadline = ex.timers.next_deadline()
        if ex.idle_sources:
            poll = ex.clock.now() + ex.idle_poll
            deadline = poll if deadline is None else min(deadline, poll)
        await ex.clock.wait_until(deadline, ex.wake, busy=ex.busy)
        ex.wake.clear()
        ex.requeue_idle()
