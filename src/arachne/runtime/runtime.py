"""Runtime: hosts executions on one asyncio loop; ``Scheduler`` is its blueprint name."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from arachne.model.errors import ExecutionError
from arachne.model.manifest import manifest_of
from arachne.model.node import Node
from arachne.model.subgraph import Subgraph
from arachne.runtime.checkpointing import RunStore, check_every, checksum_or_none
from arachne.runtime.commit import CommitMode, check_commit_mode
from arachne.runtime.events import Event, EventBus, ExecutionRestarted
from arachne.runtime.execution import Execution
from arachne.runtime.injection import MAX_BACKPRESSURE_QUEUE, check_queue_bound
from arachne.runtime.lineage import check_rate
from arachne.runtime.loop_thread import LoopThread
from arachne.runtime.signals import graceful_signals

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from arachne.model.graph import Graph
    from arachne.model.policies import Overflow
    from arachne.runtime.clock import Clock
    from arachne.runtime.events import Subscription
    from arachne.runtime.stats import ExecutionStats
    from arachne.runtime.tracing import Tracer

__all__ = [
    "DEFAULT_EXECUTION_TIMEOUT",
    "MAX_CONCURRENT_EXECUTIONS",
    "ClusterRunner",
    "Runtime",
    "Scheduler",
]

log = logging.getLogger("arachne.runtime")

MAX_CONCURRENT_EXECUTIONS: Final = 100
"""Executions one runtime runs at once by default; ``launch`` refuses the next one."""

DEFAULT_EXECUTION_TIMEOUT: Final = 300.0
"""Seconds the Runtime Service gives an execution by default (the library's default is none:
a stream may run for ever; pass ``Runtime(execution_timeout=DEFAULT_EXECUTION_TIMEOUT)``)."""


class ClusterRunner(Protocol):
    """Where a runtime's graph runs split into partitions (``arachne.distributed.Cluster``)."""

    def run_graph(self, unit: Subgraph, timeout: float | None = None) -> Mapping[str, Any]:
        """Run ``unit`` split into partitions to its end; return each partition's report."""
        ...


class _Default:
    """The type of :data:`_DEFAULT`: "the runtime's setting", apart from an explicit ``None``."""


_DEFAULT: Final = _Default()

_E = TypeVar("_E", bound=Event)


class Runtime:
    """Runs graphs: ``register`` nodes or subgraphs, then ``run()`` (or ``start()``/``stop()``).

    Registered units form the default execution. More, isolated executions of other graphs
    can be opened with :meth:`open_execution`; they all share this runtime's loop.

    ``quantum`` bounds the messages (or source ticks) one activation handles before the
    scheduler moves on; ``clock`` replaces real time (tests pass a ``FakeClock``); ``events``
    is the bus every execution publishes on (see :meth:`subscribe`); ``seed`` makes retry
    jitter repeatable; ``trace`` stamps every
    message that starts at a source with ``trace_id``, ``ts`` and ``seq`` headers (messages
    derived from it keep them). Tracing is off by default: it costs about 0.3 µs per message.
    ``fusion`` (on by default) runs chains of inline ``@node`` functions as one call; set it to
    False to give every hop a real edge. ``batch`` bounds the items a pulled source
    (``IterSource``) hands on in one turn, as room allows: pulling costs a fixed amount per
    turn, so it takes more than a quantum at a time (measured: 1024 instead of 256 made a
    fused pipeline about 12% faster). ``check_types`` checks every emitted value against its
    port's schema (values from outside, such as ``inject``, are always checked); fused chains
    stay fused, each stage's results checked in the call. docs/performance.md gives its cost.
    ``metrics`` (on by default) times every node (busy, backpressured, idle seconds) and
    samples latency into histograms (``stats()``); off, those read 0 (the counters stay).
    ``tracer`` opens a span for each handling of a traced message, parent to child along the
    graph (``arachne.observability.tracing.OpenTelemetryTracer``; it turns fusion off).
    ``lineage`` (off by default) records, for a sampled share of the messages that start at a
    source or an ``inject`` (1.0: all of them), which inputs and nodes explain each handling
    (``Execution.lineage``, ``QueryPlane.lineage``; docs/query-plane.md); it turns fusion off.
    ``commit_mode`` is each execution's to start with: ``auto`` commits every change to its
    graph at once, ``manual`` gathers them until ``Execution.commit()`` (docs/live-change.md).
    ``max_backpressure_queue`` bounds the messages injected into one input and not yet taken
    (a paused execution queues them): past it the inject edge's policy applies, by default
    ``block``, which holds ``inject`` callers back.
    ``store`` (``arachne.durable.SqliteStore("run.db")``) checkpoints every execution every
    ``checkpoint_every`` seconds, as the run named by its execution id, else ``run_name``,
    else its graph's name; a run that did not complete resumes from its last checkpoint when
    it runs again (``fresh_runs`` starts each over instead). A run is resumed only with the
    graph it was started with, unless ``upgrade_runs``: then the saved state follows each node
    to the changed graph by the diff of their manifests (renames the author declared
    included), and a node's saved state that cannot follow is refused before the start,
    naming the node. Its events go to the run's event
    log in the store, and so do the messages of the edges ``record`` names (ids of links),
    which ``arachne.durable.replay_into`` feeds to the graph again. docs/durable.md has the
    guarantees.
    ``cluster`` (``arachne.distributed.Cluster(placement, on=...)``) runs what was registered
    split into partitions joined by mesh links, in this process, in worker processes or on
    Ray: :meth:`run` (or :meth:`run_async`) runs it to its end and keeps each partition's
    report in :attr:`reports`; executions, live control and stats are per partition then
    (the reports have each partition's links and health), so :attr:`execution`,
    :meth:`start` and :meth:`open_execution` are refused, and so are the settings that shape
    one execution's run (``store``, ``record``, ``clock``, ``tracer``, ``lineage``,
    ``fresh_runs``, ``upgrade_runs``, ``run_name``): the cluster takes a store of its own.
    docs/distributed.md has it.
    """

    def __init__(
        self,
        *,
        quantum: int = 256,
        clock: Clock | None = None,
        events: EventBus | None = None,
        seed: int | None = None,
        trace: bool = False,
        fusion: bool = True,
        batch: int = 1024,
        check_types: bool = False,
        metrics: bool = True,
        tracer: Tracer | None = None,
        execution_timeout: float | None = None,
        max_concurrent_executions: int = MAX_CONCURRENT_EXECUTIONS,
        commit_mode: CommitMode = "auto",
        max_backpressure_queue: int = MAX_BACKPRESSURE_QUEUE,
        store: RunStore | None = None,
        checkpoint_every: float = 1.0,
        fresh_runs: bool = False,
        record: Iterable[str] = (),
        run_name: str | None = None,
        upgrade_runs: bool = False,
        lineage: float | None = None,
        cluster: ClusterRunner | None = None,
    ) -> None:
        record = tuple(record)
        _check_cluster(
            cluster,
            store=store,
            record=record,
            clock=clock,
            tracer=tracer,
            lineage=lineage,
            fresh_runs=fresh_runs,
            upgrade_runs=upgrade_runs,
            run_name=run_name,
        )
        self.cluster = cluster
        self.reports: dict[str, Any] = {}  # with a cluster: each partition's, after run()
        if (
            isinstance(max_concurrent_executions, bool)
            or not isinstance(max_concurrent_executions, int)
            or max_concurrent_executions < 1
        ):
            raise ValueError(
                f"max_concurrent_executions must be an int >= 1, got {max_concurrent_executions!r}"
            )
        self.execution_timeout = execution_timeout
        if store is not None and not callable(getattr(store, "open_run", None)):
            raise TypeError(
                f"store must keep runs (have open_run), got {store!r}; pass "
                "arachne.durable.SqliteStore('run.db')"
            )
        self.store = store
        self.checkpoint_every = check_every(checkpoint_every)
        self.fresh_runs = fresh_runs
        self.upgrade_runs = upgrade_runs
        self.record = list(record)
        self.run_name = run_name
        if self.record and store is None:
            raise ValueError(
                "record= needs a store to log into: Runtime(store=SqliteStore('run.db'), "
                "record=[...])"
            )
        self.commit_mode = check_commit_mode(commit_mode)
        check_queue_bound(max_backpressure_queue)
        self.max_backpressure_queue = max_backpressure_queue
        self.max_concurrent_executions = max_concurrent_executions
        self.quantum = quantum
        self.metrics = metrics
        self.tracer = tracer
        self.lineage = check_rate(lineage)
        self.batch = batch
        self.trace = trace
        self.fusion = fusion
        self.check_types = check_types
        self.clock = clock
        self.events = events if events is not None else EventBus()
        self.seed = seed
        self._root = Subgraph()
        self._default: Execution | None = None
        self.executions: dict[str, Execution] = {}
        self._thread: LoopThread | None = None
        self._lock = threading.RLock()  # (the default execution is made under it)
        self._launched: set[str] = set()  # ids of executions handed to the loop thread

    # -- building --------------------------------------------------------------------------------

    def register(self, unit: Node | Subgraph) -> None:
        """Add a node or subgraph to the default graph (an unnamed subgraph is merged in)."""
        if self._default is not None:
            raise ExecutionError(
                "register() must come before run() or start(); open another execution with "
                "open_execution() to run more graphs"
            )
        if isinstance(unit, Subgraph) and not unit.name():
            self._root.members.extend(unit.members)
            self._root.connections.extend(unit.connections)
            for name, targets in unit.exposed_inputs.items():
                for target in targets:
                    self._root.expose_input(name, target)
            for name, source in unit.exposed_outputs.items():
                self._root.expose_output(name, source)
        elif isinstance(unit, Node | Subgraph):
            self._root.add_node(unit)
        else:
            raise TypeError(f"register() takes a Node or Subgraph instance, got {unit!r}")

    @property
    def graph(self) -> Graph:
        """The desired state of the default execution (raises ``GraphError`` if invalid)."""
        return self.execution.graph

    @property
    def execution(self) -> Execution:
        """The default execution, created from what was registered on first use."""
        self._refuse_with_cluster("execution")
        with self._lock:
            if self._default is None:
                self._default = self._open(self._root, lineage=self.lineage)
            return self._default

    def open_execution(
        self,
        unit: Node | Subgraph,
        *,
        execution_id: str | None = None,
        timeout: float | _Default | None = _DEFAULT,
        lineage: float | _Default | None = _DEFAULT,
    ) -> Execution:
        """Create an isolated execution of ``unit`` (not started; see :meth:`launch`).

        ``timeout`` (seconds, or ``None`` for none) defaults to the runtime's
        ``execution_timeout``: past it the execution ends failed with an ``ExecutionTimeout``.
        ``lineage`` (a sampling rate, or ``None`` for off) defaults to the runtime's.
        With a ``store``, the execution is checkpointed as the run named by its id: open one
        with the id of an execution that did not complete to resume it.
        """
        self._refuse_with_cluster("open_execution()")
        sub = unit if isinstance(unit, Subgraph) else _wrap(unit)
        if execution_id is None and self.store is not None:
            # Its run in the store is named by its id (pass the id again to resume it).
            execution_id = f"exec-{secrets.token_hex(8)}"
        rate = self.lineage if isinstance(lineage, _Default) else check_rate(lineage)
        return self._open(sub, execution_id, timeout, rate)

    def restart(self, execution_id: str, *, timeout: float | None = None) -> Execution:
        """Run an execution's graph again, as a new execution, and return it (launched).

        One still running is stopped gracefully first (up to ``timeout`` seconds, then
        ``ExecutionError``). The new one runs the old one's desired graph (every change
        included, in ``manual`` mode also those not committed) with the same node
        instances, so what they keep in ``context.state`` carries over; queued messages do
        not. ``ExecutionRestarted`` is published.
        """
        old = self.executions.get(execution_id)
        if old is None:
            known = ", ".join(self.executions) or "none"
            raise ExecutionError(f"no execution {execution_id!r} to restart; known: {known}")
        if old.launched and not old.done and not old.stop(timeout=timeout):
            raise ExecutionError(
                f"execution {execution_id} did not stop within {timeout} s; it was not restarted"
            )
        if old.calls_abandoned:
            raise ExecutionError(
                f"execution {execution_id} ended with calls abandoned (a cancel or a timeout) "
                "that may still run in its node instances; restart needs them idle: open a new "
                "execution with new instances instead"
            )
        rate = old.lineage.rate if old.lineage is not None else None
        new = self._create(old.graph, old.instances, None, old.timeout, rate)
        try:
            self.launch(new)
        except BaseException:
            with self._lock:
                del self.executions[new.id]
            raise
        with self._lock:
            if self._default is old:
                self._default = new
        if ExecutionRestarted in self.events.wanted:
            self.events.publish(ExecutionRestarted(execution_id=new.id, previous=old.id))
        return new

    def forget(self, execution_id: str) -> None:
        """Drop an execution that has ended from :attr:`executions` (and so from metrics)."""
        ex = self.executions.get(execution_id)
        if ex is None:
            known = ", ".join(self.executions) or "none"
            raise ExecutionError(f"no execution {execution_id!r} to forget; known: {known}")
        if ex.launched and not ex.done:
            raise ExecutionError(
                f"execution {execution_id} is {ex.state.value}; stop it (and wait) before "
                "forgetting it"
            )
        with self._lock:
            del self.executions[execution_id]
            self._launched.discard(execution_id)
            if self._default is ex:
                self._default = None

    def _open(
        self,
        sub: Subgraph,
        execution_id: str | None = None,
        timeout: float | _Default | None = _DEFAULT,
        lineage: float | None = None,
    ) -> Execution:
        if execution_id is not None and execution_id in self.executions:
            raise ExecutionError(f"an execution {execution_id!r} exists already; choose another id")
        chosen = self.execution_timeout if isinstance(timeout, _Default) else timeout
        return self._create(sub.to_graph(), sub.instances(), execution_id, chosen, lineage)

    def _create(
        self,
        graph: Graph,
        instances: Mapping[str, Node],
        execution_id: str | None,
        timeout: float | None,
        lineage: float | None = None,
    ) -> Execution:
        """Make an execution with this runtime's settings and keep it in :attr:`executions`."""
        checkpoints = None
        if self.store is not None:
            checksum = checksum_or_none(graph)  # (None: the run is not tied to a graph)
            checkpoints = self.store.open_run(
                execution_id or self.run_name or graph.name or "default",
                checksum=checksum,
                fresh=self.fresh_runs,
                manifest=manifest_of(graph, instances=instances),
                upgrade=self.upgrade_runs,
            )
        ex = Execution(
            graph,
            instances,
            execution_id=execution_id,
            quantum=self.quantum,
            batch=self.batch,
            clock=self.clock,
            events=self.events,
            seed=self.seed,
            trace=self.trace,
            fusion=self.fusion,
            check_types=self.check_types,
            metrics=self.metrics,
            tracer=self.tracer,
            lineage=lineage,
            timeout=timeout,
            commit_mode=self.commit_mode,
            max_backpressure_queue=self.max_backpressure_queue,
            checkpoints=checkpoints,
            checkpoint_every=self.checkpoint_every,
            record=self.record if checkpoints is not None else (),
        )
        with self._lock:  # (launches count the executions under it, from other threads)
            if ex.id in self.executions:
                raise ExecutionError(f"an execution {ex.id!r} exists already; choose another id")
            self.executions[ex.id] = ex
        return ex

    def subscribe(self, callback: Callable[[_E], None], *kinds: type[_E]) -> Subscription:
        """Call ``callback`` with each event of ``kinds`` (all if none) from every execution.

        Delivered on the loop thread; a subscriber that raises is logged and removed. Use an
        ``EventRelay`` to hand events to another thread or event loop.
        """
        return self.events.subscribe(callback, *kinds)

    # -- running -------------------------------------------------------------------------------

    def run(self) -> None:
        """Run the default execution in this thread until it completes; raise if it failed.

        From the command line, SIGINT/SIGTERM stop it gracefully (a second one cancels).
        Inside a running event loop, use ``await runtime.run_async()`` instead. With a
        ``cluster``, the partitions run there; their reports are kept in :attr:`reports`.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise ExecutionError("run() was called inside a running event loop; use run_async()")
        if self.cluster is not None:
            self.reports = dict(self.cluster.run_graph(self._root, self.execution_timeout))
            return
        ex = self.execution
        if self._thread is not None:
            ex.wait()
            ex.raise_if_failed()
            return
        with asyncio.Runner() as runner:
            loop = runner.get_loop()
            with graceful_signals(loop, ex.request_stop, lambda: ex.request_stop(drain=False)):
                runner.run(ex.run())

    async def run_async(self) -> None:
        """Run the default execution on the current event loop until it completes.

        With a ``cluster``, its ``run_graph_async`` runs it if it has one (cancelled, it stops
        the run), else its ``run_graph`` in a thread of its own.
        """
        if self.cluster is not None:
            cluster, timeout = self.cluster, self.execution_timeout
            run_async = getattr(cluster, "run_graph_async", None)
            if run_async is not None:
                reports = await run_async(self._root, timeout)
            else:
                reports = await asyncio.to_thread(cluster.run_graph, self._root, timeout)
            self.reports = dict(reports)
            return
        await self.execution.run()

    def _refuse_with_cluster(self, what: str) -> None:
        if self.cluster is not None:
            raise ExecutionError(
                f"{what} is not available on a Runtime(cluster=...): its graph runs as one "
                "execution per partition; call run() (or run_async()), then read "
                "runtime.reports, or query the cluster's last run (runtime.cluster.last)"
            )

    def _check_room(self) -> None:
        """Refuse a launch past ``max_concurrent_executions`` executions running at once."""
        running = sum(1 for ex in list(self.executions.values()) if ex.launched and not ex.done)
        if running >= self.max_concurrent_executions:
            raise ExecutionError(
                f"this runtime runs {running} executions already, its limit "
                f"(max_concurrent_executions={self.max_concurrent_executions}); wait for one to "
                "end, stop one, or raise the limit"
            )

    def start(self) -> Execution:
        """Start the default execution on a background loop thread and return it at once."""
        self._refuse_with_cluster("start()")
        return self.launch(self.execution)

    def launch(self, ex: Execution) -> Execution:
        """Start ``ex`` on this runtime's background loop thread and return it.

        Its unfed input ports stay open for ``inject`` until ``ex.close_inputs()`` or
        ``ex.stop()`` (see ``Execution.inputs_open``), so ``start(); inject(...)`` never races.
        """
        with self._lock:
            if self._thread is None:
                self._thread = LoopThread()
            if ex.id in self._launched:
                raise ExecutionError(
                    f"execution {ex.id} was launched already; it can run only once"
                )
            if ex.state.value != "pending":
                raise ExecutionError(f"execution {ex.id} is {ex.state.value}; it can run only once")
            self._check_room()
            self._launched.add(ex.id)
            ex.keep_inputs_open()
            ex.launched = True
        try:
            self._thread.submit(_quietly(ex))
        except BaseException:  # (the loop was closed: shut down)
            with self._lock:
                self._launched.discard(ex.id)
                ex.launched = False
            raise
        return ex

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the default execution ends; False if ``timeout`` passed first."""
        return self.execution.wait(timeout)

    def stop(self, *, drain: bool = True, timeout: float | None = None) -> bool:
        """Stop every execution (gracefully unless ``drain=False``) and wait for them.

        ``timeout`` is one deadline for all of them; returns whether every one has ended.
        """
        with self._lock:
            # Launched ones, also those the loop thread has not begun yet (they stop on start).
            running = [
                ex
                for ex in self.executions.values()
                if ex.id in self._launched or ex.state.value != "pending"
            ]
        for ex in running:
            if not ex.done:
                ex.request_stop(drain=drain)
        deadline = None if timeout is None else time.monotonic() + timeout
        ended = True
        for ex in running:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ended = ex.wait(left) and ended
        return ended

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop everything gracefully, then close the loop thread. The runtime is then spent.

        With a ``timeout``, executions still draining when it has passed are cancelled and
        given ``timeout`` again (a cancel abandons calls in flight, so only an inline hook
        blocked in a call can outlast it). Returns whether every execution has ended.
        """
        ended = self.stop(timeout=timeout)
        if not ended:
            log.warning("executions still running after %s s: cancelling them", timeout)
            ended = self.stop(drain=False, timeout=timeout)
        if self._thread is not None:
            self._thread.close(timeout)
        return ended

    # -- tuning and observation ----------------------------------------------------------------

    def set_capacity(self, edge_id: str, capacity: int) -> None:
        """Change the capacity of an edge of the default execution, live if it runs."""
        self.execution.set_capacity(edge_id, capacity)

    def set_priority(self, edge_id: str, priority: int) -> None:
        """Change the priority of an edge of the default execution, live if it runs."""
        self.execution.set_priority(edge_id, priority)

    def set_overflow(self, edge_id: str, overflow: Overflow) -> None:
        """Change the overflow policy of an edge of the default execution, live if it runs."""
        self.execution.set_overflow(edge_id, overflow)

    def stats(self) -> ExecutionStats:
        """Return every counter of the default execution as one frozen snapshot."""
        return self.execution.stats()


Scheduler = Runtime
"""The blueprint's name for :class:`Runtime`."""


def _check_cluster(cluster: ClusterRunner | None, **given: object) -> None:
    """Refuse a cluster that cannot run graphs, or one given with one execution's settings."""
    if cluster is None:
        return
    if not callable(getattr(cluster, "run_graph", None)):
        raise TypeError(
            f"cluster must run graphs (have run_graph), got {cluster!r}; pass "
            "arachne.distributed.Cluster({'a': [...], 'b': [...]})"
        )
    shaping = [name for name, value in given.items() if value not in (None, False, ())]
    if shaping:
        raise ValueError(
            f"{', '.join(f'{name}=' for name in shaping)} shape(s) one execution and cannot go "
            "with cluster=: every partition runs an execution of its own; give the cluster "
            "its store (Cluster(..., store='folder')) and run without the others"
        )


def _wrap(node: Node) -> Subgraph:
    sub = Subgraph()
    sub.add_node(node)
    return sub


async def _quietly(ex: Execution) -> None:
    # The failure stays on the execution (ex.error); the loop thread must not log it twice.
    with contextlib.suppress(BaseException):
        await ex.run()
