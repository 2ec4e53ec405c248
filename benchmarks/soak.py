"""A soak: ticks, retries, a delay and an accumulator under steady load, memory watched.

``uv run python -m benchmarks.soak [--minutes 20] [--rate 20000] [--every 30]``

Not part of ``.ci/run`` (it runs for minutes by design). The graph:

    feed (timed source, cadence 1 ms, ``rate`` values/s)
      -> flaky (fails 5% of first attempts; Retry with backoff)
      -> delay (50 ms)
      -> accumulator (100 ms batches)
      -> sink (counts values, checks order)
    housekeeper (timed source, cadence 10 ms) -> sink2 (counts ticks)

Every ``every`` seconds it prints the process's resident memory (VmRSS), the values fed and
delivered, and the retries so far. At the end it compares the memory after the first minute
(warm-up: imports, pools, caches) with the last sample and exits 1 if it grew by more than
``--tolerance`` (default 5%), if values were lost or reordered, or if the timers stalled.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path

from arachne import Input, Message, Node, Output, Retry, Runtime, Subgraph
from arachne.components.builtins.accumulator import Accumulator
from arachne.components.builtins.delay import Delay


def rss_kib() -> int:
    """Resident memory of this process, in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class Feed(Node):
    """Emits ``rate`` consecutive integers per second, on a 1 ms cadence."""

    out = Output(int)
    cadence = 0.001

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.sent = 0
        self.began = 0.0

    def on_start(self) -> None:
        self.began = time.monotonic()

    def on_tick(self) -> None:
        due = int((time.monotonic() - self.began) * self.rate)
        for _ in range(min(due - self.sent, 1000)):  # catch up at most 1000 per tick
            self.emit("out", self.sent)
            self.sent += 1


class Flaky(Node):
    """Passes values on; 5% of first attempts raise (the Retry policy calls again)."""

    inp = Input(int, name="in")
    out = Output(int)
    error_policy = Retry(max_attempts=5, backoff=0.002, max_backoff=0.05)

    def __init__(self) -> None:
        self.rng = random.Random(7)
        self.last_failed: int | None = None
        self.failures = 0

    def on_message(self, port: str, msg: Message) -> None:
        value = msg.payload
        if value != self.last_failed and self.rng.random() < 0.05:
            self.last_failed = value
            self.failures += 1
            raise RuntimeError(f"transient failure on {value}")
        self.emit("out", value)


class Sink(Node):
    """Counts the values in the batches it gets and checks they come in order."""

    inp = Input(list, name="in")

    def __init__(self) -> None:
        self.count = 0
        self.batches = 0
        self.out_of_order = 0
        self.next = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.batches += 1
        for value in msg.payload:
            if value != self.next:
                self.out_of_order += 1
            self.next = value + 1
            self.count += 1


class Housekeeper(Node):
    """Ticks every 10 ms and emits its tick count."""

    out = Output(int)
    cadence = 0.01

    def __init__(self) -> None:
        self.ticks = 0

    def on_tick(self) -> None:
        self.ticks += 1
        self.emit("out", self.ticks)


class Ticks(Node):
    """Keeps the latest tick count it was sent."""

    inp = Input(int, name="in")

    def __init__(self) -> None:
        self.latest = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.latest = msg.payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=20_000, help="values per second")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--tolerance", type=float, default=0.05)
    args = parser.parse_args(argv)

    feed, flaky, sink = Feed(args.rate), Flaky(), Sink()
    keeper, ticks = Housekeeper(), Ticks()
    graph = Subgraph()
    graph.add_node(feed, name="feed")
    graph.add_node(flaky, name="flaky")
    graph.add_node(Delay(ms=50), name="delay")
    graph.add_node(Accumulator(interval_ms=100), name="accumulator")
    graph.add_node(sink, name="sink")
    graph.add_node(keeper, name="housekeeper")
    graph.add_node(ticks, name="ticks")
    graph.connect(("feed", "out"), ("flaky", "in"), capacity=1024)
    graph.connect(("flaky", "out"), ("delay", "in"), capacity=1024)
    graph.connect(("delay", "out"), ("accumulator", "in"), capacity=1024)
    graph.connect(("accumulator", "out"), ("sink", "in"), capacity=64)
    graph.connect(("housekeeper", "out"), ("ticks", "in"), capacity=16)
    runtime = Runtime()
    runtime.register(graph)
    began = time.monotonic()
    execution = runtime.start()
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    print(f"soak: {args.minutes} min at {args.rate} values/s; sample every {args.every} s")
    heads = ("t (s)", 7), ("RSS (KiB)", 10), ("fed", 11), ("delivered", 11), ("retried", 8)
    print(" ".join(f"{head:>{width}}" for head, width in heads), f"{'ticks':>7}")
    end = began + args.minutes * 60
    while not stop.wait(min(args.every, max(0.0, end - time.monotonic()))):
        t = time.monotonic() - began
        rss = rss_kib()
        samples.append((t, rss))
        stats = execution.stats()
        retried = stats.nodes["flaky"].retried
        print(
            f"{t:7.0f} {rss:10d} {feed.sent:11d} {sink.count:11d} {retried:8d} {ticks.latest:7d}",
            flush=True,
        )
        if time.monotonic() >= end:
            break
    runtime.stop(timeout=60)
    elapsed = time.monotonic() - began
    problems = []
    if execution.state.value != "completed":
        problems.append(f"the execution ended {execution.state.value}")
    if sink.count != feed.sent or sink.out_of_order:
        problems.append(
            f"fed {feed.sent}, delivered {sink.count}, {sink.out_of_order} out of order"
        )
    expected_ticks = elapsed / keeper.cadence
    if keeper.ticks < 0.8 * expected_ticks:
        problems.append(f"housekeeper ticked {keeper.ticks} of about {expected_ticks:.0f}")
    warm = [rss for t, rss in samples if t >= 60] or [rss for _, rss in samples]
    growth = (warm[-1] - warm[0]) / warm[0]
    print(
        f"\nafter warm-up: {warm[0]} KiB -> {warm[-1]} KiB ({growth:+.1%}); peak "
        f"{max(warm)} KiB; fed {feed.sent}, delivered {sink.count}; flaky failed "
        f"{flaky.failures} first attempts; housekeeper ticks {keeper.ticks} "
        f"(~{expected_ticks:.0f} expected)"
    )
    if growth > args.tolerance:
        problems.append(f"memory grew {growth:.1%} (> {args.tolerance:.0%})")
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
