"""Partitions on Ray: one detached async actor per partition, frames carried as actor calls.

Ray places and starts the processes; Arachne runs its own loop in each actor and its own
link protocol between them, never Ray's restarts (``max_restarts=0``): a host that is lost
is reported by heartbeats and restarted by Arachne. :class:`RayTransport` hands a turn's
frames for one peer to one ``deliver`` call (fire and forget: the protocol resends what a
failed call lost), and a call refused because ``max_pending_calls`` is reached counts as a
lost frame, so the credits, not Ray's queues, bound what is in flight.

Frames between actors are serialized by Ray, inside the cluster. Ray is an optional extra:
``pip install 'arachne-runtime[ray]'``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arachne.distributed.channels import LinkOptions
from arachne.distributed.federation import Unavailable, federate
from arachne.distributed.host import LinkCapabilities, MeshHost
from arachne.distributed.placement import Placement
from arachne.distributed.processes import (
    ClusterError,
    OpenPartition,
    import_path,
    open_partition,
    partition_orders,
    planned,
)
from arachne.runtime.checkpointing import check_every
from arachne.runtime.execution import Execution
from arachne.runtime.state import ExecutionState

if TYPE_CHECKING:
    from arachne.distributed.frames import Frame

__all__ = ["MAX_PENDING_CALLS", "RayCluster", "RayTransport"]

MAX_PENDING_CALLS = 64
"""Calls one actor may have waiting on a peer's handle: a ceiling under the credits."""


def _ray() -> Any:
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
        return _ray().put(value)


class RayTransport:
    """Frames between partition actors: one ``deliver`` call per peer per turn of the loop.

    Lazy payloads go through Ray's object store: a handle carries the object's reference.
    """

    capabilities = LinkCapabilities()  # inside the Ray cluster; frames in memory
    object_store = _ObjectStore()

    def __init__(self, peers: Mapping[str, Any]) -> None:
        self.peers = dict(peers)
        self._deliver: dict[str, Callable[[str, Frame], None]] = {}
        self._queued: dict[tuple[str, str], list[Frame]] = {}
        self.refused = 0  # calls Ray refused (max_pending_calls): their frames count as lost
        self.on_broken: Callable[[Frame, Exception], None] | None = None  # (set by the host)

    def attach(
        self,
        host: str,
        deliver: Callable[[str, Frame], None],
        lost: Callable[[str, str], None] | None = None,
    ) -> None:
        """Deliver frames for ``host`` (a partition of this actor) to ``deliver``."""
        self._deliver[host] = deliver

    def send(self, source: str, dest: str, frame: Frame) -> None:
        """Queue ``frame`` for ``dest``; the turn's frames for it leave in one call."""
        if not self._queued:
            asyncio.get_running_loop().call_soon(self._flush)
        self._queued.setdefault((source, dest), []).append(frame)

    def _flush(self) -> None:
        queued, self._queued = self._queued, {}
        ray = _ray()
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
                handle.deliver.remote(source, frames)
            except ray.exceptions.PendingCallsLimitExceeded:
                self.refused += 1
            except Exception:  # (a frame Ray cannot serialize: find it, break its link)
                for frame in frames:
                    try:
                        handle.deliver.remote(source, [frame])
                    except ray.exceptions.PendingCallsLimitExceeded:
                        self.refused += 1
                    except Exception as exc:
                        if self.on_broken is not None:
                            self.on_broken(frame, exc)


class _PartitionHost:
    """What runs inside one partition's actor: its graph, its host and its execution."""

    def __init__(self, orders: Mapping[str, Any]) -> None:
        self.orders = dict(orders)
        self.host: MeshHost | None = None
        self.part: OpenPartition | None = None
        self.execution: Execution | None = None
        self.manifest = ""
        self._task: asyncio.Task[None] | None = None
        self._began = 0.0
        self.transport: RayTransport | None = None

    async def start(self, peers: Mapping[str, Any]) -> int:
        name = self.orders["partition"]
        transport = self.transport = RayTransport({k: v for k, v in peers.items() if k != name})
        part = self.part = open_partition(self.orders, transport)
        self.manifest, self.host = part.manifest, part.host
        self.execution = part.execution()
        part.host.start()
        self._began = time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return part.host.epoch

    async def peers(self, peers: Mapping[str, Any]) -> None:
        """Take the peers' handles again (one was restarted as a new actor)."""
        if self.transport is not None:
            name = self.orders["partition"]
            self.transport.peers = {k: v for k, v in peers.items() if k != name}

    async def _run(self) -> None:
        execution, host = self.execution, self.host
        if execution is None or host is None:
            raise ClusterError("the partition was not started")
        try:
            await execution.run()
            if execution.state is ExecutionState.COMPLETED:
                host.completed()
                if (
                    host.checkpointed or host.lends
                ):  # (a receiver may ask again: an item, a payload)
                    await host.settled()
        finally:
            host.send_replies()
            host.close()
            if self.part is not None:
                self.part.close()

    async def deliver(self, source: str, frames: Sequence[Frame]) -> None:
        host = self.host
        if host is not None:
            for frame in frames:
                host.deliver(source, frame)

    async def wait(self) -> dict[str, Any]:
        if self._task is None or self.host is None or self.execution is None:
            raise ClusterError("the partition was not started")
        await self._task
        assert self.part is not None  # noqa: S101  (set with the host by start)
        return self.part.report(self.execution, time.perf_counter() - self._began)

    def health(self) -> dict[str, Any]:
        if self.host is None:
            return {"manifest": self.manifest, "host": self.orders["partition"], "links": []}
        return {"manifest": self.manifest, **self.host.health(wall=True)}

    async def query(self) -> dict[str, Any]:
        return self.health()


class RayCluster:
    """Run a graph split by ``placement`` on Ray: one detached async actor per partition.

    ``source`` says how each actor builds the graph (``processes.build_unit``); ``init`` are
    the arguments of ``ray.init`` if Ray is not initialized yet (a local cluster; by default
    sized for this machine, without its dashboard). :meth:`run` returns each partition's
    report; or :meth:`start`, :meth:`query`, :meth:`kill`, :meth:`wait` and :meth:`close`.
    With ``store`` (a folder every actor can reach: this machine's disk for a local cluster,
    a shared filesystem otherwise) every partition is checkpointed there every
    ``checkpoint_every`` seconds, and a killed actor can be :meth:`restart` ed: a new actor
    resumes the partition from its checkpoint as its next incarnation.
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
    ) -> None:
        if not isinstance(placement, Placement):
            placement = Placement.of(placement)
        self.placement = placement
        self.source = dict(source)
        self.shards = {k: dict(v) for k, v in (shards or {}).items()}
        self.manifest = planned(self.source, placement, self.shards)[0].graph.checksum()
        self.options = options if options is not None else LinkOptions()
        self.init = dict(init or {})
        self.id = secrets.token_hex(4)
        self.store = None if store is None else Path(store).resolve()
        if self.store is not None:
            self.store.mkdir(parents=True, exist_ok=True)
        self.checkpoint_every = check_every(checkpoint_every)
        self.actors: dict[str, Any] = {}
        self.killed: dict[str, float] = {}
        self.incarnations: dict[str, int] = {}

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
        """Start one actor per partition (``ray.init`` first if needed) and let them meet."""
        ray = _ray()
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
        for name in self.placement.partitions:
            self.actors[name] = self._actor(name, 0)
        self._start(list(self.actors))

    def _actor(self, name: str, incarnation: int) -> Any:
        orders = partition_orders(self, name, incarnation=incarnation)
        return (
            _ray()
            .remote(_PartitionHost)
            .options(
                name=f"arachne-{self.id}-{name}-{incarnation}",
                lifetime="detached",
                max_restarts=0,
                max_concurrency=1000,
                max_pending_calls=MAX_PENDING_CALLS,
                num_cpus=0,
            )
            .remote(orders)
        )

    def _start(self, names: list[str]) -> None:
        ray = _ray()
        started = [self.actors[n].start.remote(self.actors) for n in names]
        for name, ref in zip(names, started, strict=True):
            try:
                self.incarnations[name] = int(ray.get(ref))
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None) or exc
                raise ClusterError(
                    f"partition {name!r} could not start: {type(cause).__name__}: {cause}"
                ) from exc

    def restart(self, name: str) -> None:
        """Start killed partition ``name`` again in a new actor, from its last checkpoint.

        It runs as the partition's next incarnation; every other actor is given its handle.
        """
        if name not in self.actors:
            raise KeyError(f"no partition {name!r}; the partitions are {', '.join(self.actors)}")
        if self.store is None:
            raise ClusterError(
                f"partition {name!r} cannot restart: RayCluster(..., store='folder') keeps "
                "the checkpoints a restarted partition resumes from"
            )
        if name not in self.killed:
            raise ClusterError(f"partition {name!r} is still running; kill() it first")
        self.actors[name] = self._actor(name, self.incarnations.get(name, 0) + 1)
        self._start([name])
        del self.killed[name]
        ray = _ray()
        ray.get([a.peers.remote(self.actors) for n, a in self.actors.items() if n != name])

    def wait(self, timeout: float | None = None) -> dict[str, dict[str, Any]]:
        """Wait for every partition's run to end; return their reports."""
        ray = _ray()
        names = list(self.actors)
        try:
            reports = ray.get([self.actors[n].wait.remote() for n in names], timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            raise ClusterError("the partitions did not finish in time") from None
        except ray.exceptions.RayError as exc:
            raise ClusterError(f"a partition failed: {exc}") from exc
        return dict(zip(names, reports, strict=True))

    def query(self, timeout: float = 1.0) -> dict[str, Any]:
        """Return the federated answer of every partition (an unreachable one unavailable)."""
        ray = _ray()
        asked = {name: actor.query.remote() for name, actor in self.actors.items()}
        deadline = time.monotonic() + timeout
        answers: dict[str, dict[str, Any] | Unavailable] = {}
        for name, ref in asked.items():
            if name in self.killed:
                answers[name] = Unavailable(name, self.killed[name], "its actor was killed")
                continue
            try:
                answers[name] = ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
            except ray.exceptions.GetTimeoutError:
                answers[name] = Unavailable(name, None, "no answer in time")
            except ray.exceptions.RayError as exc:
                answers[name] = Unavailable(name, None, f"its actor failed: {type(exc).__name__}")
        return federate(answers)

    def kill(self, name: str) -> None:
        """Kill partition ``name``'s actor (no restart: Arachne decides what comes next)."""
        actor = self.actors.get(name)
        if actor is None:
            raise KeyError(f"no partition {name!r}; the partitions are {', '.join(self.actors)}")
        _ray().kill(actor, no_restart=True)
        self.killed[name] = time.time()

    def close(self) -> None:
        """Kill every actor (they are detached: they would outlive the driver otherwise)."""
        ray = _ray()
        for actor in self.actors.values():
            try:
                ray.kill(actor, no_restart=True)
            except ray.exceptions.RayError:
                continue
        self.actors.clear()
