"""Controls of a running execution: stop, cancel, pause and resume, safe from any thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.model.errors import ExecutionError
from arachne.runtime.state import ExecutionState, check_transition

if TYPE_CHECKING:
    from arachne.runtime.gate import Gate
    from arachne.runtime.state import StateCell

__all__ = ["Controls"]


class Controls:
    """What was asked of the execution; the scheduler reads these flags between activations.

    Each call checks its arguments in the caller's thread (so mistakes raise there), then
    applies the change on the execution's loop through the gate, which wakes the scheduler.
    """

    __slots__ = (
        "cancel_requested",
        "gate",
        "pause_asked",
        "paused",
        "state",
        "stop_requested",
        "stopping",
    )

    def __init__(self, gate: Gate, state: StateCell) -> None:
        self.gate = gate
        self.state = state
        self.stop_requested = False
        self.cancel_requested = False
        self.paused = False
        self.pause_asked = False  # the last of pause() and resume() asked was pause()
        self.stopping = False  # a graceful stop was asked for: it drains to the end

    def request_stop(self, *, drain: bool = True) -> None:
        """Ask the execution to end.

        With ``drain`` (graceful): sources stop, everything in flight is processed, end of
        stream reaches every node, then ``on_stop`` runs; the execution completes. Without it:
        queued messages are dropped (and counted), then ``on_stop`` runs; it is cancelled.
        A paused execution resumes to drain (or is cancelled as it is); one not started yet
        stops as soon as it has.
        """

        def change() -> None:
            if drain:
                if self.paused and self.state.value is ExecutionState.PAUSED:
                    self.paused = self.pause_asked = False  # it must run again to drain
                    self.state.move(ExecutionState.RUNNING)
                self.stopping = self.stop_requested = True
            else:
                self.cancel_requested = True

        self.gate.apply(change)

    def pause(self) -> None:
        """Stop activating nodes; messages stay queued until :meth:`resume`.

        Not once a graceful stop was asked for: that drains to the end, which a pause would
        hold up for good. ``pause()`` and ``resume()`` are checked against what was last
        asked, not only the state now, so either may follow the other at once: each takes
        effect on the loop, in the order asked. Both are idempotent: a second ``pause()`` (or
        a ``resume()`` of a running execution) does nothing. One not running yet starts
        paused.
        """
        state = self.state.value
        if state.is_final:
            check_transition(state, ExecutionState.PAUSED)  # raises, naming the state
        if self.stopping:
            raise ExecutionError(
                f"execution {self.state.execution_id} is stopping; it cannot be paused"
            )
        if self.pause_asked:
            return

        def change() -> None:
            if self.state.value is ExecutionState.RUNNING and not self.stopping:
                self.paused = True
                self.state.move(ExecutionState.PAUSED)

        self.pause_asked = True
        self.gate.apply(change)

    def resume(self) -> None:
        """Continue after :meth:`pause`; queued messages drain first (idempotent)."""
        if not self.pause_asked:
            return
        self.pause_asked = False

        def change() -> None:
            if self.paused:
                self.paused = False
                self.state.move(ExecutionState.RUNNING)

        self.gate.apply(change)
