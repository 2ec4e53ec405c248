"""The scheduler loop: activate ready nodes, fire timers, detect quiescence, wait."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import sys
import time
from typing import TYPE_CHECKING, Final

from arachne.model.errors import ArachneError, NodeFailed
from arachne.runtime.activation import activate, tick_once
from arachne.runtime.completion import describe

if TYPE_CHECKING:
    from arachne.runtime.execution import Execution
    from arachne.runtime.running_node import RunningNode

__all__ = ["Timers", "drive"]

YIELD_CHECK: Final = 64
"""Activations between looks at the clock to decide whether to yield to the event loop."""

YIELD_AFTER: Final = 2 * sys.getswitchinterval()
"""Seconds of work before yielding to the event loop, so other executions and requests run.

Not shorter: each yield releases the GIL for an instant and takes it back, and a thread that
waits for the GIL only forces a switch after a full switch interval with no hand-over. Yielding
more often than that starves every other thread of the process (measured: a 0.2 s sleep in
the main thread took 10 s while a graph ran on the loop thread and yielded every 128 steps).
"""


class Timers:
    """A heap of (deadline, node) for nodes with a positive cadence."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, RunningNode]] = []
        self._seq = itertools.count()

    def add(self, deadline: float, rn: RunningNode) -> None:
        """Schedule ``rn``'s next tick at ``deadline``."""
        heapq.heappush(self._heap, (deadline, next(self._seq), rn))

    def next_deadline(self) -> float | None:
        """Return the earliest deadline of a node that has not finished, if any."""
        while self._heap and self._heap[0][2].finished:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def fire(self, ex: Execution) -> bool:
        """Tick every node whose deadline has passed; return whether any ticked.

        A node blocked on a full output skips its tick; ticks missed by more than one period
        are skipped rather than bunched.
        """
        now = ex.clock.now()
        fired = False
        while self._heap and self._heap[0][0] <= now:
            deadline, _, rn = heapq.heappop(self._heap)
            if rn.finished:
                continue
            if not rn.blocked:
                fired = True
                try:
                    tick_once(ex, rn)
                except ArachneError:
                    raise
                except Exception as exc:
                    rn.errors += 1
                    raise NodeFailed(rn.id, f"on_tick raised {describe(exc)}") from exc
            cadence = rn.cadence or 0.0
            following = deadline + cadence
            self.add(following if following > now else now + cadence, rn)
        return fired


async def drive(ex: Execution) -> None:
    """Run ``ex`` until every node has finished or it is cancelled.

    Raises ``NodeFailed`` (cause chained) when a hook raises.
    """
    ready = ex.ready
    clock = time.perf_counter
    while True:
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
            if ex.interrupted or (
                activations % YIELD_CHECK == 0 and clock() - started >= YIELD_AFTER
            ):
                break
            rn = ready.pop()
        if ex.interrupted:
            ex.interrupted = False
            continue
        if rn is not None:
            await asyncio.sleep(0)
            continue
        if ex.all_finished():
            return
        if ex.timers.fire(ex) or ex.next_round():
            continue
        if ex.quiescent():
            ex.end_of_stream(include_keep_alive=False)
            continue
        deadline = ex.timers.next_deadline()
        if ex.idle_sources:
            poll = ex.clock.now() + ex.idle_poll
            deadline = poll if deadline is None else min(deadline, poll)
        await ex.clock.wait_until(deadline, ex.wake)
        ex.wake.clear()
        ex.requeue_idle()
