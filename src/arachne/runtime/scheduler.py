"""The scheduler loop: activate ready nodes, serve due timers, detect quiescence, wait."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Final

from arachne.model.errors import ExecutionError, NodeFailed, describe
from arachne.runtime.activation import activate
from arachne.runtime.failure import node_failure
from arachne.runtime.log_context import CURRENT_NODE
from arachne.runtime.probes import probe_outputs
from arachne.runtime.record import ExecutionTimeout

if TYPE_CHECKING:
    from arachne.runtime.control import Controls
    from arachne.runtime.rounds import Rounds
    from arachne.runtime.run_context import RunContext

__all__ = ["drive"]

YIELD_CHECK: Final = 8
"""Activations between looks at the clock to decide whether to yield to the event loop."""

YIELD_AFTER: Final = 2 * sys.getswitchinterval()
"""Seconds of work before yielding to the event loop, so other executions and requests run.

Not shorter: each yield releases the GIL for an instant and takes it back, and a thread that
waits for the GIL only forces a switch after a full switch interval with no hand-over. Yielding
more often than that starves every other thread of the process (measured: a 0.2 s sleep in
the main thread took 10 s while a graph ran on the loop thread and yielded every 128 steps).
"""


async def drive(ctx: RunContext, controls: Controls, rounds: Rounds) -> None:
    """Run until every node has finished or the execution is cancelled.

    Between two activations: changes from the gate's inbox are applied and due timers fire,
    so a timer-driven node waits at most one activation (itself bounded by a time slice).
    Raises ``NodeFailed`` (cause chained) when a hook raises and its policy says fail.
    """
    ready, gate, timers = ctx.ready, ctx.gate, ctx.timers
    current_node = CURRENT_NODE
    now = ctx.clock.now
    perf = time.perf_counter
    attention = gate.attention
    seen = attention.asks
    metrics = ctx.metrics
    while True:
        if gate.pending:
            gate.run_inbox()
        if attention.asks != seen:
            # Something was asked of some execution: let the loop reach it before working
            # on, and while changes wait for another execution, keep making way (Attention).
            seen = attention.asks
            await asyncio.sleep(0)
            continue
        if attention.hold_until and not gate.pending and perf() < attention.hold_until:
            await asyncio.sleep(0)
            continue
        if ctx.failure is not None:
            raise ctx.failure
        if controls.cancel_requested:
            rounds.discard_all()
            return
        if controls.stop_requested:
            controls.stop_requested = False
            rounds.end_of_stream(include_keep_alive=True)
        if ctx.deadline is not None and now() >= ctx.deadline:
            raise ExecutionTimeout(ctx.execution_id, ctx.timeout or 0.0)
        if controls.paused:  # (timers wait; the execution's timeout does not)
            await gate.wait(ctx.clock, ctx.deadline, busy=True)
            continue
        activations = 0
        started = perf()
        began = now() if metrics else 0.0  # then each activation's end begins the next
        rn = ready.pop()
        while rn is not None:
            current_node.set(rn)  # for log records made meanwhile (log_context)
            try:
                activate(ctx, rn)
            except NodeFailed:
                raise
            except Exception as exc:
                raise node_failure(ctx, rn, "activation", exc, describe(exc)) from exc
            finally:
                current_node.set(None)
            if metrics:
                ended = now()
                if rn.inline:  # (calls off the loop are timed, and probed, as they land)
                    timing = rn.timing
                    timing.busy += ended - began
                    if ended >= timing.next_probe or timing.origin >= 0:  # (its own test, inline)
                        probe_outputs(ctx, rn, ended)
                began = ended
            timers.fire_due(now)  # its callbacks answer for themselves (not rn's failure)
            activations += 1
            if (
                attention.asks != seen
                or ctx.failure is not None
                or (activations % YIELD_CHECK == 0 and perf() - started >= YIELD_AFTER)
            ):
                break
            rn = ready.pop()
        ctx.activations += activations
        if attention.asks != seen:
            continue
        if rn is not None:
            await asyncio.sleep(0)
            continue
        if rounds.all_finished():
            return
        if timers.fire(now()) or rounds.next_round() or rounds.release_waiting():
            continue
        if rounds.quiescent():
            if rounds.end_of_stream(include_keep_alive=False):
                continue
            # Nothing runs, nothing is queued, every source was told to finish, yet some node
            # has not: no event can ever change that, so say so instead of hanging.
            stuck = ", ".join(rn.id for rn in rounds.wiring.nodes.values() if not rn.finished)
            raise ExecutionError(
                f"execution {ctx.execution_id} stalled with unfinished nodes: {stuck}"
            )
        deadline = timers.next_deadline()
        if ctx.deadline is not None:
            deadline = ctx.deadline if deadline is None else min(deadline, ctx.deadline)
        if ctx.idle_sources:
            poll = now() + ctx.idle_poll
            deadline = poll if deadline is None else min(deadline, poll)
        await gate.wait(ctx.clock, deadline, busy=ctx.busy)
        rounds.requeue_idle()
