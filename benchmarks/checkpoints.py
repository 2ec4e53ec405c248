"""What checkpointing costs: a pipeline's throughput with one checkpoint a second, and bytes.

The pipeline: ``IterSource(range(N))`` -> ``@node`` map -> a class node keeping a running sum
in ``context.state`` -> accumulator of 100 -> the exactly-once JSON-lines sink, into a file.
Each round runs it without a store and with ``Runtime(store=SqliteStore(...),
checkpoint_every=1.0)``, in alternating order, and takes the ratio of their throughputs;
the median ratio over the rounds must be at least 0.90 (checkpoints cost at most 10%). Both
runs must write the same file. Write amplification is reported two ways: the state saved
per message (bytes of JSON the checkpoints held, over the messages) and what the process
handed to ``write()`` for the store (``wchar`` of /proc/self/io, the run with a store less
the run without, over the messages): the SQLite pages, WAL frames and the sink's fsyncs.

``uv run python -m benchmarks.checkpoints`` (``--quick``: a small run that checks the outputs
agree and a checkpoint was taken, and asserts nothing about speed; in .ci/run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from arachne import Input, IterSource, Node, Output, Runtime, Subgraph, node
from arachne.components.builtins.accumulator import Accumulator
from arachne.components.builtins.jsonl_sink import JsonlSink
from arachne.durable import SqliteStore

GOAL = 0.90
"""Least throughput with one checkpoint a second, as a share of the throughput without."""


@node
def scale(x: int) -> int:
    return x * 3


class RunningSum(Node):
    """Adds each value to a sum kept in ``context.state`` and sends the sum on."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Any) -> None:
        state = self.context.state
        state["sum"] = total = state.get("sum", 0) + msg.payload
        self.emit("out", total)


def pipeline(count: int, out: Path) -> Subgraph:
    g = Subgraph()
    g.add_node(IterSource(range(count), name="numbers"))
    g.add_node(scale())
    g.add_node(RunningSum(name="sum"))
    g.add_node(Accumulator(count=100, name="batch"))
    g.add_node(JsonlSink(path=str(out), name="write"))
    g.connect(("numbers", "out"), ("scale", "in"))
    g.connect(("scale", "out"), ("sum", "in"))
    g.connect(("sum", "out"), ("batch", "in"))
    g.connect(("batch", "out"), ("write", "in"))
    return g


def _written() -> int:
    """Bytes this process has handed to write() so far (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def one_run(count: int, folder: Path, *, stored: bool, every: float) -> dict[str, Any]:
    out = folder / ("stored.jsonl" if stored else "plain.jsonl")
    store = SqliteStore(folder / "run.db") if stored else None
    runtime = Runtime(store=store, checkpoint_every=every, fresh_runs=True)
    runtime.register(pipeline(count, out))
    before = _written()
    began = time.perf_counter()
    runtime.run()
    seconds = time.perf_counter() - began
    written = _written() - before
    checkpointer = runtime.execution.checkpointer
    if store is not None:
        store.close()
    return {
        "seconds": seconds,
        "rate": count / seconds,
        "wchar": written,
        "checkpoints": checkpointer.last if checkpointer is not None else 0,
        "state_bytes": checkpointer.written if checkpointer is not None else 0,
        "out": out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, correctness only")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=3_000_000, help="messages per run")
    options = parser.parse_args()
    count = 60_000 if options.quick else options.count
    rounds = 1 if options.quick else options.rounds
    every = 0.01 if options.quick else 1.0
    ratios: list[float] = []
    per_message: list[float] = []
    state_per_message: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for round_ in range(rounds):
            order = (False, True) if round_ % 2 == 0 else (True, False)
            runs = {stored: one_run(count, folder, stored=stored, every=every) for stored in order}
            plain, stored = runs[False], runs[True]
            if plain["out"].read_bytes() != stored["out"].read_bytes():
                print("the runs with and without a store wrote different files")
                sys.exit(1)
            if stored["checkpoints"] < 1:
                print("no checkpoint was taken")
                sys.exit(1)
            ratio = stored["rate"] / plain["rate"]
            ratios.append(ratio)
            extra = max(0, stored["wchar"] - plain["wchar"])
            per_message.append(extra / count)
            state_per_message.append(stored["state_bytes"] / count)
            print(
                f"round {round_ + 1}: without {plain['rate']:,.0f} msg/s, with "
                f"{stored['rate']:,.0f} msg/s ({stored['checkpoints']} checkpoints): "
                f"ratio {ratio:.3f}; store writes {extra:,} bytes "
                f"({extra / count:.3f} per message), state {stored['state_bytes']:,} bytes"
            )
    median = statistics.median(ratios)
    print(
        f"median ratio {median:.3f} (goal >= {GOAL}); write amplification "
        f"{statistics.median(per_message):.3f} bytes written to the store per message "
        f"({statistics.median(state_per_message):.4f} bytes of state per message)"
    )
    if not options.quick and median < GOAL:
        sys.exit(1)


if __name__ == "__main__":
    main()
