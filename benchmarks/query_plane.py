"""What a query plane snapshot costs: flow and load of a 1,000-edge graph, against stats().

``uv run python -m benchmarks.query_plane [--edges N] [--snapshots S] [--rounds R] [--quick]
[--check] [--json PATH]``

The graph: one source fanning out to ``--edges`` sinks (1,000), each over a ``block`` edge of
capacity 16. Each sink (``async`` mode) takes one message and never finishes with it, so every
edge fills and the source is held back: the graph then holds still, every edge in a blocked
spell. Measured in two places:

- **across threads**: from the main thread while the execution sits idle on the runtime's
  loop thread, so each read is handed to the loop and waits for it (as a dashboard's or the
  service's read does); the loop has nothing else to do, so the figure is the hand-off plus
  the work;
- **no loop**: once the execution has stopped, when a read runs in the caller's thread: the
  snapshot's own work.

In each place, per snapshot: ``QueryPlane.flow()`` and ``QueryPlane.load()``, and the two
baselines they replace: ``Execution.stats()`` (every node and edge counter, what an exporter
reads today) and every edge's ``EdgeStats`` in one read (the edge counters alone). The five
take turns with a read of nothing (what reaching the loop costs alone), ``--snapshots`` calls
each per round (200), over ``--rounds`` rounds (7); a row
gives the median per-call time over the rounds and its ratio to ``stats()`` measured in the
same run. The goal (issue 18): a flow snapshot of a 1,000-edge graph under 1 ms.
``--check`` exits 1 if a median flow snapshot in either place misses it; ``--quick`` runs 3
rounds of 20 and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arachne import Input, Message, Node, Output, Runtime, Subgraph
from arachne.observability import QueryPlane
from arachne.runtime import Execution
from benchmarks.report import machine_line
from benchmarks.snapshot import fingerprint, git_head

GOAL = 0.001
"""Seconds a flow snapshot of the 1,000-edge graph may take (issue 18)."""

CAPACITY = 16
WAIT = 60.0


class Source(Node):
    """Emits 0, 1, 2, ... whenever its output has room."""

    out = Output(int)

    def __init__(self) -> None:
        self.i = 0

    def on_tick(self) -> None:
        self.i += 1
        self.emit("out", self.i)


class Stalled(Node):
    """A sink whose call never ends (until the run is cancelled): its edge fills and stays."""

    inp = Input(int, name="in")
    mode = "async"

    async def on_message(self, port: str, msg: Message) -> None:
        await asyncio.sleep(3600)


def graph(edges: int) -> Subgraph:
    g = Subgraph()
    g.add_node(Source(), name="source")
    for i in range(edges):
        g.add_node(Stalled(), name=f"sink{i}")
        g.connect(("source", "out"), (f"sink{i}", "in"), capacity=CAPACITY)
    return g


def every_edge_stats(execution: Execution) -> Callable[[], object]:
    """The edge counters alone, read as ``stats()`` reads them (one read on the loop)."""
    wiring = execution.wiring

    def read() -> object:
        return wiring.ctx.gate.read(lambda: [edge.stats() for edge in wiring.edges.values()])

    return read


def measure(calls: dict[str, Callable[[], object]], snapshots: int, rounds: int) -> dict[str, Any]:
    """Return each call's per-call seconds, one figure per round, the calls taking turns."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():  # warm up (and build the manifest once)
        call()
    for round_ in range(rounds):
        order = list(calls.items())
        order = order[round_ % len(order) :] + order[: round_ % len(order)]
        for name, call in order:
            gc.collect()
            began = time.perf_counter()
            for _ in range(snapshots):
                call()
            times[name].append((time.perf_counter() - began) / snapshots)
    return times


def table(title: str, times: dict[str, list[float]]) -> dict[str, float]:
    base = statistics.median(times["stats()"])
    print(title)
    print(f"  {'read':<22} {'median':>10} {'min':>10} {'max':>10} {'vs stats()':>11}")
    medians = {}
    for name, values in times.items():
        median = statistics.median(values)
        medians[name] = median
        print(
            f"  {name:<22} {median * 1e6:8.0f} us {min(values) * 1e6:7.0f} us "
            f"{max(values) * 1e6:7.0f} us {median / base:10.3f}x"
        )
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=1000)
    parser.add_argument("--snapshots", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 20; no goal checked")
    parser.add_argument("--check", action="store_true", help="exit 1 if the goal is missed")
    parser.add_argument("--json", type=Path, help="save the figures here")
    args = parser.parse_args(argv)
    snapshots, rounds = (20, 3) if args.quick else (args.snapshots, args.rounds)
    root = Path(__file__).resolve().parents[1]
    print(machine_line())
    print(f"arachne: commit {git_head(root)}, src {fingerprint(root / 'src')}")
    print(f"graph: one source -> {args.edges} sinks, block edges of capacity {CAPACITY}")

    runtime = Runtime()
    runtime.register(graph(args.edges))
    execution = runtime.start()
    plane = QueryPlane(execution)

    gate = execution.wiring.ctx.gate

    def calls() -> dict[str, Callable[[], object]]:
        return {
            "stats()": execution.stats,
            "every EdgeStats": every_edge_stats(execution),
            "QueryPlane.flow()": plane.flow,
            "QueryPlane.load()": plane.load,
            "a read of nothing": lambda: gate.read(lambda: None),
        }

    try:
        # Every sink takes one message and stalls on it; the edges then fill together, and
        # the source, held back, stops: nothing moves from then on.
        deadline = time.monotonic() + WAIT
        while any(edge.depth < CAPACITY for edge in plane.flow().edges.values()):
            if time.monotonic() > deadline:
                raise SystemExit(f"the edges did not fill within {WAIT} s")
            time.sleep(0.05)
        print(f"every edge full: depth {CAPACITY}, its producer held back")
        across = table(
            f"across threads (the execution idle on its loop), {rounds} rounds x {snapshots}:",
            measure(calls(), snapshots, rounds),
        )
    finally:
        execution.stop(drain=False, timeout=WAIT)
        runtime.shutdown(timeout=WAIT)
    alone = table(
        f"no loop (execution stopped: reads run in the caller's thread), {rounds} x {snapshots}:",
        measure(calls(), snapshots, rounds),
    )
    flows = {"across threads": across["QueryPlane.flow()"], "no loop": alone["QueryPlane.flow()"]}
    met = all(seconds < GOAL for seconds in flows.values())
    for where, seconds in flows.items():
        verdict = "ok" if seconds < GOAL else "MISSED"
        print(
            f"flow snapshot, {where}: {seconds * 1e6:.0f} us per snapshot "
            f"(goal: under {GOAL * 1e6:.0f} us) {verdict}"
        )
    if args.json is not None:
        args.json.write_text(
            json.dumps({"edges": args.edges, "acrossThreads": across, "noLoop": alone}, indent=2)
        )
    if args.check and not args.quick:
        return 0 if met else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
