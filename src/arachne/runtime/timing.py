"""Where a node's time goes, and how long messages wait: busy, held back, idle; latency.

Time is the execution's clock (virtual under a ``FakeClock``), read where the scheduler reads it
anyway, once per turn, never per message:

- **busy**: a node's turns on the loop (inline nodes) or the time it has a call in flight
  (async, thread and process modes);
- **backpressured**: the time it was held back by a full ``block`` output;
- **idle**: the rest of its life, from its start to its end (or now).

**Latency** is sampled with probes (moved by ``runtime.probes``), one per edge at a time and
at most one per node every :data:`PROBE_EVERY` seconds. After a producer's turn, a free edge
it fed is probed at its newest message (the one that arrived last, stamped now); the
consumer's turn that takes that message records the time from the stamp to the end of the
chunk that handled it, into the consumer's histogram: the wait in the queue and the
handling, per node. A probe that leaves a source carries its start on: it is handed to the
next probe its consumer sets, and so on, and a node with nothing downstream records the
whole way into the execution's end-to-end histogram.
A fused chain has no queue inside: it counts as one hop, probed at its tail edges.

Histograms are HDR histograms (``hdrhistogram``) in microseconds, 2 significant digits, up
to an hour. A landed probe costs a few microseconds (cold code between probes), so at most
one per node every 5 ms keeps the whole under 5% of a fast pipeline
(``benchmarks/observability.py`` measures it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from hdrh.histogram import HdrHistogram

from arachne.runtime.stats import LatencyStats

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LATENCY_BOUNDS", "PROBE_EVERY", "Latency", "NodeTiming"]

PROBE_EVERY: Final = 0.005
"""Seconds between two probes a node sets on its outputs (each edge holds one at a time)."""

LATENCY_BOUNDS: Final = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds, in seconds, of the buckets a latency histogram is read out in (Prometheus)."""

_MAX_US: Final = 3_600_000_000  # an hour, in microseconds: longer waits are recorded as this

_FOLD_AT: Final = 1024  # values a histogram keeps aside before it folds them in


class Latency:
    """One latency histogram: values in seconds, kept in microseconds.

    A record only appends to a list (the histogram's own record is a few microseconds, cold,
    between two probes); the list is folded into the histogram in one go when it is read or
    reaches :data:`_FOLD_AT`. Read out in one pass over the histogram's non-empty cells, and
    only when something was recorded since the last read.
    """

    __slots__ = ("_hist", "_max", "_pending", "_read", "_sum")

    def __init__(self) -> None:
        self._hist: HdrHistogram | None = HdrHistogram(1, _MAX_US, 2)
        self._pending: list[float] = []
        self._sum = 0.0
        self._max = 0.0
        self._read = LatencyStats()

    def freeze(self) -> None:
        """Keep only what :meth:`stats` reads out, from now on (the run has ended).

        The histogram's cells (about 26 KB) go; later records are ignored. An ended
        execution a service keeps for its record then costs little.
        """
        if self._hist is not None:
            self._read = self.stats()
            self._hist = None
            self._pending = []

    def record(self, seconds: float) -> None:
        """Record one latency (negative clock steps count as 0)."""
        if self._hist is None:
            return  # (frozen: the run has ended)
        pending = self._pending
        pending.append(seconds)
        if len(pending) >= _FOLD_AT:
            self._fold()

    def _fold(self) -> None:
        """Move the pending values into the histogram, the sum and the maximum."""
        if self._hist is None:
            return
        pending, self._pending = self._pending, []
        put = self._hist.record_value
        top = self._max
        for seconds in pending:
            if seconds < 0:
                seconds = 0.0
            self._sum += seconds
            if seconds > top:
                top = seconds
            put(min(_MAX_US, max(1, round(seconds * 1e6))))
        self._max = top

    @property
    def count(self) -> int:
        """How many latencies were recorded."""
        if self._hist is None:
            return self._read.count
        return int(self._hist.total_count) + len(self._pending)

    def stats(self) -> LatencyStats:
        """Return the percentiles, the exact maximum and mean, and cumulative bucket counts."""
        if self._hist is None:
            return self._read
        if self._pending:
            self._fold()
        count = self.count
        if count != self._read.count:
            self._read = self._read_out(count)
        return self._read

    def _read_out(self, count: int) -> LatencyStats:
        hist = self._hist
        if hist is None:
            return self._read
        cells = [(index, n) for index, n in enumerate(hist.counts[:]) if n]
        targets = [(p, max(1, math.ceil(count * p / 100))) for p in (50, 90, 99)]
        found: dict[int, float] = {}
        bounds = iter(LATENCY_BOUNDS)
        bound = next(bounds, None)
        buckets: list[tuple[float, int]] = []
        seen = 0
        for index, n in cells:
            value = hist.get_value_from_index(index)  # the cell's lowest value, microseconds
            while bound is not None and value > bound * 1e6:
                buckets.append((bound, seen))
                bound = next(bounds, None)
            seen += n
            for p, target in targets:
                if p not in found and seen >= target:
                    found[p] = hist.get_highest_equivalent_value(value) / 1e6
        while bound is not None:
            buckets.append((bound, seen))
            bound = next(bounds, None)
        top = self._max
        return LatencyStats(
            count=count,
            mean=self._sum / count,
            p50=min(found[50], top),
            p90=min(found[90], top),
            p99=min(found[99], top),
            max=top,
            sum=self._sum,
            buckets=tuple(buckets),
        )


class NodeTiming:
    """A node's clock readings: busy and held-back time, its life, its latency and probes.

    ``origin`` is the start, at a source, of the last probe this node took (-1: none, or
    already handed on); a spell's start is -1 outside a spell.
    """

    __slots__ = (
        "blocked",
        "blocked_since",
        "busy",
        "busy_since",
        "ended",
        "latency",
        "next_probe",
        "now",
        "origin",
        "running",
        "started",
    )

    def __init__(self) -> None:
        # The execution's clock, set by the wiring when metrics are on (None: nothing is timed).
        self.now: Callable[[], float] | None = None
        self.busy = self.blocked = 0.0
        self.busy_since = self.blocked_since = -1.0
        self.started = self.ended = -1.0  # -1: not yet
        self.latency = Latency()
        self.next_probe = 0.0
        self.origin = -1.0
        self.running = 0  # calls off the loop running now (a retry's wait is not one)

    def held(self) -> None:
        """Start a held-back spell now (a full output), unless one runs.

        Held back wins over busy: calls still running meanwhile count as held-back time, so
        the three parts always add up to the node's life.
        """
        now = self.now
        if now is not None and self.blocked_since < 0:
            self.blocked_since = moment = now()
            self._close_busy(moment)

    def released(self) -> None:
        """End the held-back spell now: the node may run again."""
        now = self.now
        if now is not None and self.blocked_since >= 0:
            moment = now()
            self.blocked += moment - self.blocked_since
            self.blocked_since = -1.0
            if self.running:
                self.busy_since = moment

    def call_began(self, now: float) -> None:
        """Note a call off the loop began running (the first starts a busy spell)."""
        self.running += 1
        if self.busy_since < 0 and self.blocked_since < 0:
            self.busy_since = now

    def call_landed(self, now: float) -> None:
        """Note a call off the loop ended (the last closes the busy spell)."""
        self.running -= 1
        if not self.running:
            self._close_busy(now)

    def _close_busy(self, now: float) -> None:
        if self.busy_since >= 0:
            self.busy += now - self.busy_since
            self.busy_since = -1.0

    def seconds(self, now: float) -> tuple[float, float, float]:
        """Return (busy, backpressured, idle) seconds of the node's life up to ``now``."""
        if self.now is None or self.started < 0:  # not timed, or not started
            return 0.0, 0.0, 0.0
        end = self.ended if self.ended >= 0 else now
        busy = self.busy + (end - self.busy_since if self.busy_since >= 0 else 0.0)
        blocked = self.blocked + (end - self.blocked_since if self.blocked_since >= 0 else 0.0)
        idle = max(0.0, end - self.started - busy - blocked)
        return busy, blocked, idle
