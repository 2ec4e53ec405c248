"""Pipeline demo: validator -> transformer -> slow sink, with backpressure you can watch.

Run it with ``uv run python -m examples.pipeline_demo.main``. The source could produce all
orders in a millisecond; the store takes 2 ms each. Every edge holds at most 8 messages, so the
source is only pulled as fast as the store drains: the "in flight" column never grows past the
sum of the capacities, and the final table shows how long each producer spent blocked.
"""

from __future__ import annotations

import time

from arachne import IterSource, Runtime, Subgraph
from arachne.observability import format_stats
from examples.pipeline_demo.nodes import RejectCounter, SlowStore, Transformer, Validator

ORDERS = 300
CAPACITY = 8


def orders(count: int) -> list[dict[str, float]]:
    """Every seventh order is missing its price; the validator rejects those."""
    return [{"id": i, "qty": 1 + i % 5, "price": 0.0 if i % 7 == 0 else 9.99} for i in range(count)]


def build(store: SlowStore, rejects: RejectCounter) -> Subgraph:
    """Wire source -> validator -> transformer -> store, rejects to their own counter."""
    graph = Subgraph("orders")
    graph.add_node(IterSource(orders(ORDERS), schema=dict, name="source"))
    graph.add_node(Validator())
    graph.add_node(Transformer())
    graph.add_node(store, name="store")
    graph.add_node(rejects, name="rejects")
    graph.connect(("source", "out"), ("validator", "in"), capacity=CAPACITY)
    graph.connect(("validator", "out"), ("transformer", "in"), capacity=CAPACITY)
    graph.connect(("validator", "rejected"), ("rejects", "in"), capacity=CAPACITY)
    graph.connect(("transformer", "out"), ("store", "in"), capacity=CAPACITY)
    return graph


def main() -> None:
    """Run the pipeline on a background thread and print its queues while it works."""
    store, rejects = SlowStore(), RejectCounter()
    runtime = Runtime()
    runtime.register(build(store, rejects))
    first_edge = next(iter(runtime.graph.links))
    print(f"{ORDERS} orders, every edge bounded at {CAPACITY}; the store takes 2 ms per order\n")
    print(f"{'time':>6}  {'pulled':>6}  {'stored':>6}  {'in flight':>9}  {'source blocked':>14}")
    started = time.perf_counter()
    execution = runtime.start()
    while not execution.wait(0.1):
        stats = runtime.stats()
        pulled = stats.nodes["orders/source"].emitted
        blocked = stats.edges[first_edge].blocked_seconds
        print(
            f"{time.perf_counter() - started:5.2f}s  {pulled:6}  {store.count:6}  "
            f"{stats.in_flight:9}  {blocked:13.2f}s"
        )
    runtime.shutdown()
    execution.raise_if_failed()
    print(f"\nstored {store.count} orders worth {store.revenue:.2f}; rejected {rejects.count}\n")
    print(format_stats(runtime.stats()))


if __name__ == "__main__":
    main()
