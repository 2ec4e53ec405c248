"""What the simulation harness costs: seeds per minute of a 20-node graph, and time compression.

``uv run python -m benchmarks.simulation [--seeds N] [--quick] [--check] [--json PATH]``

The graph (20 nodes): a source of 100 values fanning out to four branches of four nodes each
(a thread-mode map with concurrency 4 and results unordered, a map retried with a 2 s
back-off when the seed crashes it, a class node, a ten-second ``Delay``), merged, then a map
into a sink.
Each seed runs it under simulation with seeded crashes (``faults=0.002``, skipped where
they land), twice, and the two trace hashes are compared. Printed: seeds per minute of real
time (one run per seed counted), the median of virtual over real time per run, and whether
every seed reproduced. The goals (issue 19): at least 1,000 seeds a minute, at least 100
times faster than real time; ``--check`` exits 1 if one is missed or a seed did not
reproduce. ``--quick`` runs 20 seeds and checks only that they reproduce.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from arachne import Input, IterSource, Message, Node, Output, Retry, Subgraph, node
from arachne.components.builtins import Delay, Merge
from arachne.sim import simulate
from benchmarks.report import machine_line

SEEDS_PER_MINUTE = 1000
COMPRESSION = 100.0
VALUES = 100


class Step(Node):
    """A class node that adds one."""

    inp = Input(int, name="in")
    out = Output(int)
    error_policy = "skip"

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload + 1)


class Count(Node):
    """The sink: counts what arrives."""

    inp = Input(int, name="in")

    def __init__(self) -> None:
        super().__init__(name="sink")
        self.got = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.got += 1


def build() -> Subgraph:
    """The 20-node graph of the module's text."""
    graph = Subgraph()
    graph.add_node(IterSource(range(VALUES), name="source"))
    merge, sink = Merge(name="merge"), Count()
    merge.error_policy = sink.error_policy = "skip"  # (a seeded crash is skipped there too)
    graph.add_node(merge)
    graph.add_node(sink)
    tap = node(lambda x: x, name="tap", inputs={"in": int}, outputs={"out": int})()
    graph.add_node(tap)
    graph.connect(("merge", "out"), ("tap", "in"))
    graph.connect(("tap", "out"), ("sink", "in"))
    for branch in range(4):
        stages: list[Node] = [
            node(
                lambda x: x * 2,
                name=f"twice{branch}",
                inputs={"in": int},
                outputs={"out": int},
                mode="thread",
                concurrency=4,
                ordered=False,
                error_policy="skip",
            )(),
            node(
                lambda x: x - 1,
                name=f"less{branch}",
                inputs={"in": int},
                outputs={"out": int},
                error_policy=Retry(max_attempts=3, backoff=2.0, then="skip"),
            )(),
            Step(name=f"step{branch}"),
            Delay(ms=10_000, name=f"wait{branch}"),
        ]
        previous = "source"
        for stage in stages:
            stage.error_policy = stage.error_policy if stage.error_policy != "fail" else "skip"
            graph.add_node(stage)
            graph.connect((previous, "out"), (stage.name(), "in"))
            previous = stage.name()
        graph.connect((previous, "out"), ("merge", "in"))
    return graph


def main(argv: list[str] | None = None) -> int:
    """Run the seeds, print the figures, and check them with ``--check``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    seeds = 20 if args.quick else args.seeds
    print(machine_line())
    nodes = len(build().instances())
    print(f"{seeds} seeds of a {nodes}-node graph, {VALUES} values, each seed run twice")
    spent = 0.0
    ratios: list[float] = []
    unreproducible = []
    for seed in range(seeds):
        began = time.perf_counter()
        first = simulate(build, seed, faults=0.002, crashes=True, max_faults=5)
        spent += time.perf_counter() - began
        ratios.append(first.compression)
        if not first.ok:
            print(f"seed {seed} failed: {first.failure}")
        if simulate(build, seed, faults=0.002, crashes=True, max_faults=5).trace_hash != (
            first.trace_hash
        ):
            unreproducible.append(seed)
    per_minute = seeds / spent * 60
    compression = statistics.median(ratios)
    print(f"  seeds per minute:          {per_minute:,.0f} (goal {SEEDS_PER_MINUTE:,})")
    print(f"  virtual / real time:       {compression:,.0f}x (goal {COMPRESSION:.0f}x)")
    print(f"  seeds not reproduced:      {len(unreproducible)} {unreproducible or ''}")
    if args.json is not None:
        record = {
            "seeds": seeds,
            "seeds_per_minute": per_minute,
            "compression": compression,
            "unreproducible": unreproducible,
        }
        args.json.write_text(json.dumps(record, indent=2))
    if unreproducible:
        return 1
    if args.check and (per_minute < SEEDS_PER_MINUTE or compression < COMPRESSION):
        print("a goal was missed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
