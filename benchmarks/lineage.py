"""What lineage costs: a chain of class nodes with lineage at several rates, against fusion off.

``uv run python -m benchmarks.lineage [--messages N] [--rounds R] [--quick] [--json PATH]``

The graph: a pulled source (``IterSource``) and four class nodes that pass each value on, into
a sink that counts what it gets. Lineage turns fusion off, so the baseline is the same graph
with ``fusion=False`` and lineage off; the chain is class nodes, which fusion would not join
anyway. Each variant runs ``--messages`` values (200,000) ``--rounds`` times (5), taking turns,
with ``metrics=False``; a row gives the median throughput and its ratio to the baseline's,
measured in the same run. Every run checks that the sink got every value, and that the share
of values reaching it with a lineage id is the rate asked for. ``--quick`` runs 20,000 values
twice and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from arachne import Input, IterSource, Message, Node, Output, Runtime, Subgraph
from arachne.runtime.lineage import LINEAGE
from benchmarks.report import machine_line
from benchmarks.snapshot import fingerprint, git_head

VARIANTS: dict[str, dict[str, Any]] = {
    "lineage off (baseline)": {"fusion": False},
    "lineage 0.01": {"lineage": 0.01},
    "lineage 0.1": {"lineage": 0.1},
    "lineage 1.0": {"lineage": 1.0},
}


class Pass(Node):
    """Passes each value on."""

    inp = Input(None, name="in")
    out = Output(None)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload)


class Count(Node):
    """Counts what it gets, and how much of it carries a lineage id."""

    inp = Input(None, name="in")

    def __init__(self) -> None:
        super().__init__(name="sink")
        self.got = self.traced = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.got += 1
        if LINEAGE in msg.headers:
            self.traced += 1


def run_once(messages: int, options: dict[str, Any]) -> float:
    """Run the chain once; return its throughput in messages per second (checked)."""
    sink = Count()
    graph = Subgraph()
    graph.add_node(IterSource(range(messages), name="source"))
    previous = "source"
    for index in range(4):
        graph.add_node(Pass(name=f"pass{index}"))
        graph.connect((previous, "out"), (f"pass{index}", "in"))
        previous = f"pass{index}"
    graph.add_node(sink)
    graph.connect((previous, "out"), ("sink", "in"))
    runtime = Runtime(metrics=False, **options)
    runtime.register(graph)
    gc.collect()
    began = time.perf_counter()
    runtime.run()
    spent = time.perf_counter() - began
    if sink.got != messages:
        raise SystemExit(f"{options}: the sink got {sink.got} of {messages} values")
    rate = options.get("lineage") or 0.0
    if abs(sink.traced - rate * messages) > 1:
        raise SystemExit(f"{options}: {sink.traced} values carried lineage, not {rate:.0%}")
    return messages / spent


def main(argv: list[str] | None = None) -> int:
    """Measure every variant in turn, print the table, and save it with ``--json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    messages, rounds = (20_000, 2) if args.quick else (args.messages, args.rounds)
    print(machine_line())
    print(f"{messages:,} values through 4 class nodes, median of {rounds} rounds")
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name, options in VARIANTS.items():
            rates[name].append(run_once(messages, options))
    baseline = statistics.median(rates["lineage off (baseline)"])
    rows = []
    for name, measured in rates.items():
        median = statistics.median(measured)
        rows.append({"variant": name, "messages_per_s": median, "ratio": median / baseline})
        print(f"  {name:<24} {median / 1e6:6.3f} M msg/s  x{median / baseline:.2f}")
    if args.json is not None:
        record = {"head": git_head(), "source": fingerprint(), "rows": rows}
        args.json.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
