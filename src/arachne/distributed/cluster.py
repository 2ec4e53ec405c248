"""A graph run partitioned over hosts that share one process and loop (the in-memory transport).

:class:`MemoryCluster` splits a graph by a :class:`~arachne.distributed.placement.Placement`,
gives each partition a :class:`~arachne.distributed.host.MeshHost` on one
:class:`~arachne.distributed.memory.MemoryNetwork` and an ``Execution`` of its own, and runs
them together. It is what the simulation harness drives (on its virtual loop, with a network
that drops, doubles, delays and partitions frames) and the smallest way to see a partitioned
graph run. Processes on one machine use the TCP transport instead (``arachne run --hosts``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arachne.distributed.channels import LinkOptions
from arachne.distributed.federation import Unavailable, federate
from arachne.distributed.host import MeshHost
from arachne.distributed.memory import MemoryNetwork
from arachne.distributed.placement import Placement, partition_graph, plan
from arachne.distributed.sharding import sharded_placement
from arachne.model.subgraph import Subgraph
from arachne.runtime.execution import Execution

if TYPE_CHECKING:
    from arachne.distributed.frames import Frame
    from arachne.model.node import Node
    from arachne.runtime.clock import Clock

__all__ = ["MemoryCluster"]


class MemoryCluster:
    """Run ``unit`` split by ``placement``, one execution per partition, in this process.

    ``network`` carries the frames (a fresh, faultless ``MemoryNetwork`` by default);
    ``options`` sets how links frame and pace; ``clock`` and ``seed`` go to every execution;
    ``shards`` (``{node: {"key": FIELD, "owners": [PARTITION, ...]}}``) runs a keyed node as
    one replica per owner behind a key router (``sharding.shard``).
    """

    def __init__(
        self,
        unit: Subgraph | Node,
        placement: Placement | Mapping[str, Any],
        *,
        network: MemoryNetwork | None = None,
        options: LinkOptions | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        shards: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        sub = unit if isinstance(unit, Subgraph) else _alone(unit)
        if not isinstance(placement, Placement):
            placement = Placement.of(placement)
        graph, instances = sub.to_graph(), sub.instances()
        if shards:
            graph, instances, placement = sharded_placement(graph, instances, placement, shards)
        self.plan = plan(graph, placement)
        self.network = network if network is not None else MemoryNetwork()
        self.hosts: dict[str, MeshHost] = {}
        self.executions: dict[str, Execution] = {}
        self.crashed: dict[str, float] = {}  # partition -> when it crashed (loop time)
        for name in self.plan.nodes:
            host = self.hosts[name] = MeshHost(name, self.network, options=options)
            graph, kept = partition_graph(self.plan, name, instances, host)
            self.executions[name] = Execution(
                graph, kept, execution_id=name, clock=clock, seed=seed
            )

    async def run(self) -> None:
        """Run every partition to completion; if one fails, stop the others and raise its error.

        A partition :meth:`crash` ended counts as ended, not as failed.
        """
        for host in self.hosts.values():
            host.start()
        tasks = {asyncio.ensure_future(self._run(name)): name for name in self.executions}
        pending = set(tasks)
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                failed = [t for t in done if not t.cancelled() and t.exception() is not None]
                if failed:
                    for task in pending:
                        self.executions[tasks[task]].request_stop(drain=False)
                    if pending:
                        await asyncio.wait(pending)
                    raise failed[0].exception()  # type: ignore[misc]
        finally:
            for task in pending:
                task.cancel()
            for host in self.hosts.values():
                host.close()

    async def _run(self, name: str) -> None:
        try:
            await self.executions[name].run()
        finally:
            if name not in self.crashed:
                self.hosts[name].close()

    def crash(self, name: str) -> None:
        """Crash partition ``name`` now: its host goes silent and its execution is cancelled."""
        if name not in self.hosts:
            raise KeyError(f"no partition {name!r}; the partitions are {', '.join(self.hosts)}")
        self.crashed[name] = self.hosts[name].loop.time()
        self.network.detach(name)
        host = self.hosts[name]
        host.transport = _Silent()
        self.executions[name].request_stop(drain=False)

    def query(self) -> dict[str, Any]:
        """Return the federated answer of every host (a crashed one as unavailable)."""
        checksum = self.plan.graph.checksum()
        answers: dict[str, dict[str, Any] | Unavailable] = {}
        for name, host in self.hosts.items():
            if name in self.crashed:
                answers[name] = Unavailable(name, self.crashed[name], "crashed")
            else:
                answers[name] = {"manifest": checksum, **host.health()}
        return federate(answers)

    def links(self) -> dict[str, list[dict[str, Any]]]:
        """Return each host's channels as ``MeshHost.links`` describes them."""
        return {name: host.links() for name, host in self.hosts.items()}


class _Silent:
    """The transport of a crashed host: what it would still send is lost."""

    def attach(self, *_: Any) -> None:
        """Attach nothing."""

    def send(self, source: str, dest: str, frame: Frame) -> None:
        """Lose ``frame``."""


def _alone(node: Node) -> Subgraph:
    sub = Subgraph()
    sub.add_node(node)
    return sub
