"""Time as a timed node sees it: its own ticks counted on the runtime's clock.

A node cannot read the execution's clock, but its ticks come from it at a fixed rate: tick
``k`` fires ``(k - 1) * step`` seconds after the first. Counting them gives the time of the
last tick, which is exact on a ``FakeClock`` and within one ``step`` on real time. Ticks the
runtime skips (a blocked node, a loop running late) make the count lag, so deadlines measured
this way are only ever late, never early.
"""

from __future__ import annotations

import math

__all__ = ["TickTime", "resolution"]

MIN_STEP = 0.001
"""The finest default step, in seconds."""

MAX_STEP = 0.1
"""The coarsest default step, in seconds."""

FLOOR = 0.0001
"""The finest step of all (0.1 ms), whatever the config asks."""


def resolution(span_ms: float, resolution_ms: float | None) -> float:
    """Return the tick step in seconds for timing spans of ``span_ms``.

    An explicit ``resolution_ms`` wins; otherwise a tenth of the span, kept between 1 and
    100 ms (and never above the span itself). Never below :data:`FLOOR`: a tinier step would
    tick the node without pause.
    """
    if resolution_ms is not None:
        return max(resolution_ms / 1000, FLOOR)
    span = span_ms / 1000
    step = min(max(span / 10, MIN_STEP), MAX_STEP, span) if span > 0 else MIN_STEP
    return max(step, FLOOR)


class TickTime:
    """The node's ticks counted: times are whole steps since its first tick.

    Integer steps, not float seconds, so that "due at step 21" compares exactly however the
    runtime's clock rounds its own fixed-rate deadlines.
    """

    __slots__ = ("step", "ticks")

    def __init__(self, step: float) -> None:
        self.step = step
        self.ticks = 0

    def tick(self) -> int:
        """Count one tick and return the step it fired at."""
        self.ticks += 1
        return self.now

    @property
    def now(self) -> int:
        """The step of the last tick (0 before the first)."""
        return max(0, self.ticks - 1)

    def due_after(self, seconds: float) -> int:
        """Return the step by which ``seconds`` have surely passed since now.

        Something that arrives between two ticks is dated to the earlier one, so one step is
        added: whatever waits for this step waits at least ``seconds``.
        """
        return self.now + 1 + math.ceil(seconds / self.step - 1e-9)

    def seconds_until(self, step: int) -> float:
        """Return how long, from the last tick, until ``step`` (0 if it has passed)."""
        return max(0, step - self.now) * self.step
