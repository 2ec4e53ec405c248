"""Heartbeats, a crashed host and the federated query, on virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from arachne import Input, IterSource, Message, Node, Subgraph
from arachne.distributed.channels import LinkOptions
from arachne.distributed.cluster import MemoryCluster
from arachne.distributed.federation import Unavailable, federate
from arachne.distributed.host import DEGRADED, LinkCapabilities
from arachne.distributed.memory import MemoryNetwork, NetworkFaults, Partition
from arachne.sim import SimClock, SimLoop


class Paced(Node):
    """Takes one item per 10 ms of virtual time: a consumer that keeps the link busy."""

    mode = "async"
    inp = Input(None, name="in")

    async def on_message(self, port: str, msg: Message) -> None:  # type: ignore[override]
        await self.sleep(0.01)


def busy_pair(count: int) -> Subgraph:
    g = Subgraph("busy")
    g.add_node(IterSource(range(count)), name="source")
    g.add_node(Paced(), name="paced")
    g.connect(("source", "out"), ("paced", "in"), capacity=8)
    return g


def run_until(cluster: MemoryCluster, loop: SimLoop, at: float) -> None:
    """Run the cluster on ``loop`` until virtual time ``at``, then stop every partition."""

    def stop() -> None:
        for execution in cluster.executions.values():
            execution.request_stop(drain=False)

    loop.call_at(at, stop)
    loop.run_until_complete(asyncio.wait_for(cluster.run(), 3600))


def test_a_crashed_host_is_reported_unavailable_within_one_heartbeat() -> None:
    """Its peer says so within a heartbeat of its last frame; its links carry the taint."""
    heartbeat, crash_at = 1.0, 2.0
    loop = SimLoop()
    seen: dict[str, Any] = {}
    try:
        cluster = MemoryCluster(
            busy_pair(10_000),
            {"a": ["source"], "b": ["paced"]},
            network=MemoryNetwork(NetworkFaults(delay=(0.001, 0.001))),
            options=LinkOptions(heartbeat=heartbeat),
            clock=SimClock(loop),
        )

        def look(when: str) -> None:
            seen[when] = cluster.query()

        loop.call_at(crash_at - 0.01, look, "before")
        loop.call_at(crash_at, cluster.crash, "b")
        loop.call_at(crash_at + heartbeat, look, "after")
        run_until(cluster, loop, crash_at + 2 * heartbeat)
    finally:
        loop.close()
    before = seen["before"]
    assert before["hosts"]["b"]["state"] == "available"
    assert before["peers"]["a"]["b"]["state"] == "available"
    assert before["taints"] == {"not-durable": 2, "no-replay": 2}  # what no link keeps yet
    after = seen["after"]
    assert after["hosts"]["b"] == {
        "state": "unavailable",
        "since": pytest.approx(crash_at),
        "reason": "crashed",
    }
    peer = after["peers"]["a"]["b"]
    assert peer["state"] == "unavailable"
    assert crash_at - heartbeat / 4 - 0.01 <= peer["since"] <= crash_at + 0.01  # last heard: a beat
    links = [row for row in after["links"] if row["host"] == "a"]
    assert links
    assert all(DEGRADED in row["taints"] for row in links)
    assert after["taints"][DEGRADED] == len(links)


def test_a_partition_heals_and_the_peer_is_available_again() -> None:
    """Cut off for 3 s, each side reports the other unavailable; healed, available again."""
    loop = SimLoop()
    seen: dict[str, Any] = {}
    try:
        cut = Partition("a", "b", start=1.0, seconds=3.0)
        cluster = MemoryCluster(
            busy_pair(10_000),
            {"a": ["source"], "b": ["paced"]},
            network=MemoryNetwork(NetworkFaults(delay=(0.001, 0.001), partitions=(cut,))),
            options=LinkOptions(heartbeat=1.0),
            clock=SimClock(loop),
        )
        loop.call_at(3.0, lambda: seen.setdefault("cut", cluster.query()))
        loop.call_at(6.0, lambda: seen.setdefault("healed", cluster.query()))
        run_until(cluster, loop, 6.5)
    finally:
        loop.close()
    cut_view, healed = seen["cut"], seen["healed"]
    assert cut_view["peers"]["a"]["b"]["state"] == "unavailable"
    assert cut_view["peers"]["b"]["a"]["state"] == "unavailable"
    assert cut_view["hosts"]["a"]["state"] == "available"  # (the query reaches both)
    assert healed["peers"]["a"]["b"]["state"] == "available"
    assert healed["peers"]["b"]["a"]["state"] == "available"
    assert DEGRADED not in healed["taints"]


def test_a_finished_partition_has_left_and_is_not_unavailable() -> None:
    """A partition whose run ended says goodbye: its peers report it left."""
    loop = SimLoop()
    try:
        g = Subgraph("short")
        g.add_node(IterSource(range(100)), name="source")
        g.add_node(Paced(), name="paced")
        g.connect(("source", "out"), ("paced", "in"))
        cluster = MemoryCluster(g, {"a": ["source"], "b": ["paced"]}, clock=SimClock(loop))
        loop.run_until_complete(cluster.run())
    finally:
        loop.close()
    view = cluster.query()
    states = {view["peers"]["a"]["b"]["state"], view["peers"]["b"]["a"]["state"]}
    assert states <= {"left", "available"}
    assert "left" in states


def test_federate_merges_by_manifest_and_lists_every_host() -> None:
    """A silent host is listed unavailable; one on another manifest is a conflict."""
    row = {"channel": "x", "role": "send", "taints": [DEGRADED]}
    answers: dict[str, Any] = {
        "a": {
            "manifest": "m1",
            "epoch": 0,
            "peers": {"c": {"state": "unavailable"}},
            "links": [row],
        },
        "b": {"manifest": "m1", "epoch": 2, "peers": {}, "links": []},
        "c": Unavailable("c", 12.5, "no answer within 1 s"),
        "d": {"manifest": "m0", "epoch": 0, "peers": {}, "links": [row]},
    }
    merged = federate(answers)
    assert merged["manifest"] == "m1"
    assert merged["hosts"]["c"] == {
        "state": "unavailable",
        "since": 12.5,
        "reason": "no answer within 1 s",
    }
    assert merged["hosts"]["b"] == {"state": "available", "epoch": 2}
    assert merged["conflicts"] == {"d": "m0"}
    assert merged["links"] == [{"host": "a", **row}]  # d's rows are not mixed in
    assert merged["taints"] == {DEGRADED: 1}


def test_capabilities_name_what_a_link_does_not_keep() -> None:
    """Each capability a transport lacks is a taint label on the links it carries."""
    assert LinkCapabilities().labels() == ("not-durable", "no-replay")
    lacking = LinkCapabilities(order=False, durability=True, replay=True, trust=False)
    assert lacking.labels() == ("unordered", "untrusted")
    assert LinkCapabilities(durability=True, replay=True).labels() == ()
