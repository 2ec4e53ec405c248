"""Event time across a mesh link: watermarks cross as positions, windows close by them."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from arachne import Input, IterSource, Message, Node, Output, Runtime, Subgraph
from arachne.distributed import (
    LinkOptions,
    MemoryCluster,
    MemoryNetwork,
    NetworkFaults,
    Partition,
    Placement,
)
from arachne.primitives import EventClock, Tumbling, Window, WindowMeta, WindowResult
from arachne.sim import SimClock, SimLoop
from tests.distributed.pipelines import Keep


def readings() -> list[dict[str, Any]]:
    # In order within the clock's max_delay: no reading is late, wherever the watermark is.
    return [{"k": "ab"[i % 2], "t": i * 0.5, "v": i} for i in range(400)]


def windowed() -> tuple[Subgraph, Keep, Keep]:
    g = Subgraph()
    g.add_node(IterSource(readings()), name="source")
    clock = EventClock.install(g, "clock", timestamp="t", max_delay=1.0)
    window = Window.install(
        g, "win", window=Tumbling(10.0), key="k", timestamp="t", aggregate="sum", value="v"
    )
    out, meta, late = Keep(), Keep(), Keep()
    g.add_node(out, name="out")
    g.add_node(meta, name="meta")
    g.add_node(late, name="late")
    g.connect(window["late"], ("late", "in"))
    g.connect(("source", "out"), clock["in"], capacity=16)
    g.connect(clock["out"], window["in"], capacity=16)
    g.connect(window["out"], ("out", "in"))
    g.connect(window["meta"], ("meta", "in"))
    return g, out, meta


@pytest.mark.parametrize("frame_items", [1, 7, 256])
def test_windows_across_a_link_close_by_the_watermarks_that_crossed(frame_items: int) -> None:
    """The same sums as one process; the windows close on finite watermarks, not the end."""
    g, out, _ = windowed()
    rt = Runtime()
    rt.register(g)
    rt.run()
    expected = [(r.key, r.start, r.value) for r in out.got if isinstance(r, WindowResult)]
    assert expected
    g, out, meta = windowed()
    loop = SimLoop()
    try:
        cluster = MemoryCluster(
            g,
            Placement.of({"a": ["source"]}, default="b"),
            network=MemoryNetwork(NetworkFaults(delay=(0.0, 0.01), drop=0.1), seed=frame_items),
            options=LinkOptions(frame_items=frame_items, credits=2, retransmit=0.05),
            clock=SimClock(loop),
        )
        placed = cluster.plan.nodes
        assert "source" in placed["a"]
        loop.run_until_complete(asyncio.wait_for(cluster.run(), 3600))
    finally:
        loop.close()
    got = [(r.key, r.start, r.value) for r in out.got if isinstance(r, WindowResult)]
    assert sorted(got) == sorted(expected)
    closed = [m.watermark for m in meta.got if isinstance(m, WindowMeta)]
    assert closed
    assert sum(math.isfinite(w) for w in closed) >= len(closed) - 2  # all but the last ones


class Stamps(Node):
    """Says, one tick apart: item 1 and watermark 5; watermark 6 alone; item 3; the end."""

    cadence = 0.1
    forwards_watermarks = False
    out = Output(None)

    def __init__(self) -> None:
        self.step = 0

    def on_tick(self) -> None:
        self.step += 1
        if self.step == 1:
            self.emit("out", 1)
            self.emit_watermark(5.0)
        elif self.step == 2:
            self.emit_watermark(6.0)  # (after a frame was cut here: a frame of no items)
        elif self.step == 3:
            self.emit("out", 3)
            self.emit_watermark(7.0)
            self.finish()


class Order(Node):
    """Keeps items and the watermarks it reaches, in the order they come."""

    inp = Input(None, name="in")

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.seen.append(msg.payload)

    def on_watermark(self, t: float) -> None:
        self.seen.append(f"wm{t:g}")


def test_watermarks_alone_in_frames_go_on_at_once_and_the_last_before_the_end() -> None:
    """No watermark overtakes an item or waits for the next frame; the link still ends."""
    g = Subgraph()
    g.add_node(Stamps(), name="stamps")
    order = Order()
    g.add_node(order, name="order")
    g.connect(("stamps", "out"), ("order", "in"))
    loop = SimLoop()
    try:
        cluster = MemoryCluster(
            g,
            {"a": ["stamps"], "b": ["order"]},
            # Cut off for the first second: the frames are sent again together, so all are
            # there at once when the receiver takes them (where a stall would show).
            network=MemoryNetwork(
                NetworkFaults(delay=(0.01, 0.01), partitions=(Partition("a", "b", 0.0, 1.0),))
            ),
            clock=SimClock(loop),
        )
        loop.run_until_complete(asyncio.wait_for(cluster.run(), 60))
    finally:
        loop.close()
    assert order.seen[:4] == [1, "wm5", "wm6", 3]
    assert order.seen[4:] in ([], ["wm7"])  # (at the end, the end itself says it all)
