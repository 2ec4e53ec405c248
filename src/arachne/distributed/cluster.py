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
from arachne.distributed.host import MeshHost
from arachne.distributed.memory import MemoryNetwork
from arachne.distributed.placement import Placement, partition_graph, plan
from arachne.model.subgraph import Subgraph
from arachne.runtime.execution import Execution

if TYPE_CHECKING:
    from arachne.model.node import Node
    from arachne.runtime.clock import Clock

__all__ = ["MemoryCluster"]


class MemoryCluster:
    """Run ``unit`` split by ``placement``, one execution per partition, in this process.

    ``network`` carries the frames (a fresh, faultless ``MemoryNetwork`` by default);
    ``options`` sets how links frame and pace; ``clock`` and ``seed`` go to every execution.
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
    ) -> None:
        sub = unit if isinstance(unit, Subgraph) else _alone(unit)
        if not isinstance(placement, Placement):
            placement = Placement.of(placement)
        self.plan = plan(sub.to_graph(), placement)
        instances = sub.instances()
        self.network = network if network is not None else MemoryNetwork()
        self.hosts: dict[str, MeshHost] = {}
        self.executions: dict[str, Execution] = {}
        for name in self.plan.nodes:
            host = self.hosts[name] = MeshHost(name, self.network, options=options)
            graph, kept = partition_graph(self.plan, name, instances, host)
            self.executions[name] = Execution(
                graph, kept, execution_id=name, clock=clock, seed=seed
            )

    async def run(self) -> None:
        """Run every partition to completion; if one fails, stop the others and raise its error."""
        tasks = {asyncio.ensure_future(ex.run()): name for name, ex in self.executions.items()}
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

    def links(self) -> dict[str, list[dict[str, Any]]]:
        """Return each host's channels as ``MeshHost.links`` describes them."""
        return {name: host.links() for name, host in self.hosts.items()}


def _alone(node: Node) -> Subgraph:
    sub = Subgraph()
    sub.add_node(node)
    return sub
