"""Timers: callbacks due at a time on the execution's clock (ticks, retries)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

__all__ = ["Timers"]


class Timers:
    """A heap of ``(deadline, callback)``; :meth:`fire` runs the ones that are due."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def add(self, deadline: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the clock reaches ``deadline`` (ties run in order added)."""
        heapq.heappush(self._heap, (deadline, next(self._seq), callback))

    def next_deadline(self) -> float | None:
        """Return the earliest deadline, if any."""
        return self._heap[0][0] if self._heap else None

    def fire(self, now: float) -> bool:
        """Run every callback due at ``now``; return whether any ran."""
        fired = False
        while self._heap and self._heap[0][0] <= now:
            _, _, callback = heapq.heappop(self._heap)
            callback()
            fired = True
        return fired

    def __len__(self) -> int:
        """Return how many callbacks are waiting."""
        return len(self._heap)
