"""Execution: one running instance of a graph, assembled from its parts, with its controls.

The parts: the running graph (:class:`Wiring`), the shared run context (ready queue, timers,
clock, pools, event bus, gate), the controls, the rounds and the state. The scheduler gets
the context, the controls and the rounds; nothing below takes the ``Execution`` itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeGuard, TypeVar

from arachne.model.dead_letters import DeadLetters
from arachne.model.delta import GraphDelta, graph_delta
from arachne.model.error_record import ERROR_PORT
from arachne.model.errors import ArachneError, ExecutionError, GraphError, NodeFailed, describe
from arachne.model.flatten import node_spec
from arachne.model.graph import Graph
from arachne.model.message import Headers, Message
from arachne.model.policies import check_overflow
from arachne.model.schema import compatible
from arachne.model.specs import LinkSpec, PortRef, check_link_options
from arachne.runtime.checkpointing import (
    Checkpointer,
    CheckpointTarget,
    checksum_or_none,
    weakest,
)
from arachne.runtime.clock import Clock, MonotonicClock
from arachne.runtime.commit import CommitMode, Committer, check_commit_mode
from arachne.runtime.completion import close_outputs
from arachne.runtime.control import Controls
from arachne.runtime.events import CheckpointRestored, Event, EventBus, Subscription
from arachne.runtime.injection import MAX_BACKPRESSURE_QUEUE, Injector, check_queue_bound
from arachne.runtime.lifecycle import seed, start_node, stop_nodes
from arachne.runtime.lineage import Lineage, check_rate
from arachne.runtime.log_context import CURRENT_EXECUTION
from arachne.runtime.record import ExecutionFailure, ExecutionRecord
from arachne.runtime.recording import LogTarget, Recording
from arachne.runtime.rounds import Rounds
from arachne.runtime.run_context import RunContext
from arachne.runtime.scheduler import drive
from arachne.runtime.state import ExecutionState, StateCell
from arachne.runtime.stats import ExecutionStats
from arachne.runtime.watch import Taken, Watch, Watchers
from arachne.runtime.wiring import Wiring

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from concurrent.futures import Future

    from arachne.model.dead_letters import KeptLetters
    from arachne.model.error_record import ErrorRecord
    from arachne.model.node import Node
    from arachne.model.policies import Delivery, Overflow
    from arachne.runtime.edge import Edge
    from arachne.runtime.event_time import WatermarkSnapshot
    from arachne.runtime.fusion import FusedChain
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
        commit_mode: CommitMode = "auto",
        max_backpressure_queue: int = MAX_BACKPRESSURE_QUEUE,
        checkpoints: CheckpointTarget | None = None,
        checkpoint_every: float = 1.0,
        record: Iterable[str] = (),
        lineage: float | None = None,
    ) -> None:
        check_queue_bound(max_backpressure_queue)
        rate = check_rate(lineage)
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise ValueError(f"timeout must be a number of seconds > 0 or None, got {timeout!r}")
        self.id = execution_id or f"exec-{secrets.token_hex(8)}"  # 64 bits: no clash in practice
        self._commit_mode = check_commit_mode(commit_mode)
        # The desired graph and its node instances: changed from any thread (under the lock),
        # made the running one by commits.
        self._desired = threading.RLock()
        self.graph = graph
        self._instances = {nid: instances[nid] for nid in graph.nodes if nid in instances}
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
            lineage=None if rate is None else Lineage(rate),
        )
        self._began = self._finished = -1.0  # on the execution's clock (-1: not yet)
        ctx.timeout = timeout
        ctx.queue_bound = max_backpressure_queue
        self.checksum = checksum_or_none(
            graph
        )  # of the graph it was created from (None: no JSON form)
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
            # A span or a lineage hop per node: every hop a real one.
            fusion=fusion and tracer is None and rate is None,
            stopper=self._stop_from_node,
        )
        # Checkpointed into ``checkpoints`` (a resumed run restores from its newest one).
        self.checkpointer: Checkpointer | None = None
        if checkpoints is not None:
            self.checkpointer = Checkpointer(ctx, self.wiring, checkpoints, every=checkpoint_every)
            ctx.checkpointer = self.checkpointer
        self.wiring.build(graph, instances)
        # The event log: the run's events and its recorded edges' messages (with a store).
        self.recording: Recording | None = None
        record = list(record)
        if _keeps_log(checkpoints):
            self.recording = Recording(ctx, self.wiring, checkpoints, record)
            if self.checkpointer is not None:
                self.checkpointer.recording = self.recording
        elif record:
            raise ValueError(
                f"recording edges {', '.join(record)} needs a store to log them into: "
                "Runtime(store=SqliteStore('run.db'), record=[...]), arachne run --store FILE"
            )
        self._committer = Committer(ctx, self.wiring)
        self._watchers = Watchers(self._watched)
        self._live = asyncio.Event()  # set once every node has started: commits wait for it
        self._pending: list[_Pending] = []  # commits asked for while running, not yet done
        self._deferred: list[_Pending] = []  # of those, asked for before the run began
        self._size_pools()
        self.rounds = Rounds(ctx, self.wiring)
        self.error: BaseException | None = None
        self._injector = Injector(
            self.id,
            self.wiring,
            ctx.gate,
            ended=self._ended,
            ending=lambda: self._ending,
            limit=max_backpressure_queue,
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
            done = self.checkpointer.restore() if self.checkpointer is not None else []
            if self.recording is not None:
                recorded = self.checkpointer.recorded if self.checkpointer is not None else {}
                self._same_record(recorded)
                self.recording.start(recorded)
            restored = self.checkpointer.restored if self.checkpointer is not None else None
            if restored is not None and CheckpointRestored in self.events.wanted:
                self.events.publish(CheckpointRestored(execution_id=self.id, checkpoint=restored))
            for rn in list(self.wiring.nodes.values()):
                await start_node(ctx, rn)
            for node_id in done:  # finished at the checkpoint resumed from: so again
                rn = self.wiring.nodes[node_id]
                rn.finishing = True
                close_outputs(ctx, rn)
            self.wiring.overlay()
            self._state.move(ExecutionState.RUNNING)
            if self.controls.pause_asked and not self.controls.stopping:  # asked before it ran
                self.controls.paused = True
                self._state.move(ExecutionState.PAUSED)
            for rn in self.wiring.nodes.values():
                if not rn.finished:
                    seed(ctx, rn)
            if self.checkpointer is not None:
                self.checkpointer.start()
            self._live.set()
            for pending in self._deferred:
                ctx.spawn(self._commit_live(pending))
            self._deferred.clear()
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
            # Removed nodes still stopping, first (given TASK_GRACE: one may wait on a commit
            # that only the end of the run resolves).
            await self._committer.settle(timeout=TASK_GRACE)
            if self.error is None and ctx.failure is not None:  # such a node's on_stop failed
                self.error = ctx.failure
            order = reversed(list(self.wiring.nodes.values()))
            stop_error = await stop_nodes(ctx, order)
            # Commits the run did not get to, to the graphs alone; before the pools close, as
            # a call still finishing in a worker thread may wait for one.
            self._commit_left()
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
            self._commit_left()  # (any asked for while the pools closed)
            for rn in self.wiring.nodes.values():  # read out, their histograms let go
                rn.timing.latency.freeze()
            ctx.end_to_end.freeze()
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
            if self.checkpointer is not None:
                # A run stopped on purpose drained to an early end: it is not complete, so it
                # stays resumable from its last checkpoint (only "completed" starts one over).
                stopped = final is ExecutionState.COMPLETED and self.controls.stopping
                self.checkpointer.ended("stopped" if stopped else final.value)
            if not self._state.value.is_final:
                error = describe(self.error) if self.error is not None else None
                self._state.move(final, error=error)
            if self.recording is not None:
                self.recording.close()  # (the final state logged too)
        finally:
            try:
                ctx.gate.close()
            finally:
                self._done.set()

    def _same_record(self, recorded: Mapping[str, int]) -> None:
        """Refuse to resume recording other edges than the checkpoint did (a partial log)."""
        checkpointer, recording = self.checkpointer, self.recording
        if checkpointer is None or recording is None or checkpointer.restored is None:
            return
        if set(recorded) != set(recording.edges):
            was = ", ".join(sorted(recorded)) or "no edge"
            flags = " ".join(f"--record {edge}" for edge in sorted(recorded)) or "no --record"
            raise ExecutionError(
                f"this run recorded {was}, so its log would be partial otherwise; resume it "
                f"recording the same edges ({flags}; record=[...] in Python), or start it "
                "over (--fresh)"
            )

    @property
    def delivery(self) -> Delivery:
        """The weakest promise of its sinks (nodes with no output linked) across a recovery."""
        return weakest(
            [
                rn.node.delivery
                for rn in self.wiring.nodes.values()
                if not any(outs for port, outs in rn.outputs.items() if port != ERROR_PORT)
            ]
        )

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

    def watch(self, callback: Callable[[Taken], None]) -> Watch:
        """Call ``callback`` with each batch of messages a node takes from an edge of the graph.

        Called on the loop thread, so it must be quick; fusion is off while anybody watches
        (see ``arachne.runtime.watch``). ``close()`` the returned :class:`Watch` to stop.
        """
        return self._watchers.add(callback)

    def _watched(self, _: bool) -> None:
        watchers = self._watchers
        # Applied in order on the loop: each looks at the watchers as they are by then.
        self._ctx.gate.apply(lambda: self.wiring.set_tap(watchers if watchers.watches else None))

    # -- the running graph --------------------------------------------------------------------

    def edge(self, edge_id: str) -> Edge:
        """Return the running edge ``edge_id``; ``GraphError`` naming the known ids if none."""
        return self.wiring.edge(edge_id)

    # -- the desired graph, and commits --------------------------------------------------------

    @property
    def commit_mode(self) -> CommitMode:
        """``auto``: each change below is committed at once; ``manual``: at :meth:`commit`.

        Set back to ``auto``, what gathered is committed at once; if that fails, the desired
        graph is taken back to the running one (:meth:`revert`) and the error raised (the
        mode is ``auto`` all the same).
        """
        return self._commit_mode

    @commit_mode.setter
    def commit_mode(self, mode: CommitMode) -> None:
        # Back to auto: what gathered meanwhile is committed first.
        was, self._commit_mode = self._commit_mode, check_commit_mode(mode)
        if was == "manual" and mode == "auto":
            try:
                self.commit()
            except Exception:
                self.revert()  # auto mode: what is desired is what runs
                raise

    @property
    def instances(self) -> dict[str, Node]:
        """The node instances of the desired graph, by id (a copy)."""
        with self._desired:
            return dict(self._instances)

    def plan(self) -> GraphDelta:
        """Return what :meth:`commit` would change now, changing nothing (a dry run).

        ``print(ex.plan())`` shows it one line per change.
        """
        desired, instances = self._take()
        return self._ctx.gate.read(lambda: self._committer.plan(desired, instances))

    def revert(self) -> GraphDelta:
        """Drop the changes not committed: the desired graph becomes the running one again.

        Returns what was dropped (the plan as it was).
        """
        dropped = self.plan()

        def back() -> None:
            with self._desired:
                self.graph = self.wiring.running_graph()
                self._instances = {n: rn.node for n, rn in self.wiring.nodes.items()}

        with self._desired:  # (the lock order: the desired graph's, then the gate's)
            future = self._ctx.gate.submit(back)
        if not self._ctx.gate.on_loop() and not _on_a_loop():
            future.result()
        return dropped

    def commit(self) -> GraphDelta:
        """Make the running graph the desired one; return what changed (see ``runtime.commit``).

        Added nodes are started first, then the graph is switched in one go between two
        activations, then removed nodes are stopped. If an ``on_start`` or ``on_config``
        raises, everything is put back and ``CommitFailed`` raised: the running graph runs on
        as it was, and the desired graph keeps the changes. A change that cannot apply (a
        link into a finished node, say) raises before anything is touched. Called from a
        hook, it cannot wait: it returns the plan, the commit applies after the hook's turn,
        and a failure is logged.
        """
        pending = _Pending(self._take)
        with self._desired:
            self._enqueue(pending)
        result = self._outcome(pending)
        if result is None:
            return self._committer.plan(*self._take())
        return result[0]

    def _enqueue(self, pending: _Pending) -> None:
        """Hand ``pending`` to the loop (at once if none runs); call it holding ``_desired``.

        Commits are enqueued in the order of the desired graph's edits and applied in that
        order: at once between two activations if no other is under way, else as tasks that
        take their turns in order.
        """
        gate = self._ctx.gate

        def begin() -> None:
            if not gate.running or self._ending:
                if self.launched and self._state.value is ExecutionState.PENDING:
                    # Launched, not begun: it waits for the run's start, as a live commit.
                    self._pending.append(pending)
                    self._deferred.append(pending)
                    self._committer.queued += 1
                elif self._pending:  # the run's end commits those first, then this one
                    self._pending.append(pending)
                else:
                    self._commit_offline(pending)
                return
            if self._live.is_set():  # between two activations: at once if it can be
                try:
                    result = self._committer.apply_now(pending.take)
                except Exception as exc:
                    self._failed(pending, exc)
                    return
                if result is not None:
                    self._size_pools()
                    pending.future.set_result(result)
                    return
            self._pending.append(pending)
            self._committer.queued += 1
            self._ctx.spawn(self._commit_live(pending))

        gate.apply(begin)

    def _outcome(
        self, pending: _Pending, *, wait: bool = True
    ) -> tuple[GraphDelta, dict[str, int]] | None:
        """Wait for ``pending`` and return what it committed, or raise its error.

        ``None`` without ``wait`` or on a loop's thread (from a hook), which cannot wait:
        the commit applies at the loop's next yield and a failure is logged.
        """
        if not wait or self._ctx.gate.on_loop() or _on_a_loop():
            pending.future.add_done_callback(_log_failed_change)
            return None
        return pending.future.result()

    async def _commit_live(self, pending: _Pending) -> None:
        pending.task = asyncio.current_task()
        try:
            await self._live.wait()  # the run's own start comes first
            result = await self._committer.apply_live(
                pending.take, wanted=lambda: not pending.future.done()
            )
        except asyncio.CancelledError:
            raise  # the run ends before it applied: the run's end commits it to the graphs
        except BaseException as exc:
            self._settled(pending)
            if not pending.future.done():
                self._failed(pending, exc)
        else:
            self._settled(pending)
            if not pending.future.done():
                self._size_pools()
                pending.future.set_result(result)

    def _settled(self, pending: _Pending) -> None:
        if pending in self._pending:
            self._pending.remove(pending)

    def _commit_offline(self, pending: _Pending) -> None:
        if pending.future.done():
            return
        try:
            result = self._committer.apply_offline(*pending.take())
        except Exception as exc:
            self._failed(pending, exc)
        else:
            self._size_pools()
            pending.future.set_result(result)

    def _commit_left(self) -> None:
        """At the run's end: commit to the graphs what the run did not get to, in order.

        One whose task ignored its cancel and still starts nodes is not applied (those nodes
        are let go when it wakes): its caller gets ``ExecutionError``.
        """
        while self._pending:
            pending = self._pending.pop(0)
            if pending.task is not None and not pending.task.done():
                self._failed(
                    pending,
                    ExecutionError(
                        f"execution {self.id} ended while the change was being applied (a "
                        "node's on_start ignored the cancel); it was not applied"
                    ),
                )
                continue
            self._commit_offline(pending)

    def _failed(self, pending: _Pending, exc: BaseException) -> None:
        if pending.undo is not None:
            pending.undo()
        pending.future.set_exception(exc)

    def _take(self) -> tuple[Graph, dict[str, Node]]:
        with self._desired:
            return self.graph, dict(self._instances)

    def _change(
        self, change: Callable[[Graph, dict[str, Node]], Graph], *, wait: bool = True
    ) -> tuple[GraphDelta, dict[str, int]] | None:
        """Make ``change`` to the desired graph (and its instances), all or nothing.

        In ``auto`` mode that change alone is then committed: applied to the running graph as
        it is when its turn comes, and if it fails, undone in the desired graph too (what
        later changes made there stays). Returns what was committed (``None`` in ``manual``
        mode, from a hook, or without ``wait``).
        """
        with self._desired:
            before, kept = self.graph, self._instances
            instances = dict(kept)
            after = change(before, instances)
            self.graph, self._instances = after, instances
            if self._commit_mode == "manual":
                return None
            replaced = [n for n in after.nodes if n in kept and instances[n] is not kept[n]]
            delta = graph_delta(before, after, replaced=replaced)
            if not delta:
                return delta, {}
            added = {spec.id: instances[spec.id] for spec in delta.added_nodes}

            def take() -> tuple[Graph, dict[str, Node]]:
                running = {node_id: rn.node for node_id, rn in self.wiring.nodes.items()}
                return delta.apply_to(self.wiring.running_graph()), {**running, **added}

            pending = _Pending(take, lambda: self._undo(delta, added, kept))
            self._enqueue(pending)  # under the lock: commits go in the order of the edits
        return self._outcome(pending, wait=wait)

    def _undo(self, delta: GraphDelta, added: Mapping[str, Node], kept: Mapping[str, Node]) -> None:
        """Take a failed ``auto`` change out of the desired graph, leaving later ones."""
        with self._desired:
            instances = dict(self._instances)
            superseded = [s.id for s in delta.added_nodes if instances.get(s.id) is not added[s.id]]
            try:
                graph = delta.take_back(self.graph, superseded=superseded)
            except GraphError:
                log.warning("a failed change could not be taken out of the desired graph")
                return
            for spec in delta.added_nodes:
                if spec.id not in graph.nodes:
                    instances.pop(spec.id, None)
            for spec in delta.removed_nodes:
                if graph.nodes.get(spec.id) is spec:  # put back by take_back
                    instances[spec.id] = kept[spec.id]
            self.graph, self._instances = graph, instances

    # -- changes ------------------------------------------------------------------------------

    def set_capacity(self, edge_id: str, capacity: int) -> None:
        """Change an edge's capacity (committed in ``auto`` mode).

        Raised, a full edge wakes its blocked producer; shrunk, the excess is handled by the
        edge's overflow policy, counted (see ``Edge.set_capacity``). Like the two below, it
        checks the value and returns without waiting: the edge changes at the loop's next
        yield (a node blocking the loop may be what the caller is about to free).
        """
        self._tune(edge_id, capacity=capacity)

    def set_priority(self, edge_id: str, priority: int) -> None:
        """Change an edge's priority (committed in ``auto`` mode)."""
        self._tune(edge_id, priority=priority)

    def set_overflow(self, edge_id: str, overflow: Overflow) -> None:
        """Change an edge's overflow policy (committed in ``auto`` mode)."""
        self._tune(edge_id, overflow=check_overflow(overflow))

    def _tune(self, edge_id: str, **changes: Any) -> None:
        if edge_id not in self.graph.links and not edge_id.startswith("inject->"):
            known = ", ".join(self.graph.links) or "none"
            raise GraphError(f"unknown edge {edge_id!r}; known edges: {known}")
        if edge_id in self.graph.links:
            self._change(lambda graph, _: graph.replace_link(edge_id, **changes), wait=False)
            return
        # An edge made for inject calls: not in the graphs, tuned in place.
        if "capacity" in changes:
            raise GraphError(
                f"edge {edge_id!r} carries inject calls: its bound is the runtime's "
                "max_backpressure_queue; change its overflow policy instead"
            )
        self._tune_inject(edge_id, changes)

    def _tune_inject(self, edge_id: str, changes: dict[str, Any]) -> None:
        node_id, _, port = edge_id.removeprefix("inject->").rpartition(".")
        self._injector.check_port(node_id, port)
        check_link_options(
            1, changes.get("overflow", "block"), changes.get("priority", 0), where=edge_id
        )
        if "overflow" in changes:
            if changes["overflow"] == "fail":
                self._injector.strict.add(edge_id)
            else:
                self._injector.strict.discard(edge_id)

        def change() -> None:
            if node_id not in self.wiring.nodes:
                return
            if "overflow" in changes:
                edge = self.wiring.set_inject_overflow(node_id, port, changes["overflow"])
            else:
                edge = self.wiring.inject_edge(node_id, port)
                edge.set_priority(changes["priority"])
            self.wiring.retuned(edge)

        self._ctx.gate.apply(change)

    def add_node(self, node: Node, *, node_id: str | None = None) -> str:
        """Add ``node`` (not yet linked) to the graph; return its id.

        Committed (``auto`` mode) while the execution runs, the node is started (``on_start``)
        before it joins, and takes part from its first edge on. ``GraphError`` if the id is
        taken; ``CommitFailed`` if its ``on_start`` raises (then it is not added).
        """
        spec = node_spec(node_id or node.name(), node)

        def change(graph: Graph, instances: dict[str, Node]) -> Graph:
            if spec.id in graph.nodes:
                raise GraphError(f"node {spec.id!r} exists already; give the new node another id")
            instances[spec.id] = node
            return graph.with_node(spec)

        self._change(change)
        return spec.id

    def remove_node(self, node_id: str) -> None:
        """Remove node ``node_id`` from the graph (its links must be gone); ``on_stop`` runs."""

        def change(graph: Graph, instances: dict[str, Node]) -> Graph:
            smaller = graph.without_node(node_id)
            instances.pop(node_id, None)
            return smaller

        self._change(change)

    def update_config(self, node_id: str, config: Mapping[str, Any]) -> bool:
        """Give node ``node_id`` a new ``config`` (the whole of it); return whether it changed.

        Configs are compared by content (``==``): an equal one changes nothing. Committed
        while the node runs, it gets the config through ``on_config`` (which it must override;
        ``ExecutionError`` if it does not); if that raises, the old config stays in both
        graphs and in the node, and ``CommitFailed`` is raised. Other nodes, and this node's
        state and queued messages, are untouched. ``NodeReconfigured`` is published.
        ``on_config`` runs on the execution's loop: for a node whose calls run in threads or
        processes, calls already in flight finish with the config they started with.
        """
        new = dict(config)
        changed = False

        def change(graph: Graph, _: dict[str, Node]) -> Graph:
            nonlocal changed
            spec = graph.nodes.get(node_id)
            if spec is None:
                known = ", ".join(graph.nodes) or "none"
                raise GraphError(f"unknown node {node_id!r}; known nodes: {known}")
            if dict(spec.config) == new:
                return graph
            changed = True
            return graph.replace_node(node_id, config=new)

        self._change(change)
        return changed

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
        """Link output ``source`` (node, port) to input ``target``; return the link's id.

        Committed while the execution runs, messages flow from the source's next emit.
        ``GraphError`` for unknown nodes or ports, a taken id or a cycle; ``ExecutionError``
        if the target has finished.
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

        def change(graph: Graph, _: dict[str, Node]) -> Graph:
            if link.id in graph.links:
                raise GraphError(f"edge {link.id!r} exists already; give the new edge another id")
            for ref, side in ((link.source, "output"), (link.target, "input")):
                spec = graph.nodes.get(ref.node)
                if spec is None:
                    known = ", ".join(graph.nodes) or "none"
                    raise GraphError(f"unknown node {ref.node!r}; known nodes: {known}")
                ports = spec.outputs if side == "output" else spec.inputs
                if all(port.name != ref.port for port in ports):
                    names = ", ".join(port.name for port in ports) or "none"
                    raise GraphError(
                        f"node {ref.node!r} has no {side} {ref.port!r}; its {side}s: {names}"
                    )
            out = graph.nodes[link.source.node].output(link.source.port)
            inp = graph.nodes[link.target.node].input(link.target.port)
            if out is not None and inp is not None and not compatible(out.adapter, inp.adapter):
                raise GraphError(
                    f"port {link.source.port!r} of node {link.source.node!r} emits "
                    f"{out.schema_name} but port {link.target.port!r} of node "
                    f"{link.target.node!r} expects {inp.schema_name}; add a map node between "
                    "them or change one of the schemas"
                )
            bigger = graph.with_link(link)
            if bigger.topology.cycles:
                raise GraphError(
                    f"edge {link.id} would close a cycle through {link.source.node!r}; "
                    "a graph must be acyclic"
                )
            return bigger

        self._change(change)
        return link.id

    def disconnect(self, edge_id: str) -> int:
        """Remove link ``edge_id``; return how many queued messages it dropped.

        Those messages are counted (``dropped`` in the edge's last stats, kept in
        ``wiring.retired_edges``) and announced as ``EdgeRemoved``. The output it left is a
        plug: what its source emits there from now on is counted (``unrouted``) and dropped.
        In ``manual`` mode, or called from a hook, nothing is dropped yet and 0 is returned.
        """
        result = self._change(lambda graph, _: graph.without_link(edge_id))
        return result[1].get(edge_id, 0) if result is not None else 0

    def update_graph(self, graph: Graph, instances: Mapping[str, Node]) -> GraphDelta:
        """Make ``graph``, run by ``instances`` (by node id), the desired graph; return the delta.

        The way to apply a whole new version of a graph (a reloaded document, say): nodes
        kept under their id with the same instance keep their state and queued messages, a
        config that alone changed is hot-reloaded (``on_config``), a node given another
        instance is replaced. Committed in ``auto`` mode (the delta applied is returned), else
        the delta a commit would apply. ``GraphError`` for a node with no instance or a cycle.
        """
        missing = [node_id for node_id in graph.nodes if node_id not in instances]
        if missing:
            raise GraphError(
                f"node {missing[0]!r} has no instance to run; pass one for every node of the graph"
            )
        cycles = graph.topology.cycles
        if cycles:
            cycle = " -> ".join(cycles[0])
            raise GraphError(f"cycle {cycle}; remove one of these links (a graph must be acyclic)")
        chosen = {node_id: instances[node_id] for node_id in graph.nodes}

        def change(_: Graph, kept: dict[str, Node]) -> Graph:
            kept.clear()
            kept.update(chosen)
            return graph

        if self._commit_mode == "manual":
            self._change(change)
            return self.plan()
        result = self._change(change)
        return result[0] if result is not None else GraphDelta()

    def running_graph(self) -> Graph:
        """Return the running graph as a ``Graph`` (equal to ``graph`` once committed)."""
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
        caller. Injected messages queue on an edge of their own (``"inject->node.port"``),
        counted like any other, and never hold the run open by themselves. Past about
        ``max_backpressure_queue`` injected messages not yet taken (a paused run, a slow node;
        each caller looks every ``INJECT_LOOK`` injections) that edge's overflow policy
        applies (``set_overflow``): under ``block``, the default, the caller waits for room,
        as a producer on a full edge would: up to ``timeout`` seconds, then ``TimeoutError``
        (from a hook on the execution's own loop, which cannot wait, ``ExecutionError``);
        under ``fail`` it gets ``EdgeFull``; ``drop``, ``latest`` and a ``Coalesce`` shed on
        the edge, counted. Once the execution has ended, ``ExecutionError``.
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

    def dead_letters(self) -> dict[str, KeptLetters]:
        """Return what each ``DeadLetters`` node of the running graph keeps now, by node id.

        A read, as :meth:`stats`: one consistent snapshot from any thread, each record with
        the number it got on arrival (for :meth:`remove_dead_letters`).
        """
        return self._ctx.gate.read(
            lambda: {
                rn.id: rn.node.kept()
                for rn in self.wiring.nodes.values()
                if isinstance(rn.node, DeadLetters)
            }
        )

    def remove_dead_letters(self, node_id: str, seqs: Iterable[int]) -> int:
        """Remove the records numbered ``seqs`` from ``DeadLetters`` node ``node_id``.

        Returns how many it still kept; records that arrived meanwhile are untouched. Done
        where a read runs (between two activations), so it waits from another thread and a
        hook may call it. ``GraphError`` if the running graph has no such ``DeadLetters``.
        """
        wanted = frozenset(seqs)

        def remove() -> int:
            rn = self.wiring.nodes.get(node_id)
            if rn is None or not isinstance(rn.node, DeadLetters):
                sinks = [n for n, r in self.wiring.nodes.items() if isinstance(r.node, DeadLetters)]
                raise GraphError(
                    f"node {node_id!r} is not a DeadLetters node of the running graph; "
                    f"those are: {', '.join(sinks) or 'none'}"
                )
            return rn.node.remove(wanted)

        return self._ctx.gate.read(remove)

    # -- observation --------------------------------------------------------------------------

    @property
    def chains(self) -> list[FusedChain]:
        """The fused chains running now (see docs/runtime.md, "Fusion")."""
        return list(self.wiring.chains)

    @property
    def lineage(self) -> Lineage | None:
        """Where sampled messages came from (``None``: lineage is off; see ``runtime.lineage``).

        ``execution.lineage.explain(msg)`` names the inputs and nodes behind a message that
        carries a lineage id; ``recent(node_id)`` explains a node's latest handlings.
        """
        return self._ctx.lineage

    def taint_counts(self) -> dict[tuple[str, str, str], int]:
        """Per input route and label, the messages that arrived carrying it (runtime.taints).

        Keys are ``(node, port, label)``.
        """
        return self._ctx.taints.snapshot()

    def watermarks(self) -> dict[str, WatermarkSnapshot]:
        """Return the event time of every node a watermark has reached, by node id.

        Each says the node's input watermark, which input holds it, whether it is idle, and
        what it last sent on (runtime.watermarks). Empty while no node has said one.
        """
        return self._ctx.gate.read(self.wiring.watermarks.snapshot)

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


class _Pending:
    """A commit asked for: what to make running, how to undo it if it fails, and its result."""

    __slots__ = ("future", "take", "task", "undo")

    def __init__(
        self,
        take: Callable[[], tuple[Graph, dict[str, Node]]],
        undo: Callable[[], None] | None = None,
    ) -> None:
        self.take = take
        self.undo = undo
        self.task: asyncio.Task[Any] | None = None  # applying it on the loop, if one is
        self.future: concurrent.futures.Future[tuple[GraphDelta, dict[str, int]]]
        self.future = concurrent.futures.Future()


def _on_a_loop() -> bool:
    """Whether the caller runs on an event loop's thread (a hook, of any execution)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _log_failed_change(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("a change nobody waited for (asked inside a hook, say) failed: %s", describe(exc))


def _keeps_log(target: object) -> TypeGuard[_LoggedTarget]:
    """Whether a checkpoint target keeps an event log too (``arachne.durable.Run`` does)."""
    return callable(getattr(target, "append_log", None)) and callable(
        getattr(target, "cut_log", None)
    )


class _LoggedTarget(CheckpointTarget, LogTarget, Protocol):
    """A checkpoint target that keeps the event log as well."""
