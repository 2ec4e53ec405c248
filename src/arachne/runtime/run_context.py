"""What the parts of one running execution share: queues of work, time, events and limits.

The scheduler and the turn functions (activation, ticks, calls off the loop, completion,
error policies) take a :class:`RunContext` and a node, never the ``Execution``: this is the
narrow interface between the engine and the object users hold.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any, Final, Protocol

from arachne.model.errors import ExecutionError
from arachne.runtime.gate import Gate
from arachne.runtime.pools import Pools
from arachne.runtime.ready_queue import ReadyQueue
from arachne.runtime.simulation import current as current_simulation
from arachne.runtime.taints import TaintCounts
from arachne.runtime.timers import Timers
from arachne.runtime.timing import Latency

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from arachne.runtime.clock import Clock
    from arachne.runtime.events import EventBus
    from arachne.runtime.lineage import Lineage
    from arachne.runtime.running_node import RunningNode
    from arachne.runtime.tracing import Tracer

__all__ = ["SLICE", "CheckpointHooks", "RunContext", "WatermarkHooks", "next_chunk"]

SLICE: Final = 0.002
"""Seconds one activation may run before due timers and other nodes get their turn.

The activation takes its messages in chunks sized from how long earlier ones took, and looks
at the clock between chunks, so a node taking 2 ms per message yields after one message while
a fast one takes its whole quantum in one chunk (one clock read per quantum).
"""


def next_chunk(taken: int, elapsed: float, cap: int) -> int:
    """Return how many messages to take next, given that ``taken`` took ``elapsed`` seconds.

    Aims a chunk at half the slice: a node taking 2 ms per message gets one at a time, one
    taking 200 ns gets a whole quantum (the clock is then read once per quantum).
    """
    if elapsed <= 0:
        return cap
    return max(1, min(cap, int(SLICE / 2 * taken / elapsed)))


class CheckpointHooks(Protocol):
    """What the scheduler tells a checkpointed run's ``Checkpointer`` (runtime.checkpointing)."""

    def turn_ended(self, rn: RunningNode) -> None:
        """Let a barrier pass ``rn`` if it is aligned now (after a turn or call of it)."""
        ...

    def node_finishing(self, rn: RunningNode) -> None:
        """Let a barrier pass ``rn`` before its ``on_finish``: it has taken all its input."""
        ...

    def node_finished(self, rn: RunningNode) -> None:
        """Let a barrier pass ``rn`` now that it has finished."""
        ...

    def graph_changed(self) -> None:
        """Start over with a checkpoint of the graph a commit just changed."""
        ...


class WatermarkHooks(Protocol):
    """What the scheduler tells the execution's ``Watermarks`` (runtime.watermarks)."""

    def passed(self, rn: RunningNode) -> None:
        """Take the watermarks ``rn`` has passed on its inputs, and send them on if it moved."""
        ...


class RunContext:
    """The shared state of one running execution, below the ``Execution`` object itself.

    ``quantum`` bounds the messages of one activation, ``batch`` the items a pulled source
    hands on per turn; ``trace`` stamps headers on messages that start at a source;
    ``tracer`` opens spans along the graph (``runtime.tracing``; it implies stamping);
    ``lineage`` records where sampled messages came from (``runtime.lineage``; it implies
    stamping); ``taints`` counts taint labels per input route (``runtime.taints``);
    ``check_types`` checks every emitted value against its port's schema; ``metrics`` times
    nodes and samples latency (``runtime.timing``) into their histograms and ``end_to_end``.
    """

    __slots__ = (
        "activations",
        "batch",
        "bus",
        "cancel",
        "check_types",
        "checkpointer",
        "clock",
        "deadline",
        "end_to_end",
        "execution_id",
        "failure",
        "gate",
        "idle_poll",
        "idle_sources",
        "lineage",
        "metrics",
        "open_inputs",
        "pools",
        "quantum",
        "queue_bound",
        "ready",
        "rng",
        "taints",
        "tasks",
        "timeout",
        "timers",
        "trace",
        "tracer",
        "watermarks",
    )

    def __init__(
        self,
        execution_id: str,
        *,
        clock: Clock,
        bus: EventBus,
        quantum: int = 256,
        batch: int = 1024,
        seed: int | None = None,
        trace: bool = False,
        check_types: bool = False,
        idle_poll: float = 0.001,
        metrics: bool = True,
        tracer: Tracer | None = None,
        lineage: Lineage | None = None,
    ) -> None:
        for name, value in (("quantum", quantum), ("batch", batch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self.execution_id = execution_id
        self.clock = clock
        self.bus = bus
        self.quantum = quantum
        self.batch = batch
        self.trace = trace
        self.tracer = tracer
        self.lineage = lineage
        self.taints = TaintCounts()
        self.check_types = check_types
        self.metrics = metrics
        # Input ports no edge feeds stay open for inject (an execution started to be fed);
        # closed, a node fed only through them ends as its sources do (Rounds).
        self.open_inputs = False
        self.timeout: float | None = None  # seconds an execution may run (None: no limit)
        self.queue_bound = 10_000  # injected messages an input queues (max_backpressure_queue)
        self.deadline: float | None = None  # when it times out, on its clock (set at start)
        self.end_to_end = Latency()
        self.idle_poll = idle_poll
        simulation = current_simulation()  # (its oracle breaks the ready queue's ties)
        self.ready: ReadyQueue[RunningNode] = (
            ReadyQueue() if simulation is None else simulation.ready_queue()
        )
        self.timers = Timers()
        self.gate = Gate()
        self.pools = Pools(execution_id)
        self.rng = random.Random(seed)  # noqa: S311  # retry jitter, not cryptography
        self.tasks: set[asyncio.Future[Any]] = set()
        self.idle_sources: list[RunningNode] = []
        self.failure: BaseException | None = None  # raised by the scheduler at its next look
        self.activations = 0
        self.checkpointer: CheckpointHooks | None = None  # when the run is checkpointed
        # Ends a node that asked to be cancelled (Node.cancel), and what only fed it: set by
        # the wiring, which owns the edges it removes.
        self.cancel: Callable[[RunningNode], None] = _cannot_cancel
        # Moves watermarks along the graph (runtime.watermarks): set by the wiring.
        self.watermarks: WatermarkHooks | None = None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task of this execution (cancelled if the execution is)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.track(task)

    def track(self, future: asyncio.Future[Any]) -> None:
        """Count ``future`` as work in flight until it is done; wake the scheduler then.

        The wake matters on a fake clock, which does not jump ahead while work is in flight:
        once the last of it ends, the scheduler must look again.
        """
        self.tasks.add(future)
        future.add_done_callback(self._landed)

    def _landed(self, future: asyncio.Future[Any]) -> None:
        self.tasks.discard(future)
        self.gate.wake()

    def fail_soon(self, failure: BaseException) -> None:
        """Fail the execution from a callback: the scheduler raises ``failure`` next."""
        if self.failure is None:
            self.failure = failure
        self.gate.wake()

    def stamps(self, rn: RunningNode) -> bool:
        """Whether messages that start at node ``rn`` get headers.

        Every node's, for trace ids; a source's, for a tracer or lineage (traces and
        lineage start there); a node's that declares taint labels, to put them on.
        """
        return (
            self.trace
            or bool(rn.introduces)
            or ((self.tracer is not None or self.lineage is not None) and not rn.spec.inputs)
        )

    @property
    def busy(self) -> bool:
        """Whether calls are running off the loop's turn (tasks, threads, processes)."""
        return bool(self.tasks)


def _cannot_cancel(rn: RunningNode) -> None:
    raise ExecutionError(f"node {rn.id!r} asked to be cancelled before its execution was wired")
