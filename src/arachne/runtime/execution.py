"""Execution: one running instance of a graph, with its state and its controls."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import secrets
import threading
from typing import TYPE_CHECKING, Any

from arachne.model.errors import ExecutionError, NodeFailed
from arachne.runtime.binding import bind, unbind
from arachne.runtime.clock import Clock, MonotonicClock
from arachne.runtime.completion import describe, stop_nodes
from arachne.runtime.fusing import fuse, sync_counters
from arachne.runtime.hook import Event, EventHook
from arachne.runtime.pools import Pools
from arachne.runtime.ready_queue import ReadyQueue
from arachne.runtime.running_node import NO_INPUT_RANK
from arachne.runtime.scheduler import drive
from arachne.runtime.slot import invoke
from arachne.runtime.state import ExecutionState, check_transition
from arachne.runtime.stats import ExecutionStats
from arachne.runtime.ticking import schedule_ticks
from arachne.runtime.timers import Timers
from arachne.runtime.tuning import ExecutionTuning
from arachne.runtime.wiring import wire

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping

    from arachne.model.graph import Graph
    from arachne.model.node import Node
    from arachne.runtime.running_node import RunningNode

__all__ = ["Execution"]

log = logging.getLogger("arachne.runtime")


class Execution(ExecutionTuning):
    """One running instance of a graph: the desired ``graph`` and the running ``wiring``.

    Created by ``Runtime``; driven by :meth:`run` on the runtime's loop. Its controls
    (``stop``, ``pause``, ``set_capacity``, ...) may be called from any thread.
    """

    def __init__(
        self,
        graph: Graph,
        instances: Mapping[str, Node],
        *,
        execution_id: str | None = None,
        quantum: int = 256,
        clock: Clock | None = None,
        hook: EventHook | None = None,
        idle_poll: float = 0.001,
        seed: int | None = None,
        trace: bool = False,
        fusion: bool = True,
        batch: int = 1024,
    ) -> None:
        for name, value in (("quantum", quantum), ("batch", batch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self.id = execution_id or f"exec-{secrets.token_hex(4)}"
        self.graph = graph
        self.quantum = quantum
        self.batch = batch
        self.clock: Clock = clock or MonotonicClock()
        self.hook = hook
        self.idle_poll = idle_poll
        self.trace = trace
        self.state = ExecutionState.PENDING
        self.ready = ReadyQueue()
        self.wiring = wire(graph, instances, self.ready, execution_id=self.id)
        self.chains = fuse(self, self.wiring) if fusion else []
        self.timers = Timers()
        self.idle_sources: list[RunningNode] = []
        self.tasks: set[asyncio.Future[Any]] = set()
        self.rng = random.Random(seed)  # noqa: S311  # retry jitter, not cryptography
        self.pools = Pools(
            threads=sum(rn.concurrency for rn in self.wiring.nodes.values() if rn.mode == "thread"),
            processes=sum(
                rn.concurrency for rn in self.wiring.nodes.values() if rn.mode == "process"
            ),
            name=self.id,
        )
        self.activations = 0
        self._injected = 0
        self.failure: BaseException | None = None  # raised by the scheduler at its next look
        self.error: BaseException | None = None
        self.stop_requested = self.cancel_requested = self.paused = False
        self.interrupted = False  # a control call landed: the scheduler looks at it next
        self._round_mark = -1
        self._done = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._resumed: asyncio.Event | None = None

    # -- driving (on the loop) ----------------------------------------------------------------

    async def run(self) -> None:
        """Start every node, run until completion, stop every node; raise if a node failed."""
        self._loop = asyncio.get_running_loop()
        self._wake, self._resumed = asyncio.Event(), asyncio.Event()
        try:
            self._set_state(ExecutionState.INITIALIZING)
            await self._start_nodes()
            self._set_state(ExecutionState.RUNNING)
            self._seed()
            await drive(self)
        except BaseException as exc:
            self.error = exc
        finally:
            await self._finish()
        if self.error is not None:
            raise self.error

    async def _start_nodes(self) -> None:
        prefix = f"{self.id[-8:]}-"
        stopper = self._stop_from_node
        for index, rn in enumerate(self.wiring.nodes.values()):
            bind(rn, f"{prefix}{index:x}.", stopper, stamp=self.trace)
        for rn in self.wiring.nodes.values():
            try:
                result = invoke(rn.node.on_start)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                rn.errors += 1
                raise NodeFailed(rn.id, f"on_start raised {describe(exc)}") from exc
            rn.started = True
            self.notify("node.started", rn.id)

    def _stop_from_node(self, drain: bool) -> None:
        self.request_stop(drain=drain)

    def _seed(self) -> None:
        now = self.clock.now()
        for rn in self.wiring.nodes.values():
            if rn.cadence:
                schedule_ticks(self, rn, now)
            elif rn.is_source:
                self.ready.add(rn, NO_INPUT_RANK)

    async def _finish(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        stop_error = await stop_nodes(self)
        self.pools.close()
        for rn in self.wiring.nodes.values():
            unbind(rn)
        if self.error is None and stop_error is not None:
            self.error = stop_error
        if self.error is not None:
            final = ExecutionState.FAILED
            log.error("execution %s failed: %s", self.id, describe(self.error))
        elif self.cancel_requested:
            final = ExecutionState.CANCELLED
        else:
            final = ExecutionState.COMPLETED
        if not self.state.is_final:
            self._set_state(final)
        self._done.set()

    # -- used by the scheduler -----------------------------------------------------------------

    @property
    def wake(self) -> asyncio.Event:
        """Set to interrupt the scheduler's wait (a request arrived)."""
        if self._wake is None:
            raise ExecutionError(f"execution {self.id} is not running")
        return self._wake

    def notify(self, kind: str, node_id: str = "", **detail: Any) -> None:
        """Pass an event to the hook, if one is installed."""
        hook = self.hook
        if hook is not None:
            hook(Event(kind, self.id, node_id, detail))

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task of this execution (cancelled if the execution is)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def fail_soon(self, failure: BaseException) -> None:
        """Fail the execution from a callback: the scheduler raises ``failure`` next."""
        if self.failure is None:
            self.failure = failure
        self.wake.set()

    async def wait_resumed(self) -> None:
        """Wait until ``resume()`` (or a stop) is requested."""
        assert self._resumed is not None  # noqa: S101  # set in run() before the loop starts
        await self._resumed.wait()
        self._resumed.clear()

    def _set_state(self, state: ExecutionState) -> None:
        check_transition(self.state, state)
        self.state = state
        self.notify("execution.state", state=state.value)

    # -- observation ---------------------------------------------------------------------------

    def stats(self) -> ExecutionStats:
        """Return every node and edge counter now, as one frozen snapshot."""
        sync_counters(self.chains)
        return ExecutionStats(
            id=self.id,
            state=self.state.value,
            nodes={rn.id: rn.stats() for rn in self.wiring.nodes.values()},
            edges={edge.id: edge.stats() for edge in self.wiring.edges.values()},
            activations=self.activations,
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
