"""What a Ray mesh link costs: the mesh pipeline on two actors, against raw batched actor calls.

``uv run python -m benchmarks.mesh_ray [--items N] [--size BYTES] [--rounds R] [--quick]
[--check]``

Both run on one small local Ray cluster, started once. **Raw**: a producer actor sends the
payloads (``--items`` of ``--size`` bytes: 500,000 of 1 KB) to a consumer actor in batches of
the link's frame size (256) with ``.remote()``, at most as many calls unanswered as the link
has credits (10), and the consumer counts them: what a hand-written Ray pipeline with
backpressure does. **Link**: ``RayCluster`` runs benchmarks.mesh's graph with the source on
one actor and the counting sink on the other. A rate is items over the seconds the
producing side ran (actor start-up not counted). Each round runs both, in alternating order.
The goal (issue 21): the link at least 80% of raw. ``--check`` exits 1 if the median ratio
misses it; ``--quick`` runs one small round and checks only that every item arrived.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import ray

from arachne.distributed import LinkOptions, RayCluster
from benchmarks.report import machine_line

GOAL = 0.8
"""The Ray link's rate over raw batched actor calls' that issue 21 asks for, at least."""

ROOT = str(Path(__file__).resolve().parents[1])


@ray.remote
class Consumer:
    """Counts the payloads it is sent."""

    def __init__(self) -> None:
        self.count = 0

    async def take(self, batch: list[bytes]) -> int:
        self.count += len(batch)
        return self.count


@ray.remote
class Producer:
    """Sends batches to a consumer, at most ``inflight`` calls unanswered."""

    async def run(self, consumer: Any, items: int, size: int, batch: int, inflight: int) -> float:
        payload = b"x" * size
        began = time.perf_counter()
        waiting: deque[Any] = deque()
        sent = 0
        while sent < items:
            n = min(batch, items - sent)
            waiting.append(consumer.take.remote([payload] * n))
            sent += n
            if len(waiting) >= inflight:
                await waiting.popleft()
        counted = 0
        while waiting:
            counted = await waiting.popleft()
        if counted != items:
            raise AssertionError(f"the consumer counted {counted}, not {items}")
        return time.perf_counter() - began


def raw(items: int, size: int, options: LinkOptions) -> float:
    consumer = Consumer.remote()  # type: ignore[attr-defined]
    producer = Producer.remote()  # type: ignore[attr-defined]
    seconds = ray.get(
        producer.run.remote(consumer, items, size, options.frame_items, options.credits)
    )
    ray.kill(producer)
    ray.kill(consumer)
    return items / float(seconds)


def link(items: int, size: int, options: LinkOptions) -> float:
    cluster = RayCluster(
        {"builder": "benchmarks.mesh:graph", "kwargs": {"items": items, "size": size}},
        {"a": ["source"], "b": ["sink"]},
        options=options,
    )
    reports = cluster.run(timeout=600)
    return items / max(report["seconds"] for report in reports.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.rounds = 20_000, 1
    options = LinkOptions()
    print(machine_line())
    print(f"{args.items:,} items of {args.size} bytes; {options}")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        namespace="arachne-bench",
        runtime_env={"env_vars": {"PYTHONPATH": ROOT, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}},
    )
    try:
        ratios = []
        for index in range(args.rounds):
            order = ("raw", "link") if index % 2 == 0 else ("link", "raw")
            rates = {
                which: (raw if which == "raw" else link)(args.items, args.size, options)
                for which in order
            }
            ratio = rates["link"] / rates["raw"]
            ratios.append(ratio)
            print(
                f"round {index + 1}: raw batched calls {rates['raw']:,.0f}/s, "
                f"mesh link {rates['link']:,.0f}/s, ratio {ratio:.2f}"
            )
    finally:
        ray.shutdown()
    median = statistics.median(ratios)
    print(f"median ratio {median:.2f} (goal: at least {GOAL})")
    if args.check and not args.quick and median < GOAL:
        print("goal missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
