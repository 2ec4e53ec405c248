"""A graph run partitioned over hosts that share one process and loop (the in-memory transport).

:class:`MemoryCluster` splits a graph by a :class:`~arachne.distributed.placement.Placement`,
gives each partition a :class:`~arachne.distributed.host.MeshHost` on one
:class:`~arachne.distributed.memory.MemoryNetwork` and an ``Execution`` of its own, and runs
them together. It is what the simulation harness drives (on its virtual loop, with a network
that drops, doubles, delays and partitions frames) and the smallest way to see a partitioned
graph run. Processes on one machine use the TCP transport instead (``arachne run --hosts``).

Given a ``store``, every partition's run keeps checkpoints there (the run is named by its
partition), and a partition :meth:`~MemoryCluster.crash` ended can be
:meth:`~MemoryCluster.restart` ed: it is built again, resumes from its last checkpoint under
its next incarnation, and its links pick up where that checkpoint left them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from arachne.distributed.channels import LinkOptions
from arachne.distributed.federation import Unavailable, federate
from arachne.distributed.host import MeshHost
from arachne.distributed.memory import MemoryNetwork
from arachne.distributed.moves import MoveParts, OwnershipMove
from arachne.distributed.partition_map import GroupRange, RouteAudit
from arachne.distributed.placement import Placement, partition_graph, plan
from arachne.distributed.sharding import Flip, KeyRouter, sharded_placement
from arachne.model.errors import ExecutionError
from arachne.model.node import Node
from arachne.model.subgraph import Subgraph
from arachne.runtime.execution import Execution
from arachne.runtime.state import ExecutionState

if TYPE_CHECKING:
    from arachne.distributed.frames import Frame
    from arachne.distributed.placement import PartitionPlan
    from arachne.durable.route_journal import RouteJournal
    from arachne.runtime.checkpointing import RunStore
    from arachne.runtime.clock import Clock

__all__ = ["MemoryCluster"]


class MemoryCluster:
    """Run ``unit`` split by ``placement``, one execution per partition, in this process.

    ``unit`` is the graph (or one node), or a function that builds it (needed to
    :meth:`restart` a partition: it is built afresh, as a new process would).
    ``network`` carries the frames (a fresh, faultless ``MemoryNetwork`` by default);
    ``options`` sets how links frame and pace; ``clock`` and ``seed`` go to every execution;
    ``shards`` (``{node: {"key": FIELD, "owners": [PARTITION, ...]}}``) runs a keyed node as
    one replica per owner behind a key router (``sharding.shard``); ``store`` (a
    ``SqliteStore``) keeps each partition's checkpoints, taken every ``checkpoint_every``
    seconds of the clock (``fresh`` starts every partition's stored run over instead of
    resuming it).
    """

    def __init__(
        self,
        unit: Subgraph | Node | Callable[[], Subgraph],
        placement: Placement | Mapping[str, Any],
        *,
        network: MemoryNetwork | None = None,
        options: LinkOptions | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        shards: Mapping[str, Mapping[str, Any]] | None = None,
        store: RunStore | None = None,
        checkpoint_every: float = 1.0,
        fresh: bool = False,
    ) -> None:
        self._build = unit if callable(unit) and not isinstance(unit, Subgraph | Node) else None
        if not isinstance(placement, Placement):
            placement = Placement.of(placement)
        self._placement = placement
        self._shards = shards
        self.options = options
        self.clock = clock
        self.seed = seed
        self.store = store
        self.checkpoint_every = checkpoint_every
        self.fresh = fresh
        self.plan, instances = self._split(unit)
        self.network = network if network is not None else MemoryNetwork()
        self.hosts: dict[str, MeshHost] = {}
        self.executions: dict[str, Execution] = {}
        self.instances: dict[str, dict[str, Node]] = {}  # partition -> its nodes
        self.audits: dict[str, RouteAudit] = {}  # sharded node -> its route changes
        self.crashed: dict[str, float] = {}  # partition -> when it crashed (loop time)
        self.ended: dict[str, float] = {}  # partition -> when its run ended (loop time)
        self.completed: dict[str, float] = {}  # partition -> when its run completed
        self.incarnations: dict[str, int] = {}
        self._tasks: dict[asyncio.Future[None], str] = {}
        self._woken: asyncio.Future[None] | None = None
        for name in self.plan.nodes:
            self._open(name, instances, 0)

    def _split(
        self, unit: Subgraph | Node | Callable[[], Subgraph]
    ) -> tuple[PartitionPlan, dict[str, Node]]:
        if self._build is not None:
            built: object = self._build()
            if not isinstance(built, Subgraph):
                made = type(built).__name__
                raise TypeError(f"the graph's builder returned {made}, not a Subgraph")
            unit = built
        if isinstance(unit, Subgraph):
            sub = unit
        elif isinstance(unit, Node):
            sub = _alone(unit)
        else:
            raise TypeError(f"unit must be a Subgraph, a Node or a builder, got {unit!r}")
        graph, instances = sub.to_graph(), sub.instances()
        placement = self._placement
        if self._shards:
            graph, instances, placement = sharded_placement(
                graph, instances, placement, self._shards
            )
        return plan(graph, placement), instances

    def _open(self, name: str, instances: dict[str, Node], incarnation: int) -> None:
        """Make partition ``name``'s host and execution (resumed from the store, if any)."""
        self.incarnations[name] = incarnation
        host = self.hosts[name] = MeshHost(
            name,
            self.network,
            options=self.options,
            epoch=incarnation,
            checkpointed=self.store is not None,
        )
        graph, kept = partition_graph(self.plan, name, instances, host)
        self.instances[name] = kept
        checkpoints = None
        if self.store is not None:
            fresh = self.fresh and incarnation == 0  # (a restart resumes, fresh or not)
            checkpoints = self.store.open_run(name, checksum=graph.checksum(), fresh=fresh)
            resumes = getattr(checkpoints, "resumes", None)
            if callable(resumes) and resumes() > incarnation:  # (a cluster run again)
                incarnation = self.incarnations[name] = int(resumes())
                host.reincarnate(incarnation)
        self.executions[name] = Execution(
            graph,
            kept,
            execution_id=name,
            clock=self.clock,
            seed=self.seed,
            checkpoints=checkpoints,
            checkpoint_every=self.checkpoint_every,
        )

    async def run(self) -> None:
        """Run every partition to completion; if one fails, stop the others and raise its error.

        A partition :meth:`crash` ended counts as ended, not as failed; one restarted meanwhile
        is waited for too.
        """
        for name, host in self.hosts.items():
            host.start()
            self._task(name)
        try:
            while True:
                pending = {task for task in self._tasks if not task.done()}
                if not pending:
                    break
                woken = self._woken = asyncio.get_running_loop().create_future()
                await asyncio.wait({*pending, woken}, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                done = [task for task in self._tasks if task.done()]
                failed = [t for t in done if not t.cancelled() and t.exception() is not None]
                if failed:
                    others = {task for task in self._tasks if not task.done()}
                    for task in others:
                        self.executions[self._tasks[task]].request_stop(drain=False)
                    if others:
                        await asyncio.wait(others)
                    raise failed[0].exception()  # type: ignore[misc]
        finally:
            for task in self._tasks:
                task.cancel()
            for host in self.hosts.values():
                host.close()

    def _task(self, name: str) -> None:
        task = asyncio.ensure_future(self._run(name, self.executions[name], self.hosts[name]))
        self._tasks[task] = name

    async def _run(self, name: str, execution: Execution, host: MeshHost) -> None:
        try:
            await execution.run()
            if execution.state is ExecutionState.COMPLETED and host is self.hosts[name]:
                self.completed[name] = host.loop.time()
                host.completed()
                if (
                    host.checkpointed or host.lends
                ):  # (a receiver may ask again: an item, a payload)
                    await host.settled()
        finally:
            self.ended[name] = host.loop.time()
            if host is self.hosts[name] and name not in self.crashed:
                host.close()

    def crash(self, name: str) -> None:
        """Crash partition ``name`` now: its host goes silent and its execution is cancelled."""
        if name not in self.hosts:
            raise KeyError(f"no partition {name!r}; the partitions are {', '.join(self.hosts)}")
        self.crashed[name] = self.hosts[name].loop.time()
        self.network.detach(name)
        host = self.hosts[name]
        host.transport = _Silent()
        host.close()
        self.executions[name].request_stop(drain=False)

    def restart(self, name: str) -> None:
        """Start crashed partition ``name`` again from its last checkpoint, its next incarnation.

        It is built afresh from the cluster's builder; its peers learn of the restart from its
        heartbeats and start a new epoch on the links they share with it. A partition whose
        run had completed (it crashed while its links settled) is not started again: its run
        is over, and what it sent was taken for good (but payloads it had lent and nobody
        opened yet are lost: opening them raises ``PayloadUnavailable``).
        """
        if name not in self.crashed:
            raise ValueError(f"partition {name!r} has not crashed; crash() it first")
        if name in self.completed or self.executions[name].state is ExecutionState.COMPLETED:
            # (crashed once its run had completed, while its links settled: it is over, and
            # payloads it had lent are lost: its peers learn it is gone for good)
            for other, host in self.hosts.items():
                if other != name and other not in self.crashed:
                    host.gone(name, "its run had completed before it crashed")
            return
        if self._build is None or self.store is None:
            raise ValueError(
                "restart needs MemoryCluster(build, ..., store=SqliteStore(...)): a function "
                "that builds the graph afresh, and a store the partition resumes from"
            )
        _, instances = self._split(self._build)
        del self.crashed[name]
        self._open(name, instances, self.incarnations[name] + 1)
        self.hosts[name].start()
        self._task(name)
        if self._woken is not None and not self._woken.done():
            self._woken.set_result(None)

    def move(
        self,
        node: str,
        span: GroupRange,
        to: str,
        *,
        journal: RouteJournal | None = None,
        poll: float = 0.001,
        crash: tuple[str, str] | None = None,
    ) -> OwnershipMove:
        """Return the move of key-group range ``span`` of sharded ``node`` to owner ``to``.

        Run it (``await move.run()``) while the cluster runs. Its steps go to the node's route
        audit (``query()["routes"]``) and, given ``journal``, to the store, so a move made
        again with the same journal resumes one left half done (``moves.OwnershipMove``).
        """
        router_id = f"{node}~router"
        where = [part for part, kept in self.instances.items() if router_id in kept]
        if not where:
            raise ValueError(f"node {node!r} is not sharded (no {router_id!r}); shard it first")
        part = where[0]
        first = self.instances[part][router_id]
        if not isinstance(first, KeyRouter):
            raise TypeError(f"{router_id!r} is not a KeyRouter")
        owners = sorted({owner for _, owner in first.pmap.ranges} | set(first.sent))

        def router() -> KeyRouter:  # (looked up each time: a restarted partition has new nodes)
            found = self.instances[part][router_id]
            assert isinstance(found, KeyRouter)  # noqa: S101  (the same graph, built again)
            return found

        def replica(owner: str) -> Node:
            return self.instances[owner][f"{node}~{owner}"]

        def state(owner: str | None) -> tuple[int, bool, bool, int | None, bool]:
            name, node_id = (part, router_id) if owner is None else (owner, f"{node}~{owner}")
            execution = self.executions[name]
            rn = execution.wiring.nodes[node_id]
            checkpointer = execution.checkpointer
            last = None if checkpointer is None else checkpointer.last
            completed = execution.state is ExecutionState.COMPLETED
            # (its input ended; a crashed run's nodes stopped, and it resumes)
            ended = (rn.finished or rn.finishing) and name not in self.crashed
            return rn.stats().received, rn.busy, ended, last, completed

        def flip(marker: Flip) -> None:  # (the map is offered already: this wakes the router)
            execution = self.executions[part]
            if not execution.done:
                with contextlib.suppress(ExecutionError):  # (its input ended: on_finish takes it)
                    execution.inject(router_id, "in", marker)

        audit = self.audits.setdefault(node, RouteAudit(clock=self.network_time))
        parts = MoveParts(owners, router, replica, state, flip)
        return OwnershipMove(parts, span, to, audit=audit, journal=journal, poll=poll, crash=crash)

    def reports(self) -> dict[str, dict[str, Any]]:
        """Return each partition's links, health and node counters (after or during a run)."""
        checksum = self.plan.graph.checksum()
        reports: dict[str, dict[str, Any]] = {}
        for name, host in self.hosts.items():
            nodes = self.executions[name].stats().nodes
            reports[name] = {
                "links": host.links(),
                "health": {"manifest": checksum, **host.health(wall=True)},
                "nodes": {nid: s.emitted for nid, s in nodes.items()},
                "skipped": {nid: s.skipped for nid, s in nodes.items() if s.skipped},
            }
        return reports

    def network_time(self) -> float:
        """Return the cluster's loop time (what audit entries are stamped with)."""
        return asyncio.get_running_loop().time()

    def routes(self) -> dict[str, Any]:
        """Return each sharded node's partition map and route audit, as the query plane shows."""
        out: dict[str, Any] = {}
        for kept in self.instances.values():
            for node_id, node in kept.items():
                if isinstance(node, KeyRouter):
                    sharded = node_id.removesuffix("~router")
                    audit = self.audits.get(sharded, RouteAudit())
                    out[sharded] = {
                        "map": node.pmap.rows(),
                        "audit": audit.rows(),
                        "held": node.held,
                    }
        return out

    def query(self) -> dict[str, Any]:
        """Return the federated answer of every host (a crashed one as unavailable).

        ``routes`` has each sharded node's partition map and route audit (``routes()``).
        """
        checksum = self.plan.graph.checksum()
        answers: dict[str, dict[str, Any] | Unavailable] = {}
        for name, host in self.hosts.items():
            if name in self.crashed:
                answers[name] = Unavailable(name, self.crashed[name], "crashed")
            else:
                answers[name] = {"manifest": checksum, **host.health()}
        return {**federate(answers), "routes": self.routes()}

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
