"""A keyed node sharded over partitions by key group: the same totals as one process."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from typing import Any

import pytest

from arachne import Input, IterSource, Message, Node, Output, Runtime, Subgraph
from arachne.distributed import MemoryCluster, MemoryNetwork, NetworkFaults, PartitionMap
from arachne.distributed.placement import key_group
from arachne.distributed.sharding import KeyRouter
from arachne.sim import SimClock, SimLoop
from tests.distributed.pipelines import Keep


class Totals(Node):
    """A running total per key: ``{"k", "v"}`` in, ``{"k", "total"}`` out; notes its keys."""

    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}

    def on_message(self, port: str, msg: Message) -> None:
        item = msg.payload
        total = self.totals[item["k"]] = self.totals.get(item["k"], 0) + item["v"]
        self.emit("out", {"k": item["k"], "total": total})


def trades(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"k": f"sym{rng.randrange(40)}", "v": rng.randrange(100)} for _ in range(600)]


def pipeline(data: list[dict[str, Any]]) -> tuple[Subgraph, Keep]:
    g = Subgraph()
    g.add_node(IterSource(data), name="source")
    g.add_node(Totals(), name="totals")
    keep = Keep()
    g.add_node(keep, name="keep")
    g.connect(("source", "out"), ("totals", "in"), capacity=8)
    g.connect(("totals", "out"), ("keep", "in"), capacity=8)
    return g, keep


def per_key(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        out[row["k"]].append(row["total"])
    return dict(out)


@pytest.mark.parametrize("seed", range(20))
def test_a_sharded_keyed_node_gives_each_key_what_one_process_gives_it(seed: int) -> None:
    """Every key's totals, in order, as one process; each replica saw its own keys only."""
    data = trades(seed)
    g, keep = pipeline(data)
    rt = Runtime()
    rt.register(g)
    rt.run()
    expected = per_key(keep.got)
    g, keep = pipeline(data)
    loop = SimLoop()
    try:
        cluster = MemoryCluster(
            g,
            {"s": ["source", "keep"], "a": [], "b": []},
            network=MemoryNetwork(
                NetworkFaults(delay=(0.0, 0.01), drop=0.1, duplicate=0.1), seed=seed
            ),
            clock=SimClock(loop),
            shards={"totals": {"key": "k", "owners": ["a", "b"]}},
        )
        loop.run_until_complete(asyncio.wait_for(cluster.run(), 3600))
    finally:
        loop.close()
    assert per_key(keep.got) == expected
    assert sorted(cluster.plan.nodes["a"]) == ["totals~a"]
    assert "totals~router" in cluster.plan.nodes["s"]
    pmap = PartitionMap.assign(["a", "b"])
    for owner in ("a", "b"):
        replica = cluster.executions[owner].instances["totals~" + owner]
        assert isinstance(replica, Totals)
        assert replica.totals  # (40 keys over two owners: both get some)
        assert all(pmap.owner(k) == owner for k in replica.totals)


def test_the_router_refuses_an_item_without_its_key() -> None:
    router = KeyRouter("k", PartitionMap.assign(["a"]))
    with pytest.raises(ValueError, match="no key 'k'"):
        router.on_batch("in", [{"x": 1}])
    assert key_group("sym1") == key_group("sym1")


def test_shards_must_name_partitions_of_the_placement() -> None:
    g, _ = pipeline(trades(0))
    with pytest.raises(ValueError, match="owners must be partitions"):
        MemoryCluster(
            g,
            {"s": ["source", "keep"], "a": []},
            shards={"totals": {"key": "k", "owners": ["a", "z"]}},
        )
    with pytest.raises(ValueError, match="give"):
        MemoryCluster(g, {"s": ["source", "keep"], "a": []}, shards={"totals": {"field": "k"}})


class Holds(Totals):
    """A keyed node holding something no copy can take."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.lock = threading.Lock()


def test_a_node_that_cannot_be_copied_is_refused_in_one_process_with_the_fix() -> None:
    g = Subgraph()
    g.add_node(IterSource([{"k": "a", "v": 1}]), name="source")
    g.add_node(Holds(), name="totals")
    g.connect(("source", "out"), ("totals", "in"))
    with pytest.raises(ValueError, match="cannot be copied for its replicas.*ProcessCluster"):
        MemoryCluster(
            g,
            {"s": ["source"], "a": [], "b": []},
            shards={"totals": {"key": "k", "owners": ["a", "b"]}},
        )
