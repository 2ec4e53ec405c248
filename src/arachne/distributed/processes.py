"""A graph run partitioned across processes on this machine, joined by TCP mesh links.

:class:`ProcessCluster` is the coordinator: it starts one worker process per partition
(``python -m arachne.distributed.worker``), tells each what to build, collects the port
each listens on, hands every worker the table of peers, and waits for them to finish. The
graph is built in every worker from the same source: a ``module:function`` that returns a
``Subgraph`` (called with ``kwargs``), or a graph document. Every worker splits it by the same
placement, so they agree on the channels without being told.

Between coordinator and worker, one JSON object per line: the worker's orders on its
standard input (with the cluster's token, which never appears on a command line), then the
peers' table (sent again whenever a peer restarted on a new port); on its standard output
``{"listening": port}`` and finally ``{"done": ...}`` with its links' counters, or
``{"failed": "..."}``.

With a ``store`` folder every partition's run keeps its checkpoints in its own SQLite file
there (``<partition>.db``), and a worker that was killed can be :meth:`ProcessCluster.restart`
ed: the new process resumes the partition from its last checkpoint as its next incarnation,
and its peers, told its new port, start a new epoch on the links they share with it.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import logging
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from arachne.distributed.channels import LinkOptions
from arachne.distributed.documents import document_unit
from arachne.distributed.federation import Unavailable, federate
from arachne.distributed.host import MeshHost, Transport
from arachne.distributed.moves import OwnershipMove, keyed_state
from arachne.distributed.partition_map import GroupRange, PartitionMap, RouteAudit
from arachne.distributed.placement import (
    KEY_GROUPS,
    PartitionPlan,
    Placement,
    key_group,
    partition_graph,
    plan,
)
from arachne.distributed.remote_logs import check_level, relog
from arachne.distributed.sharding import Flip, KeyRouter, sharded_placement
from arachne.durable.route_journal import RouteJournal
from arachne.durable.runs import Run
from arachne.durable.sqlite import SqliteStore
from arachne.model.errors import ExecutionError
from arachne.model.graph import Graph
from arachne.model.node import Node
from arachne.model.subgraph import Subgraph
from arachne.runtime.checkpointing import check_every
from arachne.runtime.execution import Execution
from arachne.runtime.state import ExecutionState

__all__ = [
    "ClusterError",
    "OpenPartition",
    "PlacedRun",
    "ProcessCluster",
    "RemoteMove",
    "build_unit",
    "import_path",
    "move_op",
    "open_partition",
    "partition_orders",
    "placed_move_target",
    "planned",
]

log = logging.getLogger("arachne.distributed")

START_TIMEOUT = 60.0
"""Seconds a worker may take to start listening."""

WAIT_LOOK = 0.02
"""Seconds between looks at the workers while waiting for them to finish."""


class ClusterError(RuntimeError):
    """A worker could not start, failed, or ended without saying how."""


def build_unit(source: Mapping[str, Any]) -> Subgraph:
    """Build the graph ``source`` names.

    ``{"builder": "pkg.mod:fn", "kwargs": {...}}`` calls a function that returns a
    ``Subgraph``; ``{"document": "path.yaml"}`` builds a graph document, with ``"taps":
    true`` an ``OutputTap`` on each output it leaves unconnected; ``{"unit": subgraph}`` (a
    graph Ray carried to an actor) returns a copy of it, node instances and all.
    """
    unknown = set(source) - {"document", "taps", "builder", "kwargs", "unit"}
    if unknown:
        raise ValueError(
            f"source: unknown key(s) {', '.join(map(repr, sorted(unknown)))}; give "
            "{'builder': 'module:function', 'kwargs': {...}} or {'document': 'graph.yaml'}"
        )
    if "unit" in source:  # (a graph handed over whole, as Ray does: each build a copy)
        unit = source["unit"]
        if not isinstance(unit, Subgraph):
            raise TypeError(f"source['unit'] must be a Subgraph, got {type(unit).__name__}")
        return copy.deepcopy(unit)
    if "document" in source:
        return document_unit(Path(source["document"]), taps=bool(source.get("taps", False)))
    target = source.get("builder")
    if not isinstance(target, str) or ":" not in target:
        raise ValueError(f"builder must be 'module:function' returning a Subgraph, got {target!r}")
    module_name, _, function = target.partition(":")
    try:
        build = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise ValueError(
            f"builder {target!r}: {exc}; the module must be importable where the graph is "
            "built (run from its directory, or add it to PYTHONPATH)"
        ) from exc
    try:
        made = build(**source.get("kwargs", {}))
    except TypeError as exc:
        raise ValueError(f"builder {target!r} refused its kwargs: {exc}") from exc
    if not isinstance(made, Subgraph):
        raise TypeError(f"{target} returned {type(made).__name__}, not a Subgraph")
    return made


def import_path(given: str | None = None) -> str:
    """Return a ``PYTHONPATH`` with this process's own import directories first.

    So a worker imports a builder the coordinator could (a module beside the script, a
    project's ``src``); the interpreter's own directories are left to the interpreter.
    """
    own = [str(Path(p).resolve()) for p in sys.path if p and Path(p).is_dir()]
    prefixes = {str(Path(sys.prefix).resolve()), str(Path(sys.base_prefix).resolve())}
    own = [p for p in own if not any(p.startswith(prefix) for prefix in prefixes)]
    entries = [*own, *(given.split(os.pathsep) if given else [])]
    return os.pathsep.join(dict.fromkeys(e for e in entries if e))


def planned(
    source: Mapping[str, Any],
    placement: Placement,
    shards: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[PartitionPlan, dict[str, Node]]:
    """Build the graph ``source`` names, shard it, split it: what every worker does alike."""
    sub = build_unit(source)
    graph, instances = sub.to_graph(), sub.instances()
    if shards:

        def make(node_id: str) -> Node:  # (a replica built afresh, like the first)
            return build_unit(source).instances()[node_id]

        graph, instances, placement = sharded_placement(graph, instances, placement, shards, make)
    return plan(graph, placement), instances


class PlacedRun(Protocol):
    """What a cluster knows of the run it places: every partition is told the same."""

    source: dict[str, Any]
    placement: Placement
    options: LinkOptions
    shards: dict[str, dict[str, Any]]
    store: Path | None
    checkpoint_every: float
    log_level: int | None


def partition_orders(
    run: PlacedRun, partition: str, *, incarnation: int = 0, fresh: bool = False
) -> dict[str, Any]:
    """Return what a worker (or actor) is told to build and run: plain data, JSON-ready."""
    placement, store = run.placement, run.store
    return {
        "source": dict(run.source),
        "placement": {k: list(v) for k, v in placement.partitions.items()},
        "default": placement.default,
        "partition": partition,
        "options": asdict(run.options),
        "shards": {k: dict(v) for k, v in run.shards.items()},
        "store": None if store is None else str(store / f"{partition}.db"),
        "checkpoint_every": run.checkpoint_every,
        "incarnation": incarnation,
        "fresh": fresh,
        "log_level": run.log_level,
    }


@dataclass(slots=True)
class OpenPartition:
    """A partition built from its orders: its host, graph, node instances and manifest hash.

    :meth:`open_store` gives its run checkpoints in a SQLite file; :meth:`close` closes it
    once the run is over.
    """

    host: MeshHost
    graph: Graph
    instances: dict[str, Node]
    manifest: str
    checkpoint_every: float = 1.0
    _opened: SqliteStore | None = None
    _run: Run | None = None

    def open_store(self, path: str, checkpoint_every: float, fresh: bool) -> None:
        """Keep the run's checkpoints in the SQLite file ``path`` (resuming what it holds).

        A run resumed runs as its host's next incarnation: one more than it was resumed
        before, so a whole cluster started again over its stores runs under new epochs.
        """
        opened = self._opened = SqliteStore(path)
        run = self._run = opened.open_run(
            self.host.name, checksum=self.graph.checksum(), fresh=fresh
        )
        self.checkpoint_every = checkpoint_every
        if run.resumes() > self.host.epoch:
            self.host.reincarnate(run.resumes())

    def execution(self) -> Execution:
        """Return the partition's execution (not started), resuming its checkpointed run."""
        return Execution(
            self.graph,
            self.instances,
            execution_id=self.host.name,
            checkpoints=self._run,
            checkpoint_every=self.checkpoint_every,
        )

    def close(self) -> None:
        """Close the partition's store (after its run)."""
        if self._opened is not None:
            self._opened.close()
            self._opened = None

    def report(self, execution: Execution, seconds: float) -> dict[str, Any]:
        """Return what a finished partition tells its coordinator."""
        return {
            "seconds": seconds,
            "links": self.host.links(),
            "health": {"manifest": self.manifest, **self.host.health(wall=True)},
            "nodes": {nid: s.emitted for nid, s in execution.stats().nodes.items()},
            "skipped": {nid: s.skipped for nid, s in execution.stats().nodes.items() if s.skipped},
            "resumed": None if execution.checkpointer is None else execution.checkpointer.restored,
        }


def open_partition(orders: Mapping[str, Any], transport: Transport) -> OpenPartition:
    """Build, shard and split the graph the orders name; return this partition of it."""
    name = orders["partition"]
    placement = Placement.of(orders["placement"], default=orders.get("default"))
    split, built = planned(orders["source"], placement, orders.get("shards"))
    store = orders.get("store")
    host = MeshHost(
        name,
        transport,
        options=LinkOptions(**orders["options"]),
        epoch=int(orders.get("incarnation", 0)),
        checkpointed=store is not None,
    )
    graph, instances = partition_graph(split, name, built, host)
    part = OpenPartition(host, graph, instances, split.graph.checksum())
    if store is not None:
        part.open_store(
            store, float(orders.get("checkpoint_every", 1.0)), bool(orders.get("fresh", False))
        )
    return part


def move_op(step: Mapping[str, Any], instances: Mapping[str, Node], execution: Execution) -> Any:
    """Take one step of an ownership move in this partition; return its JSON result.

    ``step`` names the ``op`` (``pmap``, ``hold``, ``held`` and ``flip`` on a router;
    ``received``, ``snapshot``, ``load`` and ``drop`` on a replica), the ``node`` it acts
    on, and its ``span`` (``[start, stop]``), ``state`` or ``pmap``.
    """
    op, node_id = step.get("op"), step.get("node")
    node = instances.get(node_id) if isinstance(node_id, str) else None
    if node is None:
        raise ValueError(f"no node {node_id!r} in this partition")
    span = GroupRange(*step["span"]) if "span" in step else None
    rn = execution.wiring.nodes.get(str(node_id))
    if op == "state" and rn is not None:
        checkpointer = execution.checkpointer
        last = None if checkpointer is None else checkpointer.last
        completed = execution.state is ExecutionState.COMPLETED
        ended = rn.finished or rn.finishing  # (its input ended; not a crashed run's)
        return [rn.stats().received, rn.busy, ended, last, completed]
    if isinstance(node, KeyRouter):
        if op == "pmap":
            return node.pmap.plain()
        if op == "hold" and span is not None:
            return node.hold(span)
        if op == "held":
            return node.held
        if op == "released":
            return node.released
        if op == "flipped_at":
            return node.flipped_at
        if op == "flip":
            pmap = PartitionMap.from_plain(step.get("pmap"))
            at = step.get("at")
            node.offer(pmap, None if at is None else int(at))
            if not execution.done:
                with contextlib.suppress(ExecutionError):  # (its input ended: it finishes so)
                    execution.inject(str(node_id), "in", Flip(pmap))
            return None
    elif op in ("snapshot", "drop") and span is not None:
        groups = int(step.get("groups", KEY_GROUPS))

        def owns(key: Any) -> bool:
            return key_group(key, groups) in span

        state = keyed_state(node)
        return state.snapshot_keys(owns) if op == "snapshot" else state.drop_keys(owns)
    elif op == "load" and isinstance(step.get("state"), dict):
        keyed_state(node).load_keys(step["state"])
        return None
    raise ValueError(f"no move step {op!r} for node {node_id!r}")


class ProcessCluster:
    """Run a graph split by ``placement`` in one worker process per partition.

    ``source`` says how every worker builds the graph (see :func:`build_unit`); ``options``
    sets how links frame and pace; ``on_output(node, port, value)`` gets what the workers'
    output taps took (a document built with ``"taps": true``), from the workers' threads, one
    call at a time. :meth:`run` starts the workers and returns each
    partition's report when all have finished; or :meth:`start`, then :meth:`query` (the
    federated answer of every host) and :meth:`kill` while it runs, and :meth:`wait`. Use it
    as a context manager (or call :meth:`close`) so no worker outlives it. With ``store`` (a
    folder), every partition is checkpointed every ``checkpoint_every`` seconds, and a
    killed worker can be :meth:`restart` ed from its checkpoint; ``fresh`` starts every
    partition's run over instead of resuming it. With ``log_level`` (``"INFO"``, or a level
    number) what the workers' ``arachne`` loggers say at that level is logged again here, by
    the same loggers, each message led by its partition's name; without it a worker's
    warnings go to its standard error as Python prints them.
    """

    def __init__(
        self,
        source: Mapping[str, Any],
        placement: Placement | Mapping[str, Sequence[str]],
        *,
        options: LinkOptions | None = None,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        on_output: Callable[[str, str, Any], None] | None = None,
        shards: Mapping[str, Mapping[str, Any]] | None = None,
        store: str | Path | None = None,
        checkpoint_every: float = 1.0,
        fresh: bool = False,
        log_level: int | str | None = None,
    ) -> None:
        if "unit" in source:
            raise ValueError(
                "source: worker processes build the graph themselves and cannot be handed a "
                "graph object; give {'builder': 'module:function', 'kwargs': {...}} or "
                "{'document': 'graph.yaml'}"
            )
        if not isinstance(placement, Placement):
            placement = Placement.of(placement)
        self.placement = placement
        self.on_output = on_output
        self.source = dict(source)
        self.shards = {k: dict(v) for k, v in (shards or {}).items()}
        self.manifest = planned(self.source, placement, self.shards)[0].graph.checksum()
        self.options = options if options is not None else LinkOptions()
        self.python = python
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = import_path(self.env.get("PYTHONPATH"))
        self.token = secrets.token_hex(16)
        self.store = None if store is None else Path(store)
        if self.store is not None:
            self.store.mkdir(parents=True, exist_ok=True)
        self.checkpoint_every = check_every(checkpoint_every)
        self.fresh = fresh
        self.log_level = check_level(log_level)
        self.incarnations: dict[str, int] = {}
        self.audits: dict[str, RouteAudit] = {}  # sharded node -> its route changes
        self._steps = 0  # move steps asked of workers (each a number of its own)
        self.ports: dict[str, int] = {}
        self.workers: dict[str, _Worker] = {}
        self._asked = 0
        self._printing = threading.Lock()

    def __enter__(self) -> ProcessCluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def run(self, timeout: float | None = None) -> dict[str, dict[str, Any]]:
        """Start the workers, run the graph to its end, return each partition's report."""
        try:
            self.start()
            return self.wait(timeout)
        finally:
            self.close()

    def start(self) -> None:
        """Start one worker per partition and let them meet; return once all are running."""
        for name in self.placement.partitions:
            self._spawn(name, 0)
        deadline = time.monotonic() + START_TIMEOUT
        for name, worker in self.workers.items():
            self.ports[name] = int(worker.expect("listening", deadline))
            self.incarnations[name] = int(worker.expect("incarnation", deadline) or 0)
        peers = {name: ["127.0.0.1", port] for name, port in self.ports.items()}
        for worker in self.workers.values():
            worker.say({"peers": peers})

    def _spawn(self, name: str, incarnation: int) -> _Worker:
        proc = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
            [self.python, "-m", "arachne.distributed.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        worker = self.workers[name] = _Worker(name, proc, self._output)
        self.incarnations[name] = incarnation
        orders = partition_orders(
            self,
            name,
            incarnation=incarnation,
            fresh=self.fresh and incarnation == 0,  # (a restart resumes, whatever the first did)
        )
        worker.say({**orders, "token": self.token})
        return worker

    def restart(self, name: str) -> None:
        """Start partition ``name`` again in a new process, from its last checkpoint.

        Its worker must have died (:meth:`kill`, a crash); it runs as the partition's next
        incarnation, and every running worker is told its new port.
        """
        old = self.workers.get(name)
        if old is None:
            raise KeyError(f"no partition {name!r}; the partitions are {', '.join(self.workers)}")
        if self.store is None:
            raise ClusterError(
                f"partition {name!r} cannot restart: ProcessCluster(..., store='folder') keeps "
                "the checkpoints a restarted partition resumes from"
            )
        if old.proc.poll() is None:
            raise ClusterError(f"partition {name!r} is still running; kill() it first")
        old.close()
        worker = self._spawn(name, self.incarnations[name] + 1)
        self.ports[name] = int(worker.expect("listening", time.monotonic() + START_TIMEOUT))
        self.incarnations[name] = int(
            worker.expect("incarnation", time.monotonic() + START_TIMEOUT) or 0
        )
        peers = {peer: ["127.0.0.1", port] for peer, port in self.ports.items()}
        for other in self.workers.values():
            if other.running:
                with contextlib.suppress(ClusterError):  # (one that died meanwhile)
                    other.say({"peers": peers})

    def wait(self, timeout: float | None = None) -> dict[str, dict[str, Any]]:
        """Wait for every worker's run to end; return their reports.

        ``ClusterError`` as soon as one worker fails or dies (naming it: its peers would wait
        for it for ever), or when ``timeout`` seconds pass.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        reports: dict[str, dict[str, Any]] = {}
        while len(reports) < len(self.workers):
            for name, worker in self.workers.items():
                if name in reports:
                    continue
                if worker.report is not None:
                    reports[name] = worker.report
                    continue
                worker.check()
            if len(reports) < len(self.workers):
                if deadline is not None and time.monotonic() > deadline:
                    waiting = [n for n in self.workers if n not in reports]
                    raise ClusterError(f"workers {', '.join(waiting)} did not finish in time")
                time.sleep(WAIT_LOOK)
        return reports

    def query(self, timeout: float = 1.0) -> dict[str, Any]:
        """Return the federated answer of every host (``federation.federate``).

        A worker that has finished answers with its final state; one that does not answer
        within ``timeout`` seconds, or has died, is reported unavailable since it was last
        heard (or since it ended).
        """
        self._asked += 1
        asked = self._asked
        for worker in self.workers.values():
            if worker.running:
                worker.ask(asked)
        deadline = time.monotonic() + timeout
        answers: dict[str, dict[str, Any] | Unavailable] = {
            name: worker.answer(asked, deadline) for name, worker in self.workers.items()
        }
        return federate(answers)

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

        Run it (``asyncio.run(move.run())``) once the cluster has started; each step goes
        to the worker that holds the router or replica it acts on (``moves.OwnershipMove``;
        ``journal`` lets a new controller resume a move left half done). A worker that does
        not answer a step within ``timeout`` seconds fails it with ``ClusterError``.
        """

        def ask(partition: str, step: dict[str, Any]) -> Any:
            self._steps += 1  # (numbered: the answer on the pipe names its step)
            worker = self.workers[partition]
            return worker.call({"id": self._steps, **step}, time.monotonic() + timeout)

        target = placed_move_target(self, node, ask)
        audit = self.audits.setdefault(node, RouteAudit())
        return OwnershipMove(target, span, to, audit=audit, journal=journal, poll=poll, crash=crash)

    def _output(self, node: str, port: str, value: Any) -> None:
        with self._printing:
            if self.on_output is not None:
                self.on_output(node, port, value)

    def kill(self, name: str) -> None:
        """Kill partition ``name``'s worker at once (SIGKILL), as a crash would."""
        worker = self.workers.get(name)
        if worker is None:
            raise KeyError(f"no partition {name!r}; the partitions are {', '.join(self.workers)}")
        worker.proc.kill()
        worker.proc.wait()

    def close(self) -> None:
        """Kill every worker still running and release its pipes."""
        for worker in self.workers.values():
            worker.close()


def placed_move_target(
    run: PlacedRun, node: str, ask: Callable[[str, dict[str, Any]], Any]
) -> RemoteMove:
    """Return the target of a move of sharded ``node`` in a run spread over processes.

    ``ask(partition, step)`` takes each step to the partition holding the router or replica
    it acts on (``move_op`` there) and returns its result.
    """
    split = planned(run.source, run.placement, run.shards)[0]
    router_id = f"{node}~router"
    homes = {nid: part for part, ids in split.nodes.items() for nid in ids}
    if router_id not in homes:
        raise ValueError(f"node {node!r} is not sharded (no {router_id!r}); shard it first")
    return RemoteMove(ask, node, homes[router_id], list(run.shards[node]["owners"]))


class RemoteMove:
    """A move's target in other processes: each step asked of the partition holding its node."""

    def __init__(
        self, ask: Callable[[str, dict[str, Any]], Any], node: str, home: str, owners: list[str]
    ) -> None:
        self._call = ask
        self._node = node
        self._home = home
        self.owners = owners
        self._groups = KEY_GROUPS

    def _ask(self, partition: str, node_id: str, op: str, **args: Any) -> Any:
        return self._call(partition, {"op": op, "node": node_id, **args})

    def _router(self, op: str, **args: Any) -> Any:
        return self._ask(self._home, f"{self._node}~router", op, **args)

    def _replica(self, owner: str, op: str, **args: Any) -> Any:
        return self._ask(owner, f"{self._node}~{owner}", op, groups=self._groups, **args)

    def pmap(self) -> PartitionMap:
        """Return the router's map (and note its key groups for the replicas' steps)."""
        pmap = PartitionMap.from_plain(self._router("pmap"))
        self._groups = pmap.groups
        return pmap

    def router_finished(self) -> bool:
        """Return whether the router has finished."""
        return bool(self._router("state")[2])

    def router_completed(self) -> bool:
        """Return whether the router's partition completed its run."""
        return bool(self._router("state")[4])

    def hold(self, span: GroupRange) -> dict[str, int]:
        """Hold ``span`` at the router."""
        counts = self._router("hold", span=[span.start, span.stop])
        return {str(k): int(v) for k, v in counts.items()}

    def held(self) -> int:
        """Return what the router holds."""
        return int(self._router("held"))

    def released(self) -> int:
        """Return what the router's last flip sent on."""
        return int(self._router("released"))

    def received(self, owner: str) -> tuple[int, bool]:
        """Return what ``owner``'s replica took, and whether it is busy."""
        taken, busy, *_ = self._replica(owner, "state")
        return int(taken), bool(busy)

    def checkpoints(self, owner: str | None) -> int | None:
        """Return the last checkpoint of ``owner``'s partition (``None``: the router's)."""
        last = (self._router("state") if owner is None else self._replica(owner, "state"))[3]
        return None if last is None else int(last)

    def snapshot_keys(self, owner: str, span: GroupRange) -> dict[str, Any]:
        """Return ``owner``'s keys in ``span``."""
        return dict(self._replica(owner, "snapshot", span=[span.start, span.stop]))

    def load_keys(self, owner: str, state: Mapping[str, Any]) -> None:
        """Load ``state`` into ``owner``'s replica."""
        self._replica(owner, "load", state=dict(state))

    def drop_keys(self, owner: str, span: GroupRange) -> None:
        """Drop ``owner``'s keys in ``span``."""
        self._replica(owner, "drop", span=[span.start, span.stop])

    def flip(self, pmap: PartitionMap, at: int | None = None) -> None:
        """Hand the router ``pmap`` (to take at input position ``at``, if given)."""
        self._router("flip", pmap=pmap.plain(), at=at)

    def flipped_at(self) -> int:
        """Return where the router took its last flip."""
        return int(self._router("flipped_at"))


class _Worker:
    """The coordinator's end of one worker: its process, and what it said, read by a thread."""

    def __init__(
        self, name: str, proc: subprocess.Popen[str], output: Callable[[str, str, Any], None]
    ) -> None:
        self.name = name
        self.proc = proc
        self._output = output
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.report: dict[str, Any] | None = None  # its "done"
        self.failure: str | None = None  # its "failed"
        self.ended_at: float | None = None
        self.heard_at: float | None = None
        self._thread = threading.Thread(target=self._read, name=f"worker-{name}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        stdout = self.proc.stdout
        try:
            if stdout is not None:
                self._lines(stdout)
        except (ValueError, OSError) as exc:  # (closed under it by close(), or not text)
            if self.proc.poll() is None:
                self.failure = f"its output could not be read ({exc})"
        finally:
            self.ended_at = time.time()
            self.messages.put({"eof": True})

    def _lines(self, stdout: IO[str]) -> None:
        for line in stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            self.heard_at = time.time()
            if "failed" in message:
                self.failure = str(message["failed"])
            logged = message.get("log")
            if isinstance(logged, dict):
                try:
                    relog(self.name, logged)
                except Exception:  # (a handler or filter here failed: the worker goes on)
                    log.exception("logging a record from worker %s failed", self.name)
                continue
            printed = message.get("print")
            if isinstance(printed, list) and len(printed) == 3:
                try:
                    self._output(*printed)
                except Exception:  # (the caller's output failed: the worker goes on)
                    log.exception("printing a value from worker %s failed", self.name)
                continue
            if "done" in message:
                self.report = message["done"]
            self.messages.put(message)

    @property
    def running(self) -> bool:
        """Whether its process runs and has not reported its end."""
        return self.report is None and self.proc.poll() is None

    def say(self, message: Mapping[str, Any]) -> None:
        """Write one message to the worker."""
        stdin = self.proc.stdin
        try:
            if stdin is None:
                raise BrokenPipeError
            stdin.write(json.dumps(message) + "\n")
            stdin.flush()
        except (BrokenPipeError, ValueError):
            raise ClusterError(
                f"worker {self.name!r} ended before it took its orders (exit {self.proc.wait()})"
            ) from None

    def ask(self, asked: int) -> None:
        """Ask the worker for its health (answered as ``{"answer": asked, ...}``)."""
        with contextlib.suppress(ClusterError):  # (a worker that died: unavailable)
            self.say({"query": asked})

    def check(self) -> None:
        """Raise ``ClusterError`` if the worker failed or ended without its report."""
        if self.failure is not None:
            raise ClusterError(f"worker {self.name!r} failed: {self.failure}")
        if self.ended_at is not None and self.report is None:
            raise ClusterError(
                f"worker {self.name!r} ended before it finished its run (exit {self.proc.poll()})"
            )

    def expect(self, key: str, deadline: float | None) -> Any:
        """Return the value of the next message with ``key``; ``ClusterError`` otherwise."""
        while True:
            message = self._next(deadline, f"say {key!r}")
            if "failed" in message:
                raise ClusterError(f"worker {self.name!r} failed: {message['failed']}")
            if "eof" in message:
                self.messages.put(message)  # (every later wait sees the end too)
                raise ClusterError(
                    f"worker {self.name!r} ended before it said {key!r} (exit {self.proc.wait()})"
                )
            if key in message:
                return message[key]

    def call(self, step: Mapping[str, Any], deadline: float) -> Any:
        """Ask the worker to take a move's ``step``; return its result (``ClusterError``)."""
        self.say({"move": dict(step)})
        while True:
            message = self._next(deadline, f"answer move step {step.get('op')!r}")
            if "eof" in message or "failed" in message:
                self.messages.put(message)  # (every later wait sees it too)
                raise ClusterError(f"worker {self.name!r} ended during a move")
            if message.get("moved") == step.get("id"):
                if "error" in message:
                    raise ClusterError(
                        f"worker {self.name!r}: move step {step.get('op')!r} failed: "
                        f"{message['error']}"
                    )
                return message.get("result")

    def answer(self, asked: int, deadline: float) -> dict[str, Any] | Unavailable:
        """Return the worker's answer to query ``asked``, or how it is unavailable."""
        if self.report is not None:
            return {**self.report["health"], "finished": True}
        try:
            while True:
                message = self._next(deadline, "answer")
                if "eof" in message or "failed" in message:
                    self.messages.put(message)
                    break
                if message.get("answer") == asked:
                    return dict(message["health"])
                if "done" in message:
                    return {**message["done"]["health"], "finished": True}
        except ClusterError:
            if self.proc.poll() is None:
                return Unavailable(self.name, self.heard_at, "no answer in time")
        code = self.proc.wait()
        return Unavailable(self.name, self.ended_at, f"its process ended (exit {code})")

    def _next(self, deadline: float | None, what: str) -> dict[str, Any]:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return self.messages.get(timeout=wait)
        except queue.Empty:
            raise ClusterError(f"worker {self.name!r} did not {what} in time") from None

    def close(self) -> None:
        """Kill the process if it runs; close its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # (a pipe the worker broke)
                    stream.close()
