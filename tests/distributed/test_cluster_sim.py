"""Partitioned graphs over an unreliable in-memory network, under simulation, over many seeds.

``ARACHNE_SIM_SEEDS=1000 uv run pytest tests/distributed`` is the slow suite (100 seeds by
default). Each seed draws how the network misbehaves (delays that reorder, drops, duplicates,
a partition between two hosts for a while) and the link options; the run is on virtual time.
Whatever the network does, the partitioned run's output equals the single-process run's,
every frame sent is within the credit the receiver granted, and nothing deadlocks.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from typing import Any

import pytest

from arachne import Input, IterSource, Message, Node, Output, Runtime, Subgraph
from arachne.distributed.channels import LinkOptions
from arachne.distributed.cluster import MemoryCluster
from arachne.distributed.frames import DATA, Frame
from arachne.distributed.memory import MemoryNetwork, NetworkFaults, Partition
from arachne.sim import SimClock, SimLoop
from tests.distributed.pipelines import KEYS, KeyedSum

SEEDS = range(int(os.environ.get("ARACHNE_SIM_SEEDS", "100")))


class Collect(Node):
    """Keeps what it receives, in order; may stall (hold its input) after ``stall_after``."""

    inp = Input(None, name="in")

    def __init__(self, stall_after: int | None = None) -> None:
        self.got: list[Any] = []
        self.stall_after = stall_after
        self.finished_at: float | None = None

    def on_message(self, port: str, msg: Message) -> None:
        self.got.append(msg.payload)
        if self.stall_after is not None and len(self.got) == self.stall_after:
            self.hold_input(True)

    def on_finish(self) -> None:
        self.finished_at = self.now()


class Slow(Node):
    """Passes items on after a virtual pause each: a slow consumer."""

    mode = "async"
    inp = Input(None, name="in")
    out = Output(None)

    async def on_message(self, port: str, msg: Message) -> None:  # type: ignore[override]
        await self.sleep(0.01)
        self.emit("out", msg.payload)


def items(seed: int, count: int) -> list[list[Any]]:
    rng = random.Random(seed)
    return [[rng.choice(KEYS), rng.randrange(100)] for _ in range(count)]


def pipeline(data: list[list[Any]]) -> tuple[Subgraph, Collect]:
    """source -> keyed sum -> sink, each with small edges."""
    g = Subgraph("trades")
    g.add_node(IterSource(data), name="source")
    g.add_node(KeyedSum(), name="sum")
    sink = Collect()
    g.add_node(sink, name="sink")
    g.connect(("source", "out"), ("sum", "in"), capacity=8)
    g.connect(("sum", "out"), ("sink", "in"), capacity=8)
    return g, sink


def single_process(data: list[list[Any]]) -> list[Any]:
    g, sink = pipeline(data)
    rt = Runtime()
    rt.register(g)
    rt.run()
    return sink.got


class CheckedNetwork(MemoryNetwork):
    """A network that checks, as each data frame leaves, that it is within the granted credit."""

    def __init__(self, faults: NetworkFaults, seed: int) -> None:
        super().__init__(faults, seed=seed)
        self.cluster: MemoryCluster | None = None
        self.over: list[str] = []
        self.most = 0  # the most frames ever sent and not yet taken on one channel

    def send(self, source: str, dest: str, frame: Frame) -> None:
        if frame.kind == DATA and self.cluster is not None:
            receiving = self.cluster.hosts[dest].inbound[frame.channel].channel
            ahead = frame.seq - receiving.consumed
            self.most = max(self.most, ahead)
            if ahead > receiving.options.credits:
                self.over.append(f"{frame.channel} seq {frame.seq} consumed {receiving.consumed}")
            if len(frame.items) > receiving.options.frame_items:
                self.over.append(f"{frame.channel}: a frame of {len(frame.items)} items")
        super().send(source, dest, frame)


def draw_faults(rng: random.Random) -> NetworkFaults:
    high = rng.choice([0.0, 0.001, 0.02, 0.2])
    partitions: tuple[Partition, ...] = ()
    if rng.random() < 0.5:
        a, b = rng.sample(["a", "b", "c"], 2)
        partitions = (Partition(a, b, rng.uniform(0.0, 1.0), rng.uniform(0.1, 3.0)),)
    return NetworkFaults(
        delay=(0.0, high),
        drop=rng.choice([0.0, 0.05, 0.3]),
        duplicate=rng.choice([0.0, 0.05, 0.3]),
        partitions=partitions,
    )


def run_sim(build: Callable[[SimLoop], MemoryCluster], timeout: float = 3600.0) -> None:
    """Run the cluster ``build`` makes on a virtual loop; fail if it takes over ``timeout``."""
    loop = SimLoop()
    try:
        cluster = build(loop)
        loop.run_until_complete(asyncio.wait_for(cluster.run(), timeout))
        assert not loop.errors, loop.errors
    finally:
        loop.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_a_partitioned_run_outputs_what_one_process_does_whatever_the_network_does(
    seed: int,
) -> None:
    """Delays, drops, duplicates and a partition: the same outputs, in order, exactly once."""
    rng = random.Random(seed)
    data = items(seed, rng.randrange(1, 400))
    expected = single_process(data)
    options = LinkOptions(
        credits=rng.choice([1, 2, 4]),
        frame_items=rng.choice([1, 3, 64]),
        linger=rng.choice([0.001, 0.005]),
        retransmit=rng.choice([0.05, 0.2]),
    )
    network = CheckedNetwork(draw_faults(rng), seed)
    g, sink = pipeline(data)
    placement = rng.choice(
        [
            {"a": ["source"], "b": ["sum"], "c": ["sink"]},
            {"a": ["source", "sum"], "c": ["sink"]},
            {"a": ["source"], "b": ["sum", "sink"]},
        ]
    )

    def build(loop: SimLoop) -> MemoryCluster:
        cluster = MemoryCluster(
            g, placement, network=network, options=options, clock=SimClock(loop), seed=seed
        )
        network.cluster = cluster
        return cluster

    run_sim(build)
    assert sink.got == expected
    assert network.over == []
    assert network.most <= options.credits


def tight_run(seed: int, data: list[list[Any]]) -> tuple[Collect, CheckedNetwork]:
    """source -> slow -> sink with one item per frame and one frame of credit, grants lost."""
    g = Subgraph("tight")
    g.add_node(IterSource(data), name="source")
    g.add_node(Slow(), name="slow")
    sink = Collect()
    g.add_node(sink, name="sink")
    g.connect(("source", "out"), ("slow", "in"), capacity=1)
    g.connect(("slow", "out"), ("sink", "in"), capacity=1)
    options = LinkOptions(credits=1, frame_items=1, retransmit=0.05)
    network = CheckedNetwork(NetworkFaults(delay=(0.0, 0.01), drop=0.4), seed)

    def build(loop: SimLoop) -> MemoryCluster:
        cluster = MemoryCluster(
            g,
            {"a": ["source"], "b": ["slow", "sink"]},
            network=network,
            options=options,
            clock=SimClock(loop),
        )
        network.cluster = cluster
        return cluster

    run_sim(build, timeout=600.0)
    return sink, network


@pytest.mark.parametrize("seed", range(10))
def test_a_consumer_without_credit_to_spare_never_deadlocks(seed: int) -> None:
    """One frame of one item in flight, grants lost often, a slow consumer: it completes."""
    data = items(seed, 200)
    sink, network = tight_run(seed, data)
    assert sink.got == data  # Slow passes each item on unchanged
    assert network.over == []
    assert network.cluster is not None
    rows = [row for rows in network.cluster.links().values() for row in rows]
    assert sum(row.get("announced", 0) for row in rows) > 0  # it waited at zero credit, said so


def pair_run(stall: bool, count: int, release_at: float) -> tuple[Collect, Collect, dict[str, int]]:
    """Two independent pipelines from host a to host b; the first consumer may stall.

    A stalled consumer holds its input after 50 items until ``release_at`` (virtual seconds),
    when what the producer had emitted by then is noted in the returned dict.
    """
    g = Subgraph("pair")
    g.add_node(IterSource(range(count)), name="first")
    g.add_node(IterSource(range(count)), name="second")
    stalled = Collect(stall_after=50 if stall else None)
    other = Collect()
    g.add_node(stalled, name="stalled")
    g.add_node(other, name="other")
    g.connect(("first", "out"), ("stalled", "in"), capacity=16)
    g.connect(("second", "out"), ("other", "in"), capacity=16)
    seen: dict[str, int] = {}

    def build(loop: SimLoop) -> MemoryCluster:
        cluster = MemoryCluster(
            g,
            {"a": ["first", "second"], "b": ["stalled", "other"]},
            network=MemoryNetwork(NetworkFaults(delay=(0.001, 0.001))),
            options=LinkOptions(credits=2, frame_items=16),
            clock=SimClock(loop),
        )

        def look() -> None:
            seen["emitted"] = cluster.executions["a"].stats().nodes["first"].emitted
            seen["stalled_got"] = len(stalled.got)
            stalled.hold_input(False)

        if stall:
            loop.call_at(release_at, look)
        return cluster

    run_sim(build)
    return stalled, other, seen


def test_a_stalled_consumer_stalls_its_producer_and_not_its_sibling_channel() -> None:
    """While one consumer holds its input, its producer stops within the bound; the other flows."""
    count = 5000
    _, calm, _ = pair_run(False, count, 0.0)
    stalled, other, seen = pair_run(True, count, 50.0)
    assert len(stalled.got) == count
    assert len(other.got) == count
    # Held for 50 virtual seconds, the producer got no further than what the bounded parts
    # hold: the consumer's edge and one frame over it, the credits' frames, the sender's own
    # buffer and one batch over it, and the producer's edge.
    assert seen["stalled_got"] == 50
    assert seen["emitted"] <= 50 + (16 + 16) + 2 * 16 + (2 * 16 + 16) + 16
    # The sibling channel's pace does not depend on the stalled one.
    assert other.finished_at is not None
    assert calm.finished_at is not None
    assert other.finished_at <= calm.finished_at * 1.05
