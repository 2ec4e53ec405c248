"""A fast source through a small edge into a slow sink: memory stays flat as the count grows.

How it is measured: ``tracemalloc`` traces every allocation made by Python during the run and
reports the peak of traced memory. The same graph runs with 100,000 and then 1,000,000 messages;
if anything were kept per message (an unbounded queue, a growing list of headers or stats), the
second peak would be about ten times the first. The assertion allows 64 KiB of noise, far below
the ~ 9 x (payload + message) = several MB that per-message retention would add.
"""

from __future__ import annotations

import gc
import tracemalloc

from arachne import Input, IterSource, Node, Runtime, Subgraph


class SlowSink(Node):
    """Does more work per message than the source, so the source is always waiting for room."""

    inp = Input(int, name="in")

    def __init__(self) -> None:
        self.count = 0
        self.checksum = 0

    def on_message(self, port: str, msg: object) -> None:
        value = msg.payload  # type: ignore[attr-defined]
        for _ in range(3):
            value = (value * 31 + 7) % 1_000_003
        self.checksum ^= value
        self.count += 1


def peak_bytes(count: int) -> tuple[int, int, int]:
    graph = Subgraph()
    graph.add_node(IterSource(range(count), schema=int, name="source"))
    sink = SlowSink()
    graph.add_node(sink)
    link = graph.connect(("source", "out"), ("slow_sink", "in"), capacity=64)
    runtime = Runtime()
    runtime.register(graph)
    gc.collect()
    tracemalloc.start()
    try:
        runtime.run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.count == count
    return peak, runtime.stats().edges[link].high_water, sink.count


def test_peak_memory_does_not_grow_with_message_count() -> None:
    small_peak, small_high, _ = peak_bytes(100_000)
    large_peak, large_high, large_count = peak_bytes(1_000_000)
    assert large_count == 1_000_000
    assert small_high == large_high == 64
    assert large_peak <= small_peak + 64 * 1024, (small_peak, large_peak)
