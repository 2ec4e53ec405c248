"""What running code in a confined worker costs: the square component against an expression.

The pipeline: ``IterSource(range(N))`` -> a node squaring each value -> a sink summing them.
The node is, in turn: ``arachne.core.map`` with the expression ``value * value`` (QuickJS in
the runtime's process: the baseline); the Runtime Service's ``custom.math.square`` code
component as its document writes it (an ``async`` handler, so each call settles a promise);
the same handler written plain; and the same square in WebAssembly (fuel metered). The code
components run in the isolate pool's worker processes, the calls of one loop turn crossing
in one frame. Each round runs every variant in a rotated order; the table gives each one's
median throughput and its ratio to the expression's, measured in the same rounds.

``uv run python -m benchmarks.code_components`` (``--quick``: a small run that checks every
variant's sum, asserting nothing about speed; in .ci/run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from arachne import Input, IterSource, Message, Node, Runtime, Subgraph
from arachne.components import Registry
from arachne.components.code import enable_code

SQUARE = {
    "id": "custom.math.square",
    "name": "Square",
    "version": "1.0.0",
    "ports": {
        "inputs": [{"name": "in", "schema": {"type": "number"}}],
        "outputs": [{"name": "out", "schema": {"type": "number"}}],
    },
    "execution": {
        "type": "javascript",
        "entrypoint": "handler",
        "source": "return { process: async (ctx, port, value) => ctx.emit('out', value * value) }",
    },
}

PLAIN = {
    **SQUARE,
    "id": "bench.math.square-sync",
    "execution": {
        "type": "javascript",
        "source": "return { process: (ctx, port, value) => ctx.emit('out', value * value) }",
    },
}

# The value arrives as JSON text; this module squares small non-negative integers by parsing
# the digits and writing the product's digits back (no float formatting in the module).
WAT_SQUARE = r"""
(module
  (import "arachne" "emit" (func $emit (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "out")
  (func (export "alloc") (param $n i32) (result i32) (i32.const 1024))
  (func (export "process") (param $pp i32) (param $pl i32) (param $vp i32) (param $vl i32)
    (local $i i32) (local $n i64) (local $at i32)
    (loop $digits
      (local.set $n (i64.add (i64.mul (local.get $n) (i64.const 10))
        (i64.extend_i32_u (i32.sub (i32.load8_u (i32.add (local.get $vp) (local.get $i)))
          (i32.const 48)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $digits (i32.lt_u (local.get $i) (local.get $vl))))
    (local.set $n (i64.mul (local.get $n) (local.get $n)))
    (local.set $at (i32.const 512))
    (loop $write
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (i32.store8 (local.get $at)
        (i32.add (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10))) (i32.const 48)))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $write (i64.ne (local.get $n) (i64.const 0))))
    (call $emit (i32.const 0) (i32.const 3) (local.get $at)
      (i32.sub (i32.const 512) (local.get $at))))
)
"""

WASM = {
    **SQUARE,
    "id": "bench.math.square-wasm",
    "execution": {"type": "wasm", "source": WAT_SQUARE},
}

VARIANTS = ("expression", "javascript-async", "javascript", "wasm")


class Sum(Node):
    """Adds up what it receives."""

    inp = Input(None, name="in")

    def __init__(self) -> None:
        super().__init__(name="sum")
        self.total = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.total += msg.payload


def one_run(registry: Registry, variant: str, count: int) -> dict[str, Any]:
    if variant == "expression":
        square = registry.create("arachne.core.map", {"expression": "value * value"})
    else:
        component = {
            "javascript-async": "custom.math.square",
            "javascript": "bench.math.square-sync",
            "wasm": "bench.math.square-wasm",
        }[variant]
        square = registry.create(component, {})
    graph = Subgraph()
    graph.add_node(IterSource(range(count), name="numbers"))
    graph.add_node(square)
    sink = Sum()
    graph.add_node(sink)
    graph.connect(("numbers", "out"), (square.name(), "in"))
    graph.connect((square.name(), "out"), ("sum", "in"))
    runtime = Runtime()
    runtime.register(graph)
    began = time.perf_counter()
    runtime.run()
    seconds = time.perf_counter() - began
    return {"rate": count / seconds, "total": sink.total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, correctness only")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=200_000, help="messages per run")
    options = parser.parse_args()
    count = 3_000 if options.quick else options.count
    rounds = 1 if options.quick else options.rounds
    registry = Registry.default()
    host = enable_code(registry)
    for definition in (SQUARE, PLAIN, WASM):
        registry.add_code(definition)
    one_run(registry, "javascript", 1000)  # the pool's workers started before timing
    expected = sum(i * i for i in range(count))
    rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    ratios: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    try:
        for round_ in range(rounds):
            order = VARIANTS[round_ % len(VARIANTS) :] + VARIANTS[: round_ % len(VARIANTS)]
            runs = {variant: one_run(registry, variant, count) for variant in order}
            for variant, result in runs.items():
                if result["total"] != expected:
                    print(f"{variant}: summed {result['total']}, expected {expected}")
                    sys.exit(1)
                rates[variant].append(result["rate"])
                ratios[variant].append(result["rate"] / runs["expression"]["rate"])
            print(
                f"round {round_ + 1}: "
                + ", ".join(f"{v} {runs[v]['rate']:,.0f} msg/s" for v in VARIANTS)
            )
    finally:
        host.close()
    print(f"\n{count:,} messages, median of {rounds} round(s)")
    print("| node | msg/s | ratio to the expression |")
    print("| --- | --- | --- |")
    for variant in VARIANTS:
        print(
            f"| {variant} | {statistics.median(rates[variant]):,.0f} | "
            f"{statistics.median(ratios[variant]):.2f} |"
        )


if __name__ == "__main__":
    main()
