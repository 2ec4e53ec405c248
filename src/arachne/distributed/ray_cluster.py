"""Partitions on Ray: one detached async actor per runtime node, frames carried as actor calls.

A runtime node hosts one or more partitions (by default each partition is a node of its own)
on the actor's loop; partitions of one node hand frames to each other in memory. Ray places
and starts the processes; Arachne runs its own loop in each actor and its own link protocol
between them, never Ray's restarts (``max_restarts=0``): a node that is lost is reported by
heartbeats and restarted by Arachne. :class:`RayTransport` hands a turn's frames for one
peer to one ``deliver`` call (fire and forget: the protocol resends what a failed call
lost), and a call refused because ``max_pending_calls`` is reached counts as a lost frame,
so the credits, not Ray's queues, bound what is in flight. What the output taps of a graph
document take waits in its actor, bounded, until the driver takes it.

Frames between actors are serialized by Ray, inside the cluster. Ray is an optional extra:
``pip install 'arachne-runtime[ray]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arachne.distributed.channels import LinkOptions
from arachne.distributed.documents import OutputTap
from arachne.distributed.federation import Unavailable, federate
from arachne.distributed.host import LinkCapabilities
from arachne.distributed.moves import OwnershipMove
from arachne.distributed.partition_map import GroupRange, RouteAudit
from arachne.distributed.placement import Placement
from arachne.distributed.processes import (
    ClusterError,
    OpenPartition,
    import_path,
    move_op,
    open_partition,
    partition_orders,
    placed_move_target,
    planned,
)
from arachne.distributed.remote_logs import check_level, forward, relog
from arachne.runtime.checkpointing import check_every
from arachne.runtime.state import ExecutionState

if TYPE_CHECKING:
    from arachne.distributed.frames import Frame
    from arachne.durable.route_journal import RouteJournal

__all__ = ["MAX_PENDING_CALLS", "RayCluster", "RayTransport", "ray_module", "runtime_nodes"]

log = logging.getLogger("arachne.distributed")

MAX_PENDING_CALLS = 64
"""Calls one actor may have waiting on a peer's handle: a ceiling under the credits."""

OUTPUT_BOUND = 10_000
"""Rows the output taps of one actor keep for the driver before they wait for it."""

OUTPUT_LOOK = 0.02
"""Seconds between the driver's looks at what the output taps took."""


def ray_module() -> Any:
    """Return the ``ray`` module (``ImportError`` naming the extra to install if missing)."""
    # Ray would otherwise re-run `uv run` for its workers and upload the directory.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError as exc:  # pragma: no cover  (the dev environment has ray)
        raise ImportError(
            "running on Ray needs the ray extra: pip install 'arachne-runtime[ray]'"
        ) from exc
    return ray


class _ObjectStore:
    """Ray's object store, where lazy payloads go (``arachne.distributed.payloads``)."""

    def put(self, value: Any) -> Any:
        """Put ``value`` in the store; the reference frees it once every holder dropped it."""
        return ray_module().put(value)


class RayTransport:
    """Frames between runtime-node actors: one ``deliver`` call per peer per turn of the loop.

    Partitions of one actor hand frames to each other directly. Lazy payloads go through
    Ray's object store: a handle carries the object's reference.
    """

    capabilities = LinkCapabilities()  # inside the Ray cluster; frames in memory
    object_store = _ObjectStore()

    def __init__(self, peers: Mapping[str, Any]) -> None:
        self.peers = dict(peers)  # partition -> the handle of the actor hosting it
        self._deliver: dict[str, Callable[[str, Frame], None]] = {}
        self._broken: dict[str, Callable[[Frame, Exception], None]] = {}
        self._queued: dict[tuple[str, str], list[Frame]] = {}
        self.refused = 0  # calls Ray refused (max_pending_calls): their frames count as lost

    def attach(
        self,
        host: str,
        deliver: Callable[[str, Frame], None],
        lost: Callable[[str, str], None] | None = None,
    ) -> None:
        """Deliver frames for ``host`` (a partition of this actor) to ``deliver``."""
        self._deliver[host] = deliver

    def watch_broken(self, host: str, broken: Callable[[Frame, Exception], None]) -> None:
        """Tell ``broken(frame, error)`` of a frame from ``host`` Ray could not serialize."""
        self._broken[host] = broken

    def send(self, source: str, dest: str, frame: Frame) -> None:
        """Queue ``frame`` for ``dest``; the turn's frames for it leave in one call."""
        if not self._queued:
            asyncio.get_running_loop().call_soon(self._flush)
        self._queued.setdefault((source, dest), []).append(frame)

    def _flush(self) -> None:
        queued, self._queued = self._queued, {}
        ray = ray_module()
        for (source, dest), frames in queued.items():
            local = self._deliver.get(dest)
            if local is not None:  # (a partition of this same actor)
                for frame in frames:
                    local(source, frame)
                continue
            handle = self.peers.get(dest)
            if handle is None:
                continue
            try:
                handle.deliver.remote(source, dest, frames)
            except ray.exceptions.PendingCallsLimitExceeded:
                self.refused += 1
            except Exception:  # (a frame Ray cannot serialize: find it, break its link)
                for frame in frames:
                    try:
                        handle.deliver.remote(source, dest, [frame])
                    except ray.exceptions.PendingCallsLimitExceeded:
                        self.refused += 1
                    except Exception as exc:
                        broken = self._broken.get(source)
                        if broken is not None:
                            broken(frame, exc)


class _Outputs:
    """What the output taps of one actor took, until the driver takes it (bounded).

    Past ``bound`` rows a tap holds its input until the driver has taken them, so a driver
    that prints slowly holds the graph back instead of letting the rows pile up. Log records
    to forward wait here too: past ``bound`` of them the oldest go, counted.
    """

    def __init__(self, bound: int = OUTPUT_BOUND) -> None:
        self.rows: list[tuple[str, str, Any]] = []
        self.logs: deque[dict[str, Any]] = deque(maxlen=bound)
        self.dropped = 0  # log records that went for want of room
        self.bound = bound
        self._waiting: list[Callable[[], None]] = []  # (taps holding their input for room)

    def log(self, data: dict[str, Any]) -> None:
        """Keep a log record's data for the driver (the oldest goes past the bound)."""
        if len(self.logs) == self.logs.maxlen:
            self.dropped += 1
        self.logs.append(data)

    def put(self, node: str, port: str, value: Any) -> bool:
        """Keep a row; return whether the bound is reached (the tap then waits for room)."""
        self.rows.append((node, port, value))
        return len(self.rows) >= self.bound

    def when_room(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` once the driver has taken the rows kept."""
        self._waiting.append(wake)

    def unsent(self, node: str, port: str) -> list[Any]:
        """Return the values from ``node:port`` kept and not yet taken (a tap's checkpoint)."""
        return [value for n, p, value in self.rows if n == node and p == port]

    def take(self) -> list[tuple[str, str, Any]]:
        """Hand over every row kept so far; the taps waiting for room go on."""
        rows, self.rows = self.rows, []
        waiting, self._waiting = self._waiting, []
        for wake in waiting:
            wake()
        return rows

    def take_logs(self) -> tuple[list[dict[str, Any]], int]:
        """Hand over the log records kept so far, and how many went for want of room."""
        logs: list[dict[str, Any]] = []
        with contextlib.suppress(IndexError):  # (records may come from other threads meanwhile)
            while True:
                logs.append(self.logs.popleft())
        dropped, self.dropped = self.dropped, 0
        return logs, dropped


class _Partition:
    """One partition inside a runtime node's actor: its host, execution and running task."""

    def __init__(self, part: OpenPartition) -> None:
        self.part = part
        self.execution = part.execution()
        self.began = time.perf_counter()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        execution, host = self.execution, self.part.host
        try:
            await execution.run()
            if execution.state is ExecutionState.COMPLETED:
                host.completed()
                if host.checkpointed or host.lends:  # (a receiver may ask again: items, payloads)
                    await host.settled()
        finally:
            host.send_replies()
            host.close()
            self.part.close()

    def report(self) -> dict[str, Any]:
        return self.part.report(self.execution, time.perf_counter() - self.began)


class _RuntimeNode:
    """What runs inside one actor: a runtime node hosting one or more partitions."""

    def __init__(self, orders: Mapping[str, Mapping[str, Any]], taps: bool) -> None:
        self.orders = {name: dict(o) for name, o in orders.items()}  # partition -> its orders
        self.partitions: dict[str, _Partition] = {}
        self.transport: RayTransport | None = None
        self.outputs = _Outputs()
        self.taps = taps
        level = next(iter(self.orders.values()), {}).get("log_level")
        if level is not None:  # (the driver logs what the arachne loggers say here)
            forward(self.outputs.log, level)

    async def start(self, peers: Mapping[str, Any]) -> dict[str, int]:
        """Open and start every partition; return each one's incarnation."""
        transport = self.transport = RayTransport(peers)
        opened: list[OpenPartition] = []
        try:
            for orders in self.orders.values():
                opened.append(open_partition(orders, transport))
        except BaseException:
            for part in opened:  # (their stores are open: close them before failing)
                part.close()
            raise
        for part in opened:
            if self.taps:
                for node in part.instances.values():
                    if isinstance(node, OutputTap):
                        node.buffer = self.outputs
            part.host.start()
            self.partitions[part.host.name] = _Partition(part)
        return {name: p.part.host.epoch for name, p in self.partitions.items()}

    async def peers(self, peers: Mapping[str, Any]) -> None:
        """Take the peers' handles again (a runtime node was restarted as a new actor)."""
        if self.transport is not None:
            self.transport.peers = dict(peers)

    async def deliver(self, source: str, dest: str, frames: Sequence[Frame]) -> None:
        partition = self.partitions.get(dest)
        if partition is not None:
            deliver = partition.part.host.deliver
            for frame in frames:
                deliver(source, frame)

    async def move_step(self, partition: str, step: Mapping[str, Any]) -> Any:
        """Take one step of an ownership move in ``partition`` (``processes.move_op``)."""
        running = self.partitions.get(partition)
        if running is None:
            raise ClusterError(f"partition {partition!r} does not run in this runtime node")
        return move_op(step, running.part.instances, running.execution)

    async def take_outputs(self) -> dict[str, Any]:
        logs, dropped = self.outputs.take_logs()
        return {"rows": self.outputs.take(), "logs": logs, "dropped": dropped}

    async def wait(self) -> dict[str, dict[str, Any]]:
        if not self.partitions:
            raise ClusterError("the runtime node was not started")
        await asyncio.gather(*(p.task for p in self.partitions.values()))
        return {name: p.report() for name, p in self.partitions.items()}

    async def query(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"manifest": p.part.manifest, **p.part.host.health(wall=True)}
            for name, p in self.partitions.items()
        }


class RayCluster:
    """Run a graph split by ``placement`` on Ray: one detached async actor per runtime node.

    ``source`` says how each actor builds the graph (``processes.build_unit``). ``nodes``
    groups the partitions into runtime nodes (a name to the partitions it hosts), one actor
    each; by default every partition is a runtime node of its own, named as it is. The
    partitions of one node run on one loop and hand frames to each other in memory. ``init``
    are the arguments of ``ray.init`` if Ray is not initialized yet (a local cluster; by
    default sized for this machine, without its dashboard; :meth:`close` shuts down a Ray
    it started). ``on_output(node, port, value)``
    gets what the actors' output taps took (a document built with ``"taps": true``), in the
    driver's thread, while :meth:`wait` waits. :meth:`run` returns each partition's report;
    or :meth:`start`, :meth:`query`, :meth:`kill`, :meth:`wait` and :meth:`close`. With
    ``store`` (a folder every actor can reach: this machine's disk for a local cluster, a
    shared filesystem otherwise) every partition is checkpointed there every
    ``checkpoint_every`` seconds, and a killed runtime node can be :meth:`restart` ed: a new
    actor resumes each of its partitions from its checkpoint as its next incarnation;
    ``fresh`` starts every partition's run over instead of resuming it. A node sharded
    with ``shards`` can have a key-group range :meth:`move` d between its owners.
    """

    def __init__(
        self,
        source: Mapping[str, Any],
        placement: Placement | Mapping[str, Sequence[str]],
        *,
        options: LinkOptions | None = None,
        init: Mapping[str, Any] | None = None,
        shards: Mapping[str, Mapping[str, Any]] | None = None,
        store: str | Path | None = None,
        checkpoint_every: float = 1.0,
        fresh: bool = False,
        nodes: Mapping[str, Sequence[str]] | None = None,
        on_output: Callable[[str, str, Any], None] | None = None,
        log_level: int | str | None = None,
    ) -> None:
        if not isinstance(placement, Placement):
            placement = Placement.of(placement)
        self.placement = placement
        self.source = dict(source)
        if "unit" in self.source:
            _check_sendable(self.source["unit"])
        self.shards = {k: dict(v) for k, v in (shards or {}).items()}
        self.manifest = planned(self.source, placement, self.shards)[0].graph.checksum()
        self.options = options if options is not None else LinkOptions()
        self.init = dict(init or {})
        self.id = secrets.token_hex(4)
        self.store = None if store is None else Path(store).resolve()
        if self.store is not None:
            self.store.mkdir(parents=True, exist_ok=True)
        self.checkpoint_every = check_every(checkpoint_every)
        self.fresh = fresh
        self.log_level = check_level(log_level)
        self.nodes = runtime_nodes(nodes, list(placement.partitions))
        self.node_of = {part: node for node, parts in self.nodes.items() for part in parts}
        self.on_output = on_output
        self.actors: dict[str, Any] = {}  # runtime node -> its actor
        self.killed: dict[str, float] = {}  # partition -> when its node's actor was killed
        self.incarnations: dict[str, int] = {}  # partition -> its incarnation
        self._started_ray = False  # (Ray was started by this cluster: close shuts it down)
        self.audits: dict[str, RouteAudit] = {}  # sharded node -> its route changes

    def __enter__(self) -> RayCluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def run(self, timeout: float | None = None) -> dict[str, dict[str, Any]]:
        """Start the actors, run the graph to its end, return each partition's report."""
        try:
            self.start()
            return self.wait(timeout)
        finally:
            self.close()

    def start(self) -> None:
        """Start one actor per runtime node (``ray.init`` first if needed) and let them meet."""
        if self.actors:
            raise ClusterError("the cluster has started already; close() it first")
        ray = ray_module()
        if not ray.is_initialized():
            env_vars = {"PYTHONPATH": import_path(os.environ.get("PYTHONPATH"))}
            ray.init(
                **{
                    "runtime_env": {"env_vars": env_vars},
                    "include_dashboard": False,
                    "log_to_driver": False,
                    "namespace": "arachne",
                    **self.init,
                },
            )
            self._started_ray = True
        for node in self.nodes:
            self.actors[node] = self._actor(node, fresh=self.fresh)
        self._start(list(self.nodes))

    def _actor(self, node: str, *, fresh: bool = False) -> Any:
        orders = {
            part: partition_orders(
                self, part, incarnation=self.incarnations.get(part, -1) + 1, fresh=fresh
            )
            for part in self.nodes[node]
        }
        incarnation = max(o["incarnation"] for o in orders.values())
        return (
            ray_module()
            .remote(_RuntimeNode)
            .options(
                name=f"arachne-{self.id}-{node}-{incarnation}",
                lifetime="detached",
                max_restarts=0,
                max_concurrency=1000,
                max_pending_calls=MAX_PENDING_CALLS,
                num_cpus=0,
            )
            .remote(orders, self.on_output is not None)
        )

    def _handles(self) -> dict[str, Any]:
        """Return each partition's actor handle (the actor of the runtime node hosting it)."""
        return {part: self.actors[node] for part, node in self.node_of.items()}

    def _start(self, nodes: list[str]) -> None:
        ray = ray_module()
        handles = self._handles()
        started = [self.actors[n].start.remote(handles) for n in nodes]
        for node, ref in zip(nodes, started, strict=True):
            try:
                self.incarnations.update({k: int(v) for k, v in ray.get(ref).items()})
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None) or exc
                raise ClusterError(
                    f"runtime node {node!r} could not start: {type(cause).__name__}: {cause}"
                ) from exc

    def _node(self, name: str) -> str:
        """Return the runtime node ``name`` names: itself, or the one hosting partition ``name``."""
        if name in self.nodes:
            return name
        if name in self.node_of:
            return self.node_of[name]
        raise KeyError(
            f"no runtime node or partition {name!r}; the nodes are {', '.join(self.nodes)} "
            f"and the partitions {', '.join(self.node_of)}"
        )

    def restart(self, name: str) -> None:
        """Start killed runtime node ``name`` (or the one hosting partition ``name``) again.

        A new actor resumes each of its partitions from its last checkpoint, as the
        partition's next incarnation; every other actor is given its handle.
        """
        node = self._node(name)
        if self.store is None:
            raise ClusterError(
                f"runtime node {node!r} cannot restart: RayCluster(..., store='folder') keeps "
                "the checkpoints a restarted partition resumes from"
            )
        if not all(part in self.killed for part in self.nodes[node]):
            raise ClusterError(
                f"runtime node {node!r} was not killed; kill() it first (one that died on "
                "its own too: kill() marks it so)"
            )
        self.actors[node] = self._actor(node)
        try:
            self._start([node])
        except ClusterError:
            ray_module().kill(self.actors[node], no_restart=True)  # (a retry names anew)
            for part in self.nodes[node]:
                self.incarnations[part] = self.incarnations.get(part, -1) + 1
            raise
        for part in self.nodes[node]:
            del self.killed[part]
        handles = self._handles()
        ray = ray_module()
        told = [a.peers.remote(handles) for n, a in self.actors.items() if self._alive(n)]
        try:
            ray.get(told)
        except ray.exceptions.RayError as exc:
            raise ClusterError(
                f"runtime node {node!r} restarted, but a peer could not be told: {exc}"
            ) from exc

    def _alive(self, node: str) -> bool:
        """Return whether runtime node ``node``'s actor runs (started and not killed)."""
        return node in self.actors and not all(p in self.killed for p in self.nodes[node])

    def wait(self, timeout: float | None = None) -> dict[str, dict[str, Any]]:
        """Wait for every partition's run to end; return their reports (by partition).

        With ``on_output``, what the taps took is handed to it meanwhile.
        """
        if not self.actors:
            raise ClusterError("the cluster has not started; call start() first")
        ray = ray_module()
        deadline = None if timeout is None else time.monotonic() + timeout
        nodes = list(self.actors)
        waited = [self.actors[n].wait.remote() for n in nodes]
        try:
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                polled = self.on_output is not None or self.log_level is not None
                look = min(OUTPUT_LOOK, left or OUTPUT_LOOK) if polled else left
                ready, _ = ray.wait(waited, num_returns=len(waited), timeout=look)
                self._take_outputs(nodes, deadline)
                if len(ready) == len(waited):
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise ClusterError("the partitions did not finish in time")
            answers = ray.get(waited)
        except ray.exceptions.RayError as exc:
            raise ClusterError(f"a runtime node failed: {exc}") from exc
        return {part: report for answer in answers for part, report in answer.items()}

    def _take_outputs(self, nodes: list[str], deadline: float | None) -> None:
        if self.on_output is None and self.log_level is None:
            return
        ray = ray_module()
        alive = [n for n in nodes if self._alive(n)]
        taken = [self.actors[n].take_outputs.remote() for n in alive]
        left = None if deadline is None else max(OUTPUT_LOOK, deadline - time.monotonic())
        try:
            answers = ray.get(taken, timeout=left)
        except ray.exceptions.GetTimeoutError:
            raise ClusterError("the partitions did not finish in time") from None
        for name, answer in zip(alive, answers, strict=True):
            for data in answer["logs"]:
                relog(str(data.get("execution_id") or name), data)
            if answer["dropped"]:
                log.warning(
                    "runtime node %s: %d log records went for want of room", name, answer["dropped"]
                )
            if self.on_output is not None:
                for node, port, value in answer["rows"]:
                    self.on_output(node, port, value)

    def move(
        self,
        node: str,
        span: GroupRange,
        to: str,
        *,
        journal: RouteJournal | None = None,
        poll: float = 0.01,
        crash: tuple[str, str] | None = None,
        timeout: float = 30.0,
    ) -> OwnershipMove:
        """Return the move of key-group range ``span`` of sharded ``node`` to owner ``to``.

        Run it (``asyncio.run(move.run())``) once the cluster has started; each step is an
        actor call to the runtime node hosting the router or replica it acts on
        (``moves.OwnershipMove``; ``journal`` lets a new controller resume a move left half
        done). A step not answered within ``timeout`` seconds fails with ``ClusterError``.
        """
        ray = ray_module()

        def ask(partition: str, step: dict[str, Any]) -> Any:
            actor = self.actors.get(self.node_of[partition])
            if actor is None or partition in self.killed:
                raise ClusterError(f"partition {partition!r} is not running")
            try:
                return ray.get(actor.move_step.remote(partition, step), timeout=timeout)
            except ray.exceptions.GetTimeoutError:
                raise ClusterError(
                    f"partition {partition!r} did not answer move step {step['op']!r} in time"
                ) from None
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None) or exc
                raise ClusterError(
                    f"partition {partition!r}: move step {step['op']!r} failed: "
                    f"{type(cause).__name__}: {cause}"
                ) from exc

        target = placed_move_target(self, node, ask)
        audit = self.audits.setdefault(node, RouteAudit())
        return OwnershipMove(target, span, to, audit=audit, journal=journal, poll=poll, crash=crash)

    def query(self, timeout: float = 1.0) -> dict[str, Any]:
        """Return the federated answer of every partition (an unreachable one unavailable).

        After :meth:`close` the actors are gone: the reports :meth:`wait` returned have each
        partition's final links and health.
        """
        if not self.actors:
            raise ClusterError(
                "the cluster is not running (not started, or closed): query() asks its "
                "actors; after a run, its reports have each partition's links and health"
            )
        ray = ray_module()
        asked = {
            node: actor.query.remote() for node, actor in self.actors.items() if self._alive(node)
        }
        deadline = time.monotonic() + timeout
        answers: dict[str, dict[str, Any] | Unavailable] = {}
        for node, parts in self.nodes.items():
            ref = asked.get(node)
            got: dict[str, Any] | Unavailable
            if ref is None:
                got = Unavailable(node, self.killed.get(parts[0]), "its actor was killed")
            else:
                try:
                    got = ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
                except ray.exceptions.GetTimeoutError:
                    got = Unavailable(node, None, "no answer in time")
                except ray.exceptions.RayError as exc:
                    got = Unavailable(node, None, f"its actor failed: {type(exc).__name__}")
            for part in parts:
                if isinstance(got, Unavailable):
                    answers[part] = Unavailable(part, got.since, got.reason)
                else:
                    answers[part] = got.get(part) or Unavailable(part, None, "not started")
        return federate(answers)

    def kill(self, name: str) -> None:
        """Kill runtime node ``name``'s actor (or the one hosting partition ``name``).

        Every partition it hosts stops; no restart follows: Arachne decides what comes next.
        """
        node = self._node(name)
        actor = self.actors.get(node)
        if actor is None:
            raise ClusterError(f"runtime node {node!r} is not running; start() the cluster")
        ray_module().kill(actor, no_restart=True)
        now = time.time()
        for part in self.nodes[node]:
            self.killed[part] = now

    def close(self) -> None:
        """Kill every actor (they are detached: they would outlive the driver otherwise).

        A Ray this cluster started (it was not initialized before) is shut down too.
        """
        ray = ray_module()
        for actor in self.actors.values():
            try:
                ray.kill(actor, no_restart=True)
            except ray.exceptions.RayError:
                continue
        self.actors.clear()
        if self._started_ray:
            self._started_ray = False
            ray.shutdown()


def _check_sendable(unit: object) -> None:
    """Raise ``ClusterError`` if Ray's serializer cannot carry ``unit`` to the actors."""
    try:
        ray_module().cloudpickle.dumps(unit)
    except Exception as exc:
        raise ClusterError(
            f"the graph could not be sent to Ray: {type(exc).__name__}: {exc}; a node holds "
            "something with no serialized form (a lock, an open file, a connection, a "
            "generator): make it in on_start, or give the cluster a source "
            "({'builder': 'module:function'}) so each actor builds the graph itself"
        ) from exc


def runtime_nodes(
    nodes: Mapping[str, Sequence[str]] | None, partitions: Sequence[str]
) -> dict[str, list[str]]:
    """Check ``nodes`` (a runtime node's name to the partitions it hosts) against the plan.

    Each partition goes in exactly one node; without ``nodes``, each is a node of its own.
    """
    if nodes is None:
        return {part: [part] for part in partitions}
    if not isinstance(nodes, Mapping) or not nodes:
        raise ValueError(
            f"nodes must map each runtime node's name to its partitions, got {nodes!r}; "
            "e.g. nodes={'n1': ['a', 'b'], 'n2': ['c']}"
        )
    checked: dict[str, list[str]] = {}
    placed: dict[str, str] = {}
    for node, parts in nodes.items():
        if not isinstance(node, str) or not node:
            raise ValueError(f"nodes: a runtime node's name must be a non-empty str, got {node!r}")
        if isinstance(parts, str) or not isinstance(parts, Sequence) or not parts:
            raise ValueError(f"nodes[{node!r}]: give a non-empty list of partitions, got {parts!r}")
        for part in parts:
            if part not in partitions:
                raise ValueError(
                    f"nodes[{node!r}]: no partition {part!r}; the placement's partitions are "
                    f"{', '.join(partitions)}"
                )
            if part in placed:
                raise ValueError(
                    f"nodes: partition {part!r} is in both {placed[part]!r} and {node!r}; "
                    "give each partition one runtime node"
                )
            placed[part] = node
        checked[node] = list(parts)
    missing = [part for part in partitions if part not in placed]
    if missing:
        raise ValueError(
            f"nodes: partition(s) {', '.join(missing)} are in no runtime node; add each to one"
        )
    return checked
