"""Execution: one running instance of a graph, assembled from its parts, with its controls.

The parts: the running graph (:class:`Wiring`), the shared run context (ready queue, timers,
clock, pools, event bus, gate), the controls, the rounds and the state. The scheduler gets
the context, the controls and the rounds; nothing below takes the ``Execution`` itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, Final, TypeVar

from arachne.model.errors import ArachneError, ExecutionError, GraphError, NodeFailed, describe
from arachne.model.flatten import node_spec
from arachne.model.message import Headers, Message
from arachne.model.node import overrides
from arachne.model.policies import check_overflow
from arachne.model.specs import LinkSpec, PortRef
from arachne.runtime.clock import Clock, MonotonicClock
from arachne.runtime.control import Controls
from arachne.runtime.events import Event, EventBus, NodeReconfigured, Subscription
from arachne.runtime.injection import Injector
from arachne.runtime.lifecycle import seed, start_node, stop_node, stop_nodes
from arachne.runtime.log_context import CURRENT_EXECUTION
from arachne.runtime.record import ExecutionFailure, ExecutionRecord
from arachne.runtime.rounds import Rounds
from arachne.runtime.run_context import RunContext
from arachne.runtime.scheduler import drive
from arachne.runtime.state import ExecutionState, StateCell
from arachne.runtime.stats import ExecutionStats
from arachne.runtime.wiring import Wiring

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from concurrent.futures import Future

    from arachne.model.error_record import ErrorRecord
    from arachne.model.graph import Graph
    from arachne.model.node import Node
    from arachne.model.policies import Overflow
    from arachne.runtime.edge import Edge
    from arachne.runtime.fusion import FusedChain
    from arachne.runtime.running_node import RunningNode
    from arachne.runtime.tracing import Tracer

__all__ = ["Execution"]

log = logging.getLogger("arachne.runtime")

T = TypeVar("T")

TASK_GRACE: Final = 1.0
"""Seconds calls still in flight at the end of a run get to end after their cancel."""

CLOSE_POLL: Final = 0.01
"""Seconds between looks at the change inbox while the pools close at the end of a run."""
_E = TypeVar("_E", bound=Event)


class Execution:
    """One running instance of a graph: the desired ``graph`` and the running ``wiring``.

    Created by ``Runtime``; driven by :meth:`run` on the runtime's loop. Its controls
    (``request_stop``, ``pause``, ``set_capacity``, ``connect``, ...) may be called from any
    thread; :meth:`stats` is a consistent read from anywhere. ``events`` is the bus its
    lifecycle, drops, retries and backpressure are published on.
    """

    def __init__(
        self,
        graph: Graph,
        instances: Mapping[str, Node],
        *,
        execution_id: str | None = None,
        quantum: int = 256,
        clock: Clock | None = None,
        events: EventBus | None = None,
        idle_poll: float = 0.001,
        seed: int | None = None,
        trace: bool = False,
        fusion: bool = True,
        batch: int = 1024,
        check_types: bool = False,
        metrics: bool = True,
        tracer: Tracer | None = None,
        timeout: float | None = None,
    ) -> None:
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise ValueError(f"timeout must be a number of seconds > 0 or None, got {timeout!r}")
        self.id = execution_id or f"exec-{secrets.token_hex(4)}"
        self.graph = graph
        self.events = events if events is not None else EventBus()
        self.clock: Clock = clock or MonotonicClock()
        self._ctx = ctx = RunContext(
            self.id,
            clock=self.clock,
            bus=self.events,
            quantum=quantum,
            batch=batch,
            seed=seed,
            trace=trace,
            check_types=check_types,
            idle_poll=idle_poll,
            metrics=metrics,
            tracer=tracer,
        )
        self._began = self._finished = -1.0  # on the execution's clock (-1: not yet)
        ctx.timeout = timeout
        self.checksum = _checksum(graph)  # of the graph it was created from (None: no JSON form)
        self.created_at = time.time()
        self._inputs_closed = False  # close_inputs() was called: a launch keeps them closed
        self._calls_abandoned = False
        self.started_at: float | None = None  # wall clock (Unix seconds)
        self.completed_at: float | None = None
        self._state = StateCell(self.id, self.events)
        self.controls = Controls(ctx.gate, self._state)
        self.wiring = Wiring(
            ctx,
            graph_name=graph.name,
            fusion=fusion and tracer is None,  # a span per node: every hop a real one
            stopper=self._stop_from_node,
        )
        self.wiring.build(graph, instances)
        self._size_pools()
        self.rounds = Rounds(ctx, self.wiring)
        self.error: BaseException | None = None
        self._injector = Injector(
            self.id, self.wiring, ctx.gate, ended=self._ended, ending=lambda: self._ending
        )
        self._ending = False
        self.launched = False  # handed to a loop (Runtime.launch) or run: stop() may wait
        self._done = threading.Event()

    # -- driving (on the loop) ----------------------------------------------------------------

    async def run(self) -> None:
        """Start every node, run until completion, stop every node; raise if a node failed."""
        if self._state.value is not ExecutionState.PENDING:
            raise ExecutionError(
                f"execution {self.id} is {self._state.value.value}; it can run only once"
            )
        ctx = self._ctx
        self.launched = True
        running = CURRENT_EXECUTION.set(self.id)  # for log records made while it runs
        ctx.gate.open()
        try:
            self._state.move(ExecutionState.INITIALIZING)
            self._began = ctx.clock.now()
            self.started_at = time.time()
            if ctx.timeout is not None:
                ctx.deadline = self._began + ctx.timeout
            self.wiring.attach()
            for rn in list(self.wiring.nodes.values()):
                await start_node(ctx, rn)
            self.wiring.overlay()
            self._state.move(ExecutionState.RUNNING)
            if self.controls.pause_asked and not self.controls.stopping:  # asked before it ran
                self.controls.paused = True
                self._state.move(ExecutionState.PAUSED)
            for rn in self.wiring.nodes.values():
                seed(ctx, rn)
            await drive(ctx, self.controls, self.rounds)
        except BaseException as exc:
            self.error = exc
        finally:
            await self._finish()
            CURRENT_EXECUTION.reset(running)
        if self.error is not None:
            raise self.error

    async def _finish(self) -> None:
        ctx = self._ctx
        self._finished = ctx.clock.now()
        self._ending = True  # nodes added from now on join the graphs, not the run
        try:
            for task in list(ctx.tasks):
                task.cancel()
            if ctx.tasks:
                # A coroutine may ignore its cancel; it gets TASK_GRACE, then runs on unseen.
                done, left = await asyncio.wait(set(ctx.tasks), timeout=TASK_GRACE)
                for task in done:
                    if not task.cancelled():
                        task.exception()  # retrieved: it ended with the run, nothing to say
                if left:
                    log.warning(
                        "execution %s: %d call(s) ignored their cancel for %s s; left running",
                        self.id,
                        len(left),
                        TASK_GRACE,
                    )
            order = reversed(list(self.wiring.nodes.values()))
            stop_error = await stop_nodes(ctx, order)
            if ctx.pools.started:
                # Off the loop, serving what a worker still finishing a call may ask of it
                # meanwhile (a stats() read, a change), else both would wait for ever.
                abandon = (
                    self.error is not None or self.controls.cancel_requested or ctx.pools.abandoned
                )
                self._calls_abandoned = abandon  # its thread or process calls may run on
                closing = asyncio.get_running_loop().run_in_executor(
                    None, functools.partial(ctx.pools.close, abandon=abandon)
                )
                while not closing.done():
                    ctx.gate.run_inbox()
                    await asyncio.wait([closing], timeout=CLOSE_POLL)
            self.wiring.detach()
            if self.error is None and stop_error is not None:
                self.error = stop_error
            if self.error is not None:
                final = ExecutionState.FAILED
                failed = getattr(self.error, "node_id", None)
                log.error(
                    "execution %s failed: %s",
                    self.id,
                    describe(self.error),
                    extra={"execution_id": self.id}
                    | ({"node_id": failed} if failed is not None else {}),
                )
            elif self.controls.cancel_requested:
                final = ExecutionState.CANCELLED
            else:
                final = ExecutionState.COMPLETED
            self.completed_at = time.time()
            if not self._state.value.is_final:
                error = describe(self.error) if self.error is not None else None
                self._state.move(final, error=error)
        finally:
            try:
                ctx.gate.close()
            finally:
                self._done.set()

    @property
    def calls_abandoned(self) -> bool:
        """Whether calls off the loop were abandoned (at a cancel or a timeout) and may run on."""
        return self._calls_abandoned

    @property
    def timeout(self) -> float | None:
        """Seconds the execution may run from its start (``None``: no limit)."""
        return self._ctx.timeout

    def record(self) -> ExecutionRecord:
        """Return the execution's record: ids, checksum, state, times, error and metrics."""
        error = self.error
        failure = None
        if error is not None:
            cause = error.__cause__ if isinstance(error, NodeFailed) and error.__cause__ else error
            failure = ExecutionFailure(
                type=type(cause).__name__,
                message=describe(error),
                node=getattr(error, "node_id", None),
            )
        return ExecutionRecord(
            id=self.id,
            graph_id=self.graph.name,
            checksum=self.checksum,
            state=self.state.value,
            created_at=self.created_at,
            started_at=self.started_at,
            completed_at=self.completed_at,
            error=failure,
            metrics=self.stats().service_metrics().to_dict(),
        )

    def _ended(self) -> str | None:
        """Return the final state's name once the execution has ended, else ``None``."""
        return self.state.value if self._done.is_set() else None

    def _stop_from_node(self, drain: bool) -> None:
        self.controls.request_stop(drain=drain)

    def _size_pools(self) -> None:
        nodes = self.wiring.nodes.values()
        self._ctx.pools.size(
            threads=sum(rn.concurrency for rn in nodes if rn.mode == "thread"),
            processes=sum(rn.concurrency for rn in nodes if rn.mode == "process"),
        )

    # -- state and controls -------------------------------------------------------------------

    @property
    def state(self) -> ExecutionState:
        """Where the execution is in its life."""
        return self._state.value

    def request_stop(self, *, drain: bool = True) -> None:
        """Ask the execution to end: gracefully with ``drain``, else cancel it."""
        self.controls.request_stop(drain=drain)

    def stop(self, *, drain: bool = True, timeout: float | None = None) -> bool:
        """End the execution (gracefully with ``drain``, else cancel it) and wait for it.

        Returns whether it has ended within ``timeout`` (``None``: wait as long as it takes).
        An execution that was never started has nothing to wait for: ``ExecutionError``.
        """
        if not self.launched:
            raise ExecutionError(
                f"execution {self.id} was never started; start it (runtime.start(), "
                "runtime.launch(execution), await execution.run()) before stopping it"
            )
        if not self.done:
            self.request_stop(drain=drain)
        return self.wait(timeout)

    def pause(self) -> None:
        """Stop activating nodes; messages stay queued until :meth:`resume`."""
        self.controls.pause()

    def resume(self) -> None:
        """Continue after :meth:`pause`; queued messages drain first."""
        self.controls.resume()

    def subscribe(self, callback: Callable[[_E], None], *kinds: type[_E]) -> Subscription:
        """Call ``callback`` with each event of ``kinds`` (all if none) from this execution.

        Called on the loop thread; use an ``EventRelay`` to hand events to another thread.
        """
        return self.events.subscribe(callback, *kinds, execution_id=self.id)

    # -- live tuning --------------------------------------------------------------------------

    def edge(self, edge_id: str) -> Edge:
        """Return the running edge ``edge_id``; ``GraphError`` naming the known ids if none."""
        return self.wiring.edge(edge_id)

    def set_capacity(self, edge_id: str, capacity: int) -> None:
        """Change an edge's capacity, in the desired graph and, live, in the running edge."""
        edge = self.edge(edge_id)
        self.graph.replace_link(edge_id, capacity=capacity)  # checks it, in the caller's thread
        self._retune(edge, lambda: edge.set_capacity(capacity), capacity=capacity)

    def set_priority(self, edge_id: str, priority: int) -> None:
        """Change an edge's priority, in the desired graph and, live, in the running edge."""
        edge = self.edge(edge_id)
        self.graph.replace_link(edge_id, priority=priority)
        self._retune(edge, lambda: edge.set_priority(priority), priority=priority)

    def set_overflow(self, edge_id: str, overflow: Overflow) -> None:
        """Change an edge's overflow policy, in the desired graph and live."""
        edge = self.edge(edge_id)
        policy = check_overflow(overflow)
        self.graph.replace_link(edge_id, overflow=policy)
        self._retune(edge, lambda: edge.set_overflow(policy), overflow=policy)

    def _retune(self, edge: Edge, setter: Callable[[], None], **changes: Any) -> None:
        """Apply a checked change to ``edge`` on the loop, in both graphs, and settle it there."""

        def change() -> None:
            if self.wiring.edges.get(edge.id) is not edge:
                log.warning("edge %r was removed before its change could apply", edge.id)
                return
            if edge.kind == "link":
                self.graph = self.graph.replace_link(edge.id, **changes)
            setter()
            self.wiring.retuned(edge)

        self._ctx.gate.apply(change)

    # -- live change of the graph -------------------------------------------------------------

    def add_node(self, node: Node, *, node_id: str | None = None) -> str:
        """Add ``node`` (not yet linked) to the desired and the running graph; return its id.

        While the execution runs, the node is started (``on_start``) and takes part from its
        first edge on. ``GraphError`` if the id is taken.
        """
        spec = node_spec(node_id or node.name(), node)

        def change() -> None:
            graph = self.graph.with_node(spec)
            rn = self.wiring.add_node(spec, node)
            self.graph = graph
            self._size_pools()
            if self._ctx.gate.running and not self._ending:
                self._ctx.spawn(self._start_live(rn.id))

        self._change(change)
        return spec.id

    async def _start_live(self, node_id: str) -> None:
        rn = self.wiring.nodes.get(node_id)
        if rn is None:
            return
        try:
            await start_node(self._ctx, rn)
        except Exception as exc:
            self._ctx.fail_soon(exc)
            return
        if not rn.removed:
            seed(self._ctx, rn, live=True)
            self._ctx.gate.wake()

    def remove_node(self, node_id: str) -> None:
        """Remove node ``node_id`` from both graphs (its links must be gone); ``on_stop`` runs."""

        def change() -> None:
            graph = self.graph.without_node(node_id)
            rn = self.wiring.remove_node(node_id)
            self.graph = graph
            if self._ctx.gate.running:
                self._ctx.spawn(self._stop_live(rn))

        self._change(change)

    def update_config(self, node_id: str, config: Mapping[str, Any]) -> bool:
        """Give node ``node_id`` a new ``config`` (the whole of it); return whether it changed.

        Configs are compared by content (``==``): an equal one changes nothing. A running node
        gets it through ``on_config`` (which it must override); if that raises, the old config
        stays in both graphs and in the node, and the error is raised here. Other nodes, and
        this node's state and queued messages, are untouched. ``NodeReconfigured`` is
        published. ``on_config`` runs on the execution's loop: for a node whose calls run in
        threads or processes, calls already in flight finish with the config they started
        with, so ``on_config`` must not disturb them.
        """
        new = dict(config)

        def change() -> bool:
            rn = self.wiring.nodes.get(node_id)
            if rn is None:
                known = ", ".join(self.wiring.nodes) or "none"
                raise GraphError(f"unknown node {node_id!r}; known nodes: {known}")
            if dict(rn.spec.config) == new:
                return False
            live = rn.started and not rn.finished
            if live and not overrides(rn.node, "on_config"):
                raise ExecutionError(
                    f"node {node_id!r} ({type(rn.node).__qualname__}) has no on_config, so it "
                    "cannot take a new config while it runs; override on_config, or remove the "
                    "node and add a new one"
                )
            old_spec, old_context = rn.spec, rn.context
            rn.spec = dataclasses.replace(old_spec, config=new)
            rn.context = dataclasses.replace(old_context, config=rn.spec.config)
            rn.node.bind_context(rn.context)
            if live:
                try:
                    rn.node.on_config(rn.context.config)
                except Exception:
                    rn.spec, rn.context = old_spec, old_context
                    rn.node.bind_context(old_context)
                    raise
            self.graph = self.graph.replace_node(node_id, config=new)
            bus = self._ctx.bus
            if NodeReconfigured in bus.wanted:
                bus.publish(NodeReconfigured(execution_id=self.id, node_id=node_id))
            return True

        return bool(self._change(change))

    async def _stop_live(self, rn: RunningNode) -> None:
        error = await stop_node(self._ctx, rn)
        if error is not None:
            self._ctx.fail_soon(error)

    def connect(
        self,
        source: tuple[str, str],
        target: tuple[str, str],
        *,
        edge_id: str | None = None,
        capacity: int = 1024,
        overflow: Overflow = "block",
        priority: int = 0,
        control: bool = False,
    ) -> str:
        """Link output ``source`` (node, port) to input ``target`` in both graphs; return its id.

        Live, messages flow from the source's next emit. ``GraphError`` for unknown nodes or
        ports, a taken id or a cycle; ``ExecutionError`` if the target has finished.
        """
        link = LinkSpec(
            edge_id or f"{source[0]}.{source[1]}->{target[0]}.{target[1]}",
            PortRef(*source),
            PortRef(*target),
            capacity,
            overflow,
            priority,
            control,
        )

        def change() -> None:
            # The wiring's check names the known nodes and ports and finds a cycle; the two
            # graphs are the same, so the desired one needs no cycle search of its own.
            self.wiring.check_link(link)
            graph = self.graph.with_link(link)
            self.wiring.add_edge(link)
            self.graph = graph

        self._change(change)
        return link.id

    def disconnect(self, edge_id: str) -> int:
        """Remove edge ``edge_id`` from both graphs; return how many queued messages it dropped.

        Those messages are counted (``dropped`` in the edge's last stats, kept in
        ``wiring.retired_edges``) and announced as ``EdgeRemoved``. Called from inside a hook
        the change waits for the end of the turn, and 0 is returned.
        """

        def change() -> int:
            graph = self.graph.without_link(edge_id)
            dropped = self.wiring.remove_edge(edge_id)
            self.graph = graph
            return dropped

        return self._change(change) or 0

    def _change(self, change: Callable[[], T]) -> T | None:
        """Apply ``change`` on the loop; wait for it (raising its error) unless called there.

        Called on the loop (from a hook, say), it cannot wait for a turn that comes after the
        caller's: it returns ``None`` at once, the change applies after the current turn, and
        an error it raises then is logged, as nobody is left to receive it.
        """
        gate = self._ctx.gate
        future = gate.submit(change)
        if gate.on_loop():
            future.add_done_callback(_log_failed_change)
            return None
        return future.result()

    def running_graph(self) -> Graph:
        """Return the running graph as a ``Graph`` (equal to ``graph`` once changes applied)."""
        return self._ctx.gate.read(self.wiring.running_graph)

    # -- injection ----------------------------------------------------------------------------

    @property
    def inputs_open(self) -> bool:
        """Whether input ports that no edge feeds stay open for :meth:`inject`.

        True for an execution started with ``Runtime.start()`` or ``launch()``: a node fed
        only through such ports waits for injected messages (it does not finish as a source
        that has nothing to do would) until :meth:`close_inputs`, :meth:`stop` or the
        execution's end. ``run()`` runs with them closed: nothing else can feed them.
        """
        return self._ctx.open_inputs

    def keep_inputs_open(self) -> None:
        """Keep unfed input ports open for ``inject`` (before the execution starts).

        Unless :meth:`close_inputs` was called already: a close is final.
        """
        if self.state is not ExecutionState.PENDING:
            raise ExecutionError(
                f"execution {self.id} is {self.state.value}; keep_inputs_open() comes before it "
                "starts"
            )
        if not self._inputs_closed:
            self._ctx.open_inputs = True

    def close_inputs(self) -> None:
        """Say no more is injected: nodes fed only through unfed input ports then finish.

        Once what was injected is handled, the execution completes as a graph of sources
        does. Idempotent; messages already injected are all delivered.
        """
        ctx = self._ctx
        self._inputs_closed = True

        def change() -> None:
            ctx.open_inputs = False
            ctx.gate.wake()

        ctx.gate.apply(change)

    def inject(self, node_id: str, port: str, value: Any, *, timeout: float | None = None) -> None:
        """Offer ``value`` (a payload or a ``Message``) to input ``port`` of ``node_id``.

        The payload is validated against the port's schema here, so a bad value raises in the
        caller. Injected messages queue on an edge of their own (``kind == "inject"``),
        counted like any other, and never hold the run open by themselves. Past about
        ``INJECT_LIMIT`` injected messages not yet taken (a paused run, a slow node; each
        caller looks every ``INJECT_LOOK`` injections) the caller waits for room, as a
        producer on a full edge would: up to ``timeout`` seconds, then ``TimeoutError``. From
        a hook on the execution's own loop, which cannot wait, it raises ``ExecutionError``
        instead; once the execution has ended, too.
        """
        self._injector.deliver([self._injector.check(node_id, port, value)], timeout)

    def replay(self, records: Iterable[ErrorRecord], *, timeout: float | None = None) -> int:
        """Inject each dead-letter record's payload, with its headers, where it failed.

        All or nothing: every record is checked first (its node, port and payload), and if
        one cannot be replayed nothing is, so a retry after fixing it duplicates nothing.
        Returns how many were replayed. Records of failed ticks (no port) are skipped.
        """
        injections = []
        for index, record in enumerate(records):
            if record.port is None:
                continue
            try:
                injections.append(
                    self._injector.check(
                        record.node_id,
                        record.port,
                        Message(record.payload, Headers(record.headers)),
                    )
                )
            except (ArachneError, ValueError) as exc:
                raise type(exc)(f"record {index} cannot be replayed, so none was: {exc}") from exc
        self._injector.deliver(injections, timeout)
        return len(injections)

    # -- observation --------------------------------------------------------------------------

    @property
    def chains(self) -> list[FusedChain]:
        """The fused chains running now (see docs/runtime.md, "Fusion")."""
        return list(self.wiring.chains)

    def stats(self) -> ExecutionStats:
        """Return every node and edge counter now, as one consistent, frozen snapshot.

        A read only: from another thread it waits for the loop's next yield and reads there.
        """
        return self._ctx.gate.read(self._snapshot)

    def _snapshot(self) -> ExecutionStats:
        wiring, ctx = self.wiring, self._ctx
        now = ctx.clock.now()
        end = self._finished if self._finished >= 0 else now
        return ExecutionStats(
            id=self.id,
            state=self.state.value,
            nodes={rn.id: rn.stats(now) for rn in wiring.nodes.values()},
            edges={edge.id: edge.stats() for edge in wiring.edges.values()},
            activations=ctx.activations,
            ready=len(ctx.ready),
            loop_lag=ctx.timers.lag,
            elapsed=end - self._began if self._began >= 0 else 0.0,
            latency=ctx.end_to_end.stats(),
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the execution has ended; return False if ``timeout`` passed first."""
        return self._done.wait(timeout)

    def raise_if_failed(self) -> None:
        """Raise the error that ended the execution, if it failed."""
        if self.error is not None:
            raise self.error

    @property
    def done(self) -> bool:
        """Whether the execution has ended."""
        return self._done.is_set()


def _log_failed_change(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("a change requested from inside a hook failed: %s", describe(exc))


def _checksum(graph: Graph) -> str | None:
    """Return the graph's checksum, or ``None`` if a config has no JSON form (a function)."""
    try:
        return graph.checksum()
    except (TypeError, ValueError):
        return None
