"""What every implementation computes: sizes, hop counts, the stage functions, expected results.

Each implementation module imports its stage functions, sources and sink tallies from here, so
all of them do exactly the same work per message; only the plumbing between stages differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Final

__all__ = [
    "BRANCH_OFFSETS",
    "CAPACITY",
    "LATENCY_RATE",
    "SPIN_ITERS",
    "WORKLOADS",
    "Tally",
    "Workload",
    "branch",
    "double",
    "double_stamped",
    "inc",
    "inc_stamped",
    "keep",
    "paced",
    "records",
    "spin",
]

CAPACITY: Final = 1024
"""Bound of every queue or edge in the implementations that have one."""

BRANCH_OFFSETS: Final = (0, 1, 2, 3)
"""Fan-out branch ``i`` maps ``x -> x + i``."""

LATENCY_RATE: Final = 10_000
"""Messages per second the paced latency producer sends."""

SPIN_ITERS: Final = 100
"""Iterations of the backpressure sink's arithmetic loop: about 2 us on an AMD EPYC core."""


def double(x: int) -> int:
    return x * 2


def keep(x: int) -> bool:
    return x % 3 != 0


def inc(x: int) -> int:
    return x + 1


def double_stamped(item: tuple[int, int]) -> tuple[int, int]:
    return (item[0] * 2, item[1])


def inc_stamped(item: tuple[int, int]) -> tuple[int, int]:
    return (item[0] + 1, item[1])


def branch(offset: int) -> Callable[[int], int]:
    """Return fan-out branch ``x -> x + offset``."""

    def add_offset(x: int) -> int:
        return x + offset

    return add_offset


def records(n: int) -> Iterator[dict[str, int]]:
    """Yield the backpressure workload's small dicts, made one at a time."""
    for i in range(n):
        yield {"i": i}


def spin() -> int:
    """Burn a fixed amount of CPU: the backpressure sink's per-message work."""
    acc = 0
    for k in range(SPIN_ITERS):
        acc += k
    return acc


def paced(n: int, rate: int = LATENCY_RATE) -> Iterator[tuple[int, int]]:
    """Yield ``(i, stamp_ns)`` at ``rate`` per second, busy-waiting for each slot.

    The stamp is taken when the wait ends, just before the message is handed over, so the
    latency measured at the sink is the pipeline's own delay, not the producer's lateness.
    """
    period = 1_000_000_000 // rate
    start = perf_counter_ns()
    for i in range(n):
        due = start + i * period
        now = perf_counter_ns()
        while now < due:
            now = perf_counter_ns()
        yield (i, now)


@dataclass(slots=True)
class Tally:
    """What a sink accumulates: the checked sum and count, and latencies when measured."""

    total: int = 0
    count: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    note: str = ""

    def add(self, x: int) -> None:
        self.total += x
        self.count += 1

    def add_all(self, xs: list[int]) -> None:
        """Add a whole batch: the batched sinks (Bytewax's ``summed``, Arachne's batch node)."""
        self.total += sum(xs)
        self.count += len(xs)

    def add_stamped(self, item: tuple[int, int]) -> None:
        self.latencies_ns.append(perf_counter_ns() - item[1])
        self.total += item[0]
        self.count += 1

    def add_record(self, record: dict[str, int]) -> None:
        spin()
        self.total += record["i"]
        self.count += 1


def _pipeline_expected(n: int) -> tuple[int, int]:
    # Survivors are x with x % 3 != 0 (2x % 3 == x % 3 ignoring sign), each gives 2x + 1.
    # sum over all x < n of 2x + 1 is n^2; the dropped x = 3k (k < m) give 6k + 1.
    m = (n + 2) // 3
    return n * n - (3 * m * (m - 1) + m), n - m


def _fanout_expected(n: int) -> tuple[int, int]:
    k = len(BRANCH_OFFSETS)
    return k * n * (n - 1) // 2 + n * sum(BRANCH_OFFSETS), k * n


def _latency_expected(n: int) -> tuple[int, int]:
    # Path: paced source -> double -> inc -> sink, summing 2i + 1.
    return n * n, n


def _backpressure_expected(n: int) -> tuple[int, int]:
    return n * (n - 1) // 2, n


@dataclass(frozen=True, slots=True)
class Workload:
    """One workload: the implementation function it calls, its sizes and how it is checked."""

    name: str
    function: str
    size: int
    quick_size: int
    hops: int
    expected: Callable[[int], tuple[int, int]]
    latency: bool = False


WORKLOADS: Final[dict[str, Workload]] = {
    w.name: w
    for w in (
        # source -> double -> keep -> inc -> sink: 3 operators + the sink.
        Workload("pipeline", "pipeline", 1_000_000, 3_000, 4, _pipeline_expected),
        # source -> 4 x (x + i) -> merge -> sink: per message, 4 branch maps + 4 sink deliveries.
        Workload("fanout", "fanout", 250_000, 1_000, 8, _fanout_expected),
        # paced source -> double -> inc -> sink: 2 operators + the sink.
        Workload("latency", "latency", 20_000, 500, 3, _latency_expected, latency=True),
        # source of {"i": i} -> slow sink: 1 hop.
        Workload("backpressure", "backpressure", 2_000_000, 5_000, 1, _backpressure_expected),
        Workload("backpressure2x", "backpressure", 4_000_000, 10_000, 1, _backpressure_expected),
    )
}
