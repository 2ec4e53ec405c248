"""The floor under class nodes: what the class style costs in CPython with no runtime at all.

``uv run --group bench python -m benchmarks.floor [--n N] [--repeat R]``

The pipeline workload's class nodes (``benchmarks.impls.arachne_classes``: the same classes,
the same ``on_message`` bodies) are driven here by the least a per-message hook needs: for
each hop, a chunk of payloads, one message object refilled per payload, ``on_message`` called,
a reference count looked at (was the message kept?), the output's length looked at (full?),
and an ``emit`` that checks its port and appends. No scheduler, no edges, no counters, no
events, no error handling beyond a bare ``try``. Whatever a runtime adds comes on top.

Printed: each implementation's median time, and its ratio to the hand-written loop and to
asyncio queues, all measured in this run. If the floor itself is below a speed goal for class
nodes, no runtime built this way can meet it on this interpreter.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from arachne import Node
from arachne.model.message import EMPTY_HEADERS, Message, new_message, refill
from benchmarks.impls import arachne_classes, asyncio_queues, loop
from benchmarks.workloads import WORKLOADS, Tally

CHUNK = 256
"""Payloads per hop per turn: the runtime's default quantum."""


def _lean_emit(buf: list[Any]) -> Callable[[Any, Any], None]:
    """The least an ``emit`` into one output can do: check the port, unwrap, append."""
    append = buf.append

    def emit(port: Any, value: Any) -> None:
        if port != "out":
            raise KeyError(port)
        if type(value) is Message:
            value = value.payload
        append(value)

    return emit


def _hop(node: Node, items: list[Any], out: list[Any], limit: int) -> None:
    """Hand ``items`` to ``node.on_message`` one by one, as the runtime's lean loop does."""
    on_message, put, refcount = node.on_message, refill, sys.getrefcount
    msg = new_message(None, EMPTY_HEADERS)
    for payload in items:
        put(msg, payload)
        try:
            on_message("in", msg)
        except Exception:
            raise
        if refcount(msg) > 2:  # kept by the hook: the next payload gets a new object
            msg = new_message(None, EMPTY_HEADERS)
        if len(out) >= limit:
            break


def floor_pipeline(n: int) -> Tally:
    """The pipeline workload through the class nodes, driven by :func:`_hop`."""
    tally = Tally()
    nodes: list[Node] = [
        arachne_classes.Double(name="double"),
        arachne_classes.Keep(name="keep"),
        arachne_classes.Inc(name="inc"),
        arachne_classes.Sink(tally.add),
    ]
    payloads = range(n)
    for start in range(0, n, CHUNK):
        items: list[Any] = list(payloads[start : start + CHUNK])
        for node in nodes:
            out: list[Any] = []
            node.set_emitter(_lean_emit(out))
            _hop(node, items, out, 1 << 30)
            items = out
    return tally


IMPLS: dict[str, Callable[[int], Tally]] = {
    "loop": loop.pipeline,
    "asyncio": asyncio_queues.pipeline,
    "floor": floor_pipeline,
    "arachne_classes": arachne_classes.pipeline,
}


def measure(n: int, repeat: int) -> dict[str, float]:
    """Return each implementation's median seconds over ``repeat`` rounds, taken in turn."""
    times: dict[str, list[float]] = {name: [] for name in IMPLS}
    want = WORKLOADS["pipeline"].expected(n)
    for _ in range(repeat):
        for name, run in IMPLS.items():
            gc.collect()
            began = time.perf_counter()
            tally = run(n)
            times[name].append(time.perf_counter() - began)
            if (tally.total, tally.count) != want:
                raise SystemExit(f"{name} got {(tally.total, tally.count)}, expected {want}")
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__)
    parser.add_argument("--n", type=int, default=300_000, help="messages per run")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (median taken)")
    args = parser.parse_args(argv)
    medians = measure(args.n, args.repeat)
    print(
        f"pipeline, {args.n:,} messages, median of {args.repeat}; Python {sys.version.split()[0]}"
    )
    print(f"  {'impl':<16} {'seconds':>8} {'x loop':>8} {'x asyncio':>10}")
    for name, seconds in medians.items():
        speed_loop = medians["loop"] / seconds
        speed_asyncio = medians["asyncio"] / seconds
        print(f"  {name:<16} {seconds:8.3f} {speed_loop:8.3f} {speed_asyncio:10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
