"""Controls of a running execution, safe to call from any thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from arachne.model.errors import ExecutionError
from arachne.runtime.rounds import Rounds
from arachne.runtime.state import ExecutionState, check_transition

if TYPE_CHECKING:
    from arachne.model.graph import Graph
    from arachne.runtime.ready_queue import ReadyQueue
    from arachne.runtime.wiring import Wiring

__all__ = ["ExecutionControls"]


class ExecutionControls(Rounds):
    """Stop, pause and resume an execution.

    Each call checks its arguments in the caller's thread (so mistakes raise there), then
    applies the change on the execution's loop and wakes the scheduler.
    """

    id: str
    graph: Graph
    state: ExecutionState
    wiring: Wiring
    ready: ReadyQueue
    stop_requested: bool
    cancel_requested: bool
    paused: bool
    interrupted: bool
    _loop: asyncio.AbstractEventLoop | None
    _wake: asyncio.Event | None
    _resumed: asyncio.Event | None

    def _set_state(self, state: ExecutionState) -> None:
        raise NotImplementedError

    def apply(self, change: Callable[[], None]) -> None:
        """Run ``change`` on the execution's loop (now, if called there) and wake the scheduler."""
        loop = self._loop
        if loop is None or loop.is_closed():
            change()
            return

        def run_and_wake() -> None:
            change()
            self.interrupted = True
            if self._wake is not None:
                self._wake.set()
            if self._resumed is not None and (self.stop_requested or self.cancel_requested):
                self._resumed.set()

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            run_and_wake()
        else:
            loop.call_soon_threadsafe(run_and_wake)

    def request_stop(self, *, drain: bool = True) -> None:
        """Ask the execution to end.

        With ``drain`` (graceful): sources stop, everything in flight is processed, end of
        stream reaches every node, then ``on_stop`` runs; the execution completes. Without it:
        queued messages are dropped (and counted), then ``on_stop`` runs; it is cancelled.
        """

        def change() -> None:
            if drain:
                self.stop_requested = True
            else:
                self.cancel_requested = True

        self.apply(change)

    def pause(self) -> None:
        """Stop activating nodes; messages stay queued until :meth:`resume`."""
        check_transition(self.state, ExecutionState.PAUSED)

        def change() -> None:
            if self.state is ExecutionState.RUNNING:
                self.paused = True
                self._set_state(ExecutionState.PAUSED)

        self.apply(change)

    def resume(self) -> None:
        """Continue after :meth:`pause`; queued messages drain first."""
        if self.state is not ExecutionState.PAUSED:
            raise ExecutionError(f"execution {self.id} is {self.state.value}, not paused")

        def change() -> None:
            if self.paused:
                self.paused = False
                self._set_state(ExecutionState.RUNNING)
                if self._resumed is not None:
                    self._resumed.set()

        self.apply(change)
