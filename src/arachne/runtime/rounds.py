"""What the scheduler asks of an execution between turns: rounds, quiescence, end of stream."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.runtime.running_node import NO_INPUT_RANK

if TYPE_CHECKING:
    import asyncio

    from arachne.runtime.ready_queue import ReadyQueue
    from arachne.runtime.running_node import RunningNode
    from arachne.runtime.wiring import Wiring

__all__ = ["Rounds"]


class Rounds:
    """Idle-source rounds, quiescence and end of stream, over an execution's wiring."""

    wiring: Wiring
    ready: ReadyQueue
    idle_sources: list[RunningNode]
    stop_requested: bool
    tasks: set[asyncio.Future[object]]
    _round_mark: int

    def unblocked(self, rn: RunningNode) -> None:
        """Requeue ``rn`` now that its outputs have room, if it has work."""
        if rn.finished:
            return
        if rn.inputs:
            if rn.has_input():
                self.ready.add(rn, rn.top_rank())
            elif rn.inputs_open == 0:
                self.ready.add(rn, NO_INPUT_RANK)
        elif rn.finish_requested or (rn.tick_driven and not rn.cadence and not rn.idle):
            self.ready.add(rn, NO_INPUT_RANK)

    def all_finished(self) -> bool:
        """Whether every node has finished."""
        return all(rn.finished for rn in self.wiring.nodes.values())

    def next_round(self) -> bool:
        """Requeue idle sources if anything was emitted since they last went idle."""
        if not self.idle_sources:
            return False
        # Errors count as activity: a skipped failure may have consumed input.
        total = sum(rn.emitted + rn.dead_lettered + rn.errors for rn in self.wiring.nodes.values())
        if total == self._round_mark:
            return False
        self._round_mark = total
        self.requeue_idle()
        return True

    def requeue_idle(self) -> None:
        """Give every idle source another tick."""
        for rn in self.idle_sources:
            if not rn.finished:
                rn.idle = False
                self.ready.add(rn, NO_INPUT_RANK)
        self.idle_sources.clear()

    def quiescent(self) -> bool:
        """Whether the execution has nothing left to do unless a source produces again.

        Nothing is in flight or waiting to retry, and every tick-driven node's last tick
        emitted nothing.
        """
        if self.tasks:
            return False
        for rn in self.wiring.nodes.values():
            if rn.finished:
                continue
            if rn.keep_alive or rn.busy or (rn.tick_driven and not rn.idle):
                return False
        return not any(edge.queue for edge in self.wiring.edges.values())

    @property
    def busy(self) -> bool:
        """Whether calls are running off the loop's turn (tasks, threads, processes)."""
        return bool(self.tasks)

    def end_of_stream(self, *, include_keep_alive: bool) -> bool:
        """Finish every source (keep-alive ones only if asked), so end of stream flows down.

        Returns whether any source was asked to finish.
        """
        if include_keep_alive:
            self.stop_requested = False
        asked = False
        for rn in self.wiring.nodes.values():
            if rn.is_source and not rn.finished and (include_keep_alive or not rn.keep_alive):
                if not rn.finish_requested:
                    asked = True
                rn.finish_requested = True
                self.ready.add(rn, NO_INPUT_RANK)
        self.idle_sources.clear()
        return asked

    def discard_all(self) -> None:
        """Drop every queued message (counted as dropped), cancel calls, finish every node."""
        for edge in self.wiring.edges.values():
            edge.dropped += len(edge.queue)
            edge.queue.clear()
            edge.closed = True
        for task in list(self.tasks):
            task.cancel()
        for rn in self.wiring.nodes.values():
            rn.finished = True
