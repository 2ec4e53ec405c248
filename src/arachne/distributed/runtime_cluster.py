"""``Runtime(cluster=Cluster(...))``: the runtime's registered graph run split into partitions.

A script that runs a graph in one process (``rt.register(g); rt.run()``) runs it split by a
placement when its runtime is given a :class:`Cluster`: the same registered graph, its
partitions joined by mesh links, in one of three places. ``on="memory"`` (the default) runs
every partition in this process over the in-memory transport: the node instances that were
registered are the ones that run, so what a sink kept is there after the run.
``on="processes"`` starts one worker process per partition (``ProcessCluster``): a worker
cannot be handed objects, so it builds the graph from ``source`` (``{"builder":
"module:function", "kwargs": {...}}`` or ``{"document": "graph.yaml"}``), which must build
the graph registered (their checksums are compared before any worker starts). ``on="ray"``
runs one actor per runtime node (``RayCluster``); without a ``source`` the registered graph
is sent to every actor by Ray's serializer, each partition's nodes running as copies there.

One named subgraph registered runs as itself (its nodes' ids without its name before them,
as a builder returns it). Reports (each partition's seconds, links and node counters) are
kept in :attr:`Cluster.reports` after the run, and the cluster it ran on in
:attr:`Cluster.last` (for ``query``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal

from arachne.distributed.channels import LinkOptions
from arachne.distributed.cluster import MemoryCluster
from arachne.distributed.documents import OutputTap
from arachne.distributed.placement import Placement
from arachne.distributed.processes import ClusterError, ProcessCluster, build_unit
from arachne.distributed.remote_logs import check_level
from arachne.durable.sqlite import SqliteStore
from arachne.model.subgraph import Subgraph

__all__ = ["PLACES", "Cluster"]

PLACES: Final = ("memory", "processes", "ray")
"""Where a :class:`Cluster` runs its partitions."""

Place = Literal["memory", "processes", "ray"]

STOP_GRACE: Final = 5.0
"""Seconds partitions stopped at a timeout have to end before their tasks are cancelled."""


class Cluster:
    """Where ``Runtime(cluster=...)`` runs its graph: split by ``placement`` (see the module).

    ``placement`` maps each partition's name to the node ids it runs (or is a
    ``Placement``). ``on`` is ``"memory"``, ``"processes"`` or ``"ray"``; ``source`` says how
    worker processes (and, if given, Ray actors) build the graph. ``options`` sets how links
    frame and pace; ``shards`` runs keyed nodes as one replica per owner; ``store`` (a
    folder) keeps every partition's checkpoints, taken every ``checkpoint_every`` seconds,
    and a run started again resumes from them (``fresh`` starts over); ``on_output`` gets
    what the output taps of a document source took; ``log_level`` has what the workers' or
    actors' ``arachne`` loggers say at that level logged again here (in memory the nodes log
    here already). On Ray, ``nodes`` groups partitions into runtime nodes (one actor each)
    and ``init`` are ``ray.init``'s arguments.
    """

    def __init__(
        self,
        placement: Placement | Mapping[str, Sequence[str]],
        *,
        on: Place = "memory",
        source: Mapping[str, Any] | None = None,
        options: LinkOptions | None = None,
        shards: Mapping[str, Mapping[str, Any]] | None = None,
        store: str | Path | None = None,
        checkpoint_every: float = 1.0,
        fresh: bool = False,
        nodes: Mapping[str, Sequence[str]] | None = None,
        init: Mapping[str, Any] | None = None,
        on_output: Callable[[str, str, Any], None] | None = None,
        log_level: int | str | None = None,
    ) -> None:
        if on not in PLACES:
            raise ValueError(f"on={on!r}: choose one of {', '.join(map(repr, PLACES))}")
        if on != "ray" and (nodes is not None or init is not None):
            given = "nodes" if nodes is not None else "init"
            raise ValueError(f"{given}= is for Ray: it goes with on='ray', not on={on!r}")
        if on == "processes" and source is None:
            raise ValueError(
                "on='processes': worker processes build the graph themselves, so give "
                "source={'builder': 'module:function', 'kwargs': {...}} (or {'document': "
                "'graph.yaml'}) building the graph you register; or run on='memory' or 'ray'"
            )
        if source is not None and "unit" in source:
            raise ValueError("source: give a builder or a document; the graph is registered")
        self.placement = placement if isinstance(placement, Placement) else Placement.of(placement)
        self.on: Place = on
        self.source = None if source is None else dict(source)
        self.options = options
        self.shards = None if shards is None else {k: dict(v) for k, v in shards.items()}
        self.store = None if store is None else Path(store)
        if self.store is not None and self.store.exists() and not self.store.is_dir():
            raise ValueError(f"store={str(store)!r} is a file; give a folder (one file per run)")
        self.checkpoint_every = checkpoint_every
        self.fresh = fresh
        self.nodes = nodes
        self.init = init
        self.on_output = on_output
        self.log_level = check_level(log_level)
        self.reports: dict[str, dict[str, Any]] = {}
        self.last: MemoryCluster | ProcessCluster | Any = None  # (a RayCluster on Ray)

    def run_graph(self, unit: Subgraph, timeout: float | None = None) -> dict[str, dict[str, Any]]:
        """Run ``unit`` split by the placement to its end; return each partition's report.

        Raises ``ClusterError`` when a partition fails or the run outlasts ``timeout``.
        """
        unit = self._prepared(unit)
        if self.on == "memory":
            self.reports = asyncio.run(self._in_memory(unit, timeout))
            return self.reports
        placed = self.last = self._placed(unit)
        self.reports = placed.run(timeout=timeout)
        return self.reports

    async def run_graph_async(
        self, unit: Subgraph, timeout: float | None = None
    ) -> dict[str, dict[str, Any]]:
        """Run ``unit`` as :meth:`run_graph` does, from a coroutine on the running loop.

        In memory the partitions run on this loop; otherwise the coordinator waits in a
        thread of its own. Cancelled, it stops the run first: the partitions stop (in
        memory) or their workers and actors are closed.
        """
        unit = self._prepared(unit)
        if self.on == "memory":
            self.reports = await self._in_memory(unit, timeout)
            return self.reports
        placed = self.last = self._placed(unit)
        waiting = asyncio.ensure_future(asyncio.to_thread(placed.run, timeout))
        try:
            self.reports = await asyncio.shield(waiting)
        except asyncio.CancelledError:
            placed.close()  # (the waiting thread then ends: its workers or actors are gone)
            with contextlib.suppress(Exception):
                await waiting
            raise
        return self.reports

    def _prepared(self, unit: Subgraph) -> Subgraph:
        """Check what was registered (and the source against it); return what is to run."""
        if not unit.members:
            raise ValueError("nothing is registered: register() a node or subgraph first")
        unit = _alone(unit)
        if self.source is not None:
            self._check_source(unit)
        return unit

    def _placed(self, unit: Subgraph) -> ProcessCluster | Any:
        """Return the cluster of worker processes or Ray actors that runs ``unit``."""
        common: dict[str, Any] = {
            "options": self.options,
            "shards": self.shards,
            "store": self.store,
            "checkpoint_every": self.checkpoint_every,
            "fresh": self.fresh,
            "on_output": self.on_output,
            "log_level": self.log_level,
        }
        if self.on == "processes":
            assert self.source is not None  # noqa: S101  (refused without one in __init__)
            return ProcessCluster(self.source, self.placement, **common)
        from arachne.distributed.ray_cluster import RayCluster

        source = self.source if self.source is not None else {"unit": unit}
        return RayCluster(source, self.placement, nodes=self.nodes, init=self.init, **common)

    def _check_source(self, unit: Subgraph) -> None:
        assert self.source is not None  # noqa: S101  (called with one)
        differs = graph_difference(build_unit(self.source), unit)
        if differs:
            raise ValueError(
                f"source {self.source!r} builds another graph than the one registered: "
                f"{differs}; the partitions would run it, not yours: make the builder return "
                "the registered graph"
            )

    async def _in_memory(self, unit: Subgraph, timeout: float | None) -> dict[str, dict[str, Any]]:
        if self.on_output is not None:  # (the taps of a document source print so)
            for node in unit.instances().values():
                if isinstance(node, OutputTap):
                    node.sink = self.on_output
        store = None
        if self.store is not None:
            self.store.mkdir(parents=True, exist_ok=True)
            store = SqliteStore(self.store / "partitions.db")
        try:
            cluster = self.last = MemoryCluster(
                unit,
                self.placement,
                options=self.options,
                shards=self.shards,
                store=store,
                checkpoint_every=self.checkpoint_every,
                fresh=self.fresh,
            )
            await _within(cluster, timeout)
            return cluster.reports()
        finally:
            if store is not None:
                store.close()


async def _within(cluster: MemoryCluster, timeout: float | None) -> None:
    """Run ``cluster``; past ``timeout`` stop every partition (nodes stop as in a stop).

    Raises ``ClusterError`` for the timeout, or what a failed partition raised.
    """
    run = asyncio.ensure_future(cluster.run())
    try:
        done, _ = await asyncio.wait({run}, timeout=timeout)
    except asyncio.CancelledError:  # (the caller was cancelled: the run stops with it)
        await _stop(cluster, run)
        raise
    if done:
        run.result()
        return
    await _stop(cluster, run)
    raise ClusterError(f"the partitions did not finish in {timeout} s")


async def _stop(cluster: MemoryCluster, run: asyncio.Future[None]) -> None:
    """Stop every partition of ``cluster`` (nodes stop as in a stop); wait for ``run``."""
    for execution in cluster.executions.values():
        execution.request_stop(drain=False)
    stopped, _ = await asyncio.wait({run}, timeout=STOP_GRACE)
    if not stopped:
        run.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await run


def _alone(unit: Subgraph) -> Subgraph:
    """Return the one subgraph ``unit`` holds, if that is all it holds; else ``unit``.

    A runtime that had one named subgraph registered holds it as a member (its nodes'
    ids then begin with its name); split, it runs as itself, as a builder returns it, so
    the placement and the source name its nodes alike.
    """
    if len(unit.members) == 1 and not unit.connections:
        (member,) = unit.members
        if isinstance(member.unit, Subgraph) and not unit.exposed_inputs:
            return member.unit
    return unit


def graph_difference(built: Subgraph, registered: Subgraph) -> str:
    """Say how the graph ``built`` differs from ``registered`` ("" when they agree).

    Nodes (their kinds, ports and policies) and links are compared, not the graphs' names
    nor what the nodes were constructed with (an output path, a count): those the builder's
    arguments decide.
    """
    shapes = []
    for sub in (built, registered):
        data = sub.to_graph().to_dict()
        nodes = {n["id"]: n for n in data["nodes"]}
        edges = {e["id"]: e for e in data["edges"]}
        shapes.append((nodes, edges))
    (nodes_b, edges_b), (nodes_r, edges_r) = shapes
    said = []
    for what, ours, theirs in (("node", nodes_b, nodes_r), ("link", edges_b, edges_r)):
        extra = sorted(set(ours) - set(theirs))
        missing = sorted(set(theirs) - set(ours))
        changed = sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k])
        if extra:
            said.append(f"it has {what}(s) {', '.join(extra)} the registered graph lacks")
        if missing:
            said.append(f"it lacks {what}(s) {', '.join(missing)}")
        if changed:
            said.append(f"its {what}(s) {', '.join(changed)} differ")
    return "; ".join(said)
