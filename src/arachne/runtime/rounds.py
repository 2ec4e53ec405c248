"""Rounds: what the scheduler asks between turns: idle sources, quiescence, end of stream."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.runtime.running_node import NO_INPUT_RANK

if TYPE_CHECKING:
    from arachne.runtime.run_context import RunContext
    from arachne.runtime.wiring import Wiring

__all__ = ["Rounds"]


class Rounds:
    """Idle-source rounds, quiescence and end of stream, over an execution's running graph.

    A source whose tick emitted nothing is idle: it waits in ``ctx.idle_sources`` and gets
    another tick only once something else has happened (a round), or when polled.
    """

    __slots__ = ("_mark", "ctx", "wiring")

    def __init__(self, ctx: RunContext, wiring: Wiring) -> None:
        self.ctx = ctx
        self.wiring = wiring
        self._mark = -1

    def all_finished(self) -> bool:
        """Whether every node has finished."""
        return all(rn.finished for rn in self.wiring.nodes.values())

    def next_round(self) -> bool:
        """Requeue idle sources if anything was emitted since they last went idle."""
        if not self.ctx.idle_sources:
            return False
        # Errors count as activity: a skipped failure may have consumed input.
        total = sum(
            rn.counts.emitted + rn.counts.dead_lettered + rn.counts.errors
            for rn in self.wiring.nodes.values()
        ) + sum(chain.passed(chain.length) for chain in self.wiring.chains)
        if total == self._mark:
            return False
        self._mark = total
        self.requeue_idle()
        return True

    def requeue_idle(self) -> None:
        """Give every idle source another tick."""
        ctx = self.ctx
        for rn in ctx.idle_sources:
            if not rn.finished:
                rn.idle = False
                ctx.ready.add(rn, NO_INPUT_RANK)
        ctx.idle_sources.clear()

    def quiescent(self) -> bool:
        """Whether the execution has nothing left to do unless a source produces again.

        Nothing is in flight or waiting to retry, and every tick-driven node's last tick
        emitted nothing. Messages queued for a node that holds its input and has no timed
        ticks do not count: nothing can ever release it, so waiting for them would hang. A
        ``keep_alive`` node is the exception: something outside the run releases it (credit
        returning to a mesh link), so the run waits for it.
        """
        if self.ctx.tasks:
            return False
        open_inputs = self.ctx.open_inputs
        for rn in self.wiring.nodes.values():
            if rn.finished:
                continue
            if rn.busy or not rn.started or (open_inputs and rn.waits_for_input):
                return False
            stuck = rn.stuck  # holds its input, and nothing will release it
            if (rn.holds_run or (rn.tick_driven and not rn.idle)) and not stuck:
                return False
        return not any(len(edge) and not edge.target.stuck for edge in self.wiring.edges.values())

    def release_waiting(self) -> bool:
        """End the wait of nodes waiting for a link once no other source runs; True if any.

        A node with inputs but no link waits for a ``connect`` while the graph runs; once
        every source that is not such a node has finished, no link can bring it anything the
        run would wait for, so it finishes as a source would. While the execution's inputs
        are open (it was started to be fed by ``inject``), it waits until they are closed.
        """
        if self.ctx.open_inputs:
            return False
        waiting = []
        for rn in self.wiring.nodes.values():
            if rn.finished or not rn.is_source:
                continue
            if not rn.waits_for_input:
                return False  # a source still runs
            waiting.append(rn)
        ready = self.ctx.ready
        for rn in waiting:
            rn.finish_requested = True
            ready.add(rn, NO_INPUT_RANK)
        return bool(waiting)

    def end_of_stream(self, *, include_keep_alive: bool) -> bool:
        """Finish every source (keep-alive ones only if asked), so end of stream flows down.

        Returns whether any source was asked to finish.
        """
        asked = False
        ready = self.ctx.ready
        for rn in self.wiring.nodes.values():
            if rn.is_source and not rn.finished and (include_keep_alive or not rn.holds_run):
                if not rn.finish_requested:
                    asked = True
                rn.finish_requested = True
                ready.add(rn, NO_INPUT_RANK)
        self.ctx.idle_sources.clear()
        return asked

    def discard_all(self) -> None:
        """Drop every queued message (counted as dropped), cancel calls, finish every node."""
        for edge in self.wiring.edges.values():
            edge.discard()
            edge.closed = True
        for task in list(self.ctx.tasks):
            task.cancel()
        now = self.ctx.clock.now()
        for rn in self.wiring.nodes.values():
            if not rn.finished:
                rn.timing.ended = now
            rn.finished = True
