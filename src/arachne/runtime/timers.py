"""Timers: callbacks due at a time on the execution's clock (ticks, retries)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

__all__ = ["Timers"]


class Timers:
    """A heap of ``(deadline, callback)``; :meth:`fire` runs the ones that are due.

    ``lag`` is how late (seconds) the last firing was past its earliest deadline: the loop lag.
    """

    __slots__ = ("_heap", "_seq", "lag")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.lag = 0.0

    def add(self, deadline: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the clock reaches ``deadline`` (ties run in order added)."""
        heapq.heappush(self._heap, (deadline, next(self._seq), callback))

    def next_deadline(self) -> float | None:
        """Return the earliest deadline, if any."""
        return self._heap[0][0] if self._heap else None

    def fire_due(self, now: Callable[[], float]) -> bool:
        """Run the callbacks due by the clock ``now``; read it only if a callback waits.

        The scheduler calls this after every activation, so a timer-driven node is served
        between turns of busy ones; with no timer it costs one look at the heap.
        """
        heap = self._heap
        if heap:
            moment = now()
            if heap[0][0] <= moment:
                return self.fire(moment)
        return False

    def fire(self, now: float) -> bool:
        """Run every callback due at ``now``; return whether any ran.

        Callbacks added while firing wait for the next call, even if already due, so a timer
        that re-arms itself at once cannot keep this call going.
        """
        heap = self._heap
        due = []
        if heap and heap[0][0] <= now:
            self.lag = now - heap[0][0]
        while heap and heap[0][0] <= now:
            due.append(heapq.heappop(heap)[2])
        for callback in due:
            callback()
        return bool(due)

    def __len__(self) -> int:
        """Return how many callbacks are waiting."""
        return len(self._heap)
