"""A checkpointed run to kill: ``python crash_graph.py OUT STORE N [EVERY]``.

Two sources of ``range(N)``; one through a fused chain of two ``@node`` functions, the other
through a thread-mode node; a fan-in that pairs them by position (so its output does not
depend on which side ran first), an accumulator of 5, and the exactly-once JSON-lines sink.
Run again with the same store after a kill, it resumes from the last checkpoint. The fault
injection tests (test_recovery.py, benchmarks/crash_points.py) kill it at random moments.
"""

from __future__ import annotations

import sys
from typing import Any

from arachne import Input, IterSource, Node, Output, Runtime, Subgraph, node
from arachne.components.builtins.accumulator import Accumulator
from arachne.components.builtins.jsonl_sink import JsonlSink
from arachne.durable import SqliteStore


@node
def double(x: int) -> int:
    return x * 2


@node
def inc(x: int) -> int:
    return x + 1


class Triple(Node):
    """Times three, in a worker thread."""

    mode = "thread"
    concurrency = 2
    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Any) -> None:
        self.emit("out", msg.payload * 3)


class Pair(Node):
    """Pair the n-th value of ``left`` with the n-th of ``right``; the unpaired wait."""

    left = Input(int)
    right = Input(int)
    out = Output(list)

    def __init__(self) -> None:
        self.waiting: dict[str, list[int]] = {"left": [], "right": []}

    def on_message(self, port: str, msg: Any) -> None:
        self.waiting[port].append(msg.payload)
        left, right = self.waiting["left"], self.waiting["right"]
        while left and right:
            self.emit("out", [left.pop(0), right.pop(0)])

    def snapshot(self) -> dict[str, list[int]]:
        return {side: list(values) for side, values in self.waiting.items()}

    def restore(self, state: Any) -> None:
        self.waiting = {side: list(state[side]) for side in ("left", "right")}


def build(out: str, n: int) -> Subgraph:
    g = Subgraph()
    g.add_node(IterSource(range(n), name="a"))
    g.add_node(IterSource(range(n), name="b"))
    g.add_node(double())
    g.add_node(inc())
    g.add_node(Triple())
    g.add_node(Pair())
    g.add_node(Accumulator(count=5, name="batch"))
    g.add_node(JsonlSink(path=out, name="sink"))
    g.connect(("a", "out"), ("double", "in"), capacity=32)
    g.connect(("double", "out"), ("inc", "in"), capacity=32)
    g.connect(("inc", "out"), ("pair", "left"), capacity=32)
    g.connect(("b", "out"), ("triple", "in"), capacity=32)
    g.connect(("triple", "out"), ("pair", "right"), capacity=32)
    g.connect(("pair", "out"), ("batch", "in"), capacity=32)
    g.connect(("batch", "out"), ("sink", "in"), capacity=32)
    return g


def main() -> None:
    out, store, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    every = float(sys.argv[4]) if len(sys.argv) > 4 else 0.02
    runtime = Runtime(store=SqliteStore(store) if store != "-" else None, checkpoint_every=every)
    runtime.register(build(out, n))
    execution = runtime.execution
    runtime.run()
    checkpointer = execution.checkpointer
    restored = checkpointer.restored if checkpointer is not None else None
    print(f"fused={len(execution.chains)} restored={restored}", file=sys.stderr)


if __name__ == "__main__":
    main()
