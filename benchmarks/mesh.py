"""What a mesh link costs: a pipeline across two processes against the same in one process.

``uv run python -m benchmarks.mesh [--items N] [--size BYTES] [--rounds R] [--quick] [--check]
[--json PATH]``

The graph: a source of ``--items`` payloads of ``--size`` bytes (1,000,000 of 1 KB) into a
sink that counts them, over a ``block`` edge of capacity 1,024. In process it runs on one
``Runtime``; across processes the source is placed on host ``a`` and the sink on host ``b``,
two worker processes joined by a TCP mesh link (``ProcessCluster``). Each round runs both, in
alternating order; a rate is items over the seconds the executions ran (the slower worker's,
across processes; process start-up not counted). The goal (issue 21): the cross-process rate
at least 50% of the in-process one. ``--check`` exits 1 if the median ratio misses it;
``--quick`` runs one small round and checks only that every item arrived.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from arachne import Input, IterSource, Message, Node, Runtime, Subgraph
from arachne.distributed.channels import LinkOptions
from arachne.distributed.processes import ProcessCluster
from benchmarks.report import machine_line

GOAL = 0.5
"""The cross-process rate over the in-process rate that issue 21 asks for, at least."""

ROOT = str(Path(__file__).resolve().parents[1])


class Count(Node):
    """Counts what arrives (in batches: what any sink at full speed would do)."""

    inp = Input(None, name="in")

    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.on_batch(port, [msg])

    def on_batch(self, port: str, msgs: list[Message]) -> None:
        self.count += len(msgs)
        self.bytes += sum(len(m.payload) for m in msgs)

    def on_finish(self) -> None:
        if self.count != self.expected:
            raise AssertionError(f"the sink counted {self.count} items, not {self.expected}")

    expected = -1


def graph(items: int, size: int) -> Subgraph:
    """The benchmark's pipeline (also what each worker builds)."""
    payload = b"x" * size
    g = Subgraph("mesh")
    g.add_node(IterSource([payload] * items), name="source")
    sink = Count()
    sink.expected = items
    g.add_node(sink, name="sink")
    g.connect(("source", "out"), ("sink", "in"), capacity=1024)
    return g


def in_process(items: int, size: int) -> float:
    rt = Runtime()
    rt.register(graph(items, size))
    began = time.perf_counter()
    rt.run()
    return items / (time.perf_counter() - began)


def across(items: int, size: int, options: LinkOptions) -> float:
    cluster = ProcessCluster(
        {"builder": "benchmarks.mesh:graph", "kwargs": {"items": items, "size": size}},
        {"a": ["source"], "b": ["sink"]},
        options=options,
        env={"PYTHONPATH": ROOT},
    )
    reports = cluster.run(timeout=600)
    return items / max(report["seconds"] for report in reports.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--credits", type=int, default=LinkOptions().credits)
    parser.add_argument("--frame-items", type=int, default=LinkOptions().frame_items)
    parser.add_argument("--frame-bytes", type=int, default=LinkOptions().frame_bytes)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.rounds = 20_000, 1
    options = LinkOptions(
        credits=args.credits, frame_items=args.frame_items, frame_bytes=args.frame_bytes
    )
    print(machine_line())
    print(f"{args.items:,} items of {args.size} bytes; {options}")
    rows: list[dict[str, Any]] = []
    for index in range(args.rounds):
        order = ("in", "across") if index % 2 == 0 else ("across", "in")
        rates = {}
        for which in order:
            rates[which] = (
                in_process(args.items, args.size)
                if which == "in"
                else across(args.items, args.size, options)
            )
        ratio = rates["across"] / rates["in"]
        rows.append({**rates, "ratio": ratio})
        print(
            f"round {index + 1}: in process {rates['in']:,.0f}/s, across processes "
            f"{rates['across']:,.0f}/s, ratio {ratio:.2f}"
        )
    median = statistics.median(row["ratio"] for row in rows)
    print(f"median ratio {median:.2f} (goal: at least {GOAL})")
    if args.json is not None:
        args.json.write_text(json.dumps({"rounds": rows, "median": median}, indent=2))
    if args.check and not args.quick and median < GOAL:
        print("goal missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
