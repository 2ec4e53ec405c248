"""A running node: when it can be woken, what it reports, fused work included."""

from __future__ import annotations

from arachne import IterSource, Runtime, Subgraph, node
from arachne.model.context import NodeContext
from arachne.model.port import PortSpec
from arachne.model.specs import NodeSpec
from arachne.runtime.ready_queue import NOT_QUEUED
from arachne.runtime.running_node import NO_INPUT_RANK, RunningNode
from tests.runtime.nodes import Collect, Forever


def running(unit: object, *, inputs: bool = True) -> RunningNode:
    spec = NodeSpec("n", "test", (PortSpec("in"),) if inputs else (), (PortSpec("out"),))
    rn = RunningNode(spec, unit, NodeContext.create("n"))  # type: ignore[arg-type]
    rn.started = True
    return rn


def test_a_node_starts_unqueued_and_pending() -> None:
    rn = RunningNode(NodeSpec("n", "t"), Collect(), NodeContext.create("n"))
    assert rn.ready_rank == NOT_QUEUED
    assert rn.state == "pending"
    assert rn.wake_rank() is None  # not started: nothing wakes it


def test_wake_rank_follows_what_the_node_can_do() -> None:
    source = running(Forever(), inputs=False)
    assert source.tick_driven
    assert source.wake_rank() == NO_INPUT_RANK  # a source with room ticks
    source.idle = True
    assert source.wake_rank() is None  # an idle source waits for the next round
    orphan = running(Collect())
    assert orphan.wake_rank() is None  # no edge in, nothing to tick: it waits for an edge
    orphan.finish_requested = True
    assert orphan.wake_rank() == NO_INPUT_RANK  # told to finish: its turn finishes it
    orphan.finished = True
    assert orphan.wake_rank() is None


def test_stats_count_what_fused_chains_did_for_a_stage() -> None:
    @node
    def double(x: int) -> int:
        return x * 2

    @node
    def drop_odd(x: int) -> int | None:
        return x if x % 4 == 0 else None

    graph = Subgraph()
    graph.add_node(IterSource(range(10), name="src"))
    graph.add_node(double())
    graph.add_node(drop_odd())
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("double", "in"))
    graph.connect(("double", "out"), ("drop_odd", "in"))
    graph.connect(("drop_odd", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert runtime.execution.chains  # both stages ran fused
    stats = runtime.stats().nodes
    assert (stats["double"].received, stats["double"].emitted) == (10, 10)
    assert (stats["drop_odd"].received, stats["drop_odd"].emitted) == (10, 5)
    assert stats["collect"].received == 5
    assert sink.payloads == [0, 4, 8, 12, 16]
