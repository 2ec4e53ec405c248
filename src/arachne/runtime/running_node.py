"""A node as it runs: its edges, its scheduling state and, apart, its counters."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Final, Protocol

from arachne.model.node import overrides
from arachne.runtime.ready_queue import NOT_QUEUED
from arachne.runtime.stats import NodeStats
from arachne.runtime.taints import check_labels
from arachne.runtime.timing import NodeTiming

if TYPE_CHECKING:
    from collections.abc import Callable

    from arachne.model.context import NodeContext
    from arachne.model.function_stage import FunctionStage
    from arachne.model.message import Headers
    from arachne.model.node import Emitter, Node
    from arachne.model.policies import ErrorPolicy, Mode
    from arachne.model.sources import PullSource
    from arachne.model.specs import NodeSpec
    from arachne.runtime.event_time import EventTime
    from arachne.runtime.slot import Slot

__all__ = [
    "NO_INPUT_RANK",
    "EdgeRecorder",
    "Inlet",
    "LeanOpener",
    "LeanSession",
    "NodeCounters",
    "Outlet",
    "RunningNode",
    "StageRef",
    "fused_output",
]

NO_INPUT_RANK: Final = 0
"""The rank at which sources and finishing nodes are queued."""


class EdgeRecorder(Protocol):
    """Told what the consumer of a recorded edge takes (``runtime.recording``)."""

    count: int  # messages logged so far (taken and not given back)

    def took(self, items: list[Any]) -> None:
        """Log ``items``, just taken by the consumer (payloads, or ``Message``s), oldest first."""
        ...

    def gave_back(self, count: int) -> None:
        """Take off the last ``count`` items logged: they went back to the edge, unhandled."""
        ...


class Inlet(Protocol):
    """What a node takes its messages from: an input edge."""

    @property
    def id(self) -> str:
        """The edge's id."""
        ...

    @property
    def port(self) -> str:
        """The input port it feeds."""
        ...

    @property
    def rank(self) -> int:
        """Its priority (control edges far above the rest)."""
        ...

    @property
    def control(self) -> bool:
        """Whether it is a control edge."""
        ...

    def __len__(self) -> int:
        """How many messages wait on it."""
        ...

    def take(self, n: int) -> list[Any]:
        """Remove and return up to ``n`` messages from the front."""
        ...

    def take_one(self) -> Any:
        """Remove and return the oldest message (``IndexError`` if there is none)."""
        ...

    def give_back(self, items: list[Any]) -> None:
        """Put the unprocessed rest of the last take back at the front."""
        ...

    def received(self) -> int:
        """How many messages the consumer has taken from it, fused hops included."""
        ...

    @property
    def headed(self) -> bool:
        """Whether a queued item may be a ``Message`` (else all are bare payloads)."""
        ...

    probe_seq: int  # the latency probe (see runtime.timing): 0, or the take that lands it
    # Watermarks on their way (runtime.watermarks): (position, value, idle); None if none yet.
    watermarks: deque[tuple[int, float, bool]] | None
    dequeued: int  # how many the consumer has taken (positions count from here)
    serial: int  # tells this edge from a later one under the same id

    def passed_watermarks(self, upto: int | None = None) -> list[tuple[float, bool]]:
        """Remove and return the watermarks passed (taken, or handled ``upto``) in order."""
        ...

    barrier_at: int  # a checkpoint's barrier: nothing past it is taken (-1: none)
    recorder: EdgeRecorder | None  # logs what is taken, when the edge is recorded

    @property
    def barrier_reached(self) -> bool:
        """Whether everything before the barrier has been taken (or there is none)."""
        ...

    def landed_probe(self) -> tuple[float, float] | None:
        """Return the probe ``(stamped, origin)`` if its message was taken, clearing it."""
        ...


class Outlet(Protocol):
    """What a producer pushes into: an edge, or a fused chain standing in for one."""

    @property
    def id(self) -> str:
        """The id of the edge."""
        ...

    @property
    def target(self) -> RunningNode:
        """The node it feeds."""
        ...

    @property
    def producer(self) -> RunningNode:
        """Who is held back while it is full: its source, or the head of a fused chain."""
        ...

    closed: bool

    @property
    def is_block(self) -> bool:
        """Whether a full outlet blocks its producer (so a batch that fits may be pushed)."""
        ...

    @property
    def full(self) -> bool:
        """Whether it is full (under ``block``, the producer must wait)."""
        ...

    @property
    def room(self) -> int:
        """How many more messages fit before it is full."""
        ...

    def push(self, item: Any) -> None:
        """Offer one message or payload."""
        ...

    def push_many(self, items: list[Any]) -> None:
        """Offer several at once (under ``block``, the caller has checked they fit)."""
        ...

    def probe(self, now: float, origin: float) -> None:
        """Set a latency probe on the newest queued message, if none is set."""
        ...


class LeanSession(Protocol):
    """One chunk of a node's messages emitting straight into its one edge (see ``Edge``)."""

    buf: list[Any]
    limit: int
    emit: Emitter

    def fill(self) -> None:
        """Hold the producer back: the edge is full."""
        ...

    def close(self) -> None:
        """Count what the chunk emitted and queue the consumer."""
        ...


class LeanOpener(Protocol):
    """An outlet that can take a chunk of emits the lean way."""

    def open_lean(self) -> LeanSession:
        """Start a chunk."""
        ...


class StageRef(Protocol):
    """A fused chain as a stage node sees it: how many messages passed each of its hops."""

    def passed(self, index: int) -> int:
        """Messages that entered stage ``index`` (``len(stages)``: left the last stage)."""
        ...

    @property
    def has_tail(self) -> bool:
        """Whether the last stage's results go on to edges (else they are unrouted)."""
        ...

    @property
    def length(self) -> int:
        """How many stages it runs."""
        ...


def fused_output(chain: StageRef, index: int) -> tuple[int, int]:
    """Return what stage ``index`` of ``chain`` emitted through it: (emitted, unrouted).

    The last stage of a chain with no tail edge sends its results nowhere: all unrouted.
    """
    out = chain.passed(index + 1)
    return out, (out if not chain.has_tail and index == chain.length - 1 else 0)


class NodeCounters:
    """What a node did, as plain ints written on the hot path and read by ``stats()``.

    ``received`` is not here: it is the sum of what the node's input edges handed over.
    """

    __slots__ = (
        "batches",
        "dead_lettered",
        "emitted",
        "errors",
        "received_retired",
        "retried",
        "skipped",
        "ticks",
        "unrouted",
    )

    def __init__(self) -> None:
        self.emitted = self.ticks = self.unrouted = self.errors = 0
        self.retried = self.skipped = self.dead_lettered = 0
        self.received_retired = 0  # taken from input edges since removed
        self.batches = 0  # calls of on_batch, or of a batch function


class RunningNode:
    """The running counterpart of one ``NodeSpec``: the instance, its edges and its state.

    ``inputs`` are ordered by rank, highest first; ``outputs`` maps every declared output port
    to its outlets (an empty tuple is a plug: what it receives is counted and dropped).
    """

    __slots__ = (
        "aligning",
        "awaits_input",
        "batched",
        "blocked",
        "cadence",
        "cancel_requested",
        "chains",
        "chunk",
        "concurrency",
        "context",
        "counts",
        "current",
        "deferred",
        "emit_slow",
        "emitter",
        "error_policy",
        "event_time",
        "finish_requested",
        "finished",
        "finishing",
        "fixed_chunk",
        "handed",
        "held",
        "id",
        "idle",
        "inline",
        "inputs",
        "inputs_open",
        "introduces",
        "keep_alive",
        "lean",
        "links_in",
        "marks",
        "mode",
        "node",
        "ordered",
        "outputs",
        "pending",
        "puller",
        "raw_batches",
        "ready_rank",
        "removed",
        "repairs",
        "rotation",
        "slots",
        "spec",
        "stage",
        "started",
        "stopped",
        "suspended",
        "tick_driven",
        "timeout",
        "timing",
    )

    def __init__(self, spec: NodeSpec, node: Node, context: NodeContext) -> None:
        self.id = spec.id
        self.spec = spec
        self.node = node
        self.context = context
        self.counts = NodeCounters()
        self.timing = NodeTiming()
        self.inputs: list[Inlet] = []
        self.outputs: dict[str, tuple[Outlet, ...]] = {p.name: () for p in spec.outputs}
        self.inputs_open = 0
        self.links_in = 0  # input edges that are links (not inject edges)
        self.ready_rank = NOT_QUEUED
        self.blocked = False
        self.current: Headers | None = None  # headers of the message being handled, if any
        # While a batch with headers is handled: ids of the messages handed to on_batch (one
        # emitted as it came is passed on as it is; see Binding.emit).
        self.handed: set[int] | None = None
        self.started = self.finished = self.stopped = self.finish_requested = False
        self.finishing = self.idle = self.removed = False
        self.held = False  # takes no messages (Node.hold_input); ticks go on
        self.cancel_requested = False  # Node.cancel(): ended after the turn in hand
        self.aligning = False  # a checkpoint's barrier has not passed it yet
        # Has input ports but no link into them (from the start, or left so by a live change):
        # it waits for one while any source runs, instead of ending as a source with nothing
        # to do would (Rounds.release_waiting ends the wait).
        self.awaits_input = False
        # A retry that came due while the node's outputs were full: run when they have room.
        self.deferred: Callable[[], None] | None = None
        self.rotation = 0
        # Messages per take, grown or shrunk to keep a take within SLICE (see consume); the
        # wiring sets where it starts.
        self.chunk = 1
        self.keep_alive = bool(node.keep_alive)
        self.mode: Mode = spec.mode
        self.inline = spec.mode == "inline"
        self.concurrency = spec.concurrency
        self.ordered = spec.ordered
        self.error_policy: ErrorPolicy = spec.error_policy
        self.timeout = spec.timeout
        self.cadence: float | None = spec.cadence
        self.pending = 0  # calls in flight (async, thread, process modes)
        self.slots: deque[Slot] = deque()  # in flight, in the order their inputs were taken
        self.suspended = False  # waiting to retry a failed call; takes nothing meanwhile
        self.puller: PullSource | None = node.as_pull_source() if self.inline else None
        # Inline function nodes are called on whole batches of payloads, never on_message.
        self.stage: FunctionStage | None = node.as_function_stage() if self.inline else None
        self.batched = self.inline and self.stage is None and overrides(node, "on_batch")
        self.raw_batches = self.batched and bool(node.raw_batches)
        # A node that sees its batches (on_batch, a batch function) gets whole quanta.
        self.fixed_chunk = self.batched or (self.stage is not None and self.stage.kind == "batch")
        self.tick_driven = self.puller is not None or overrides(node, "on_tick")
        self.chains: list[tuple[StageRef, int]] = []  # fused chains running this node
        self.emit_slow: Emitter = _unbound  # the binding's emit: every case, headers included
        self.emitter: Emitter = _unbound  # what the node's emit is now (see Binding.emitter)
        self.lean: LeanOpener | None = None  # its one block edge, when it has only that
        # Taint labels its emits gain and lose (runtime.taints); ``marks``: it declares some.
        kind = type(node)
        self.introduces = check_labels(kind.introduces, f"{kind.__name__}.introduces")
        self.repairs = check_labels(kind.repairs, f"{kind.__name__}.repairs")
        self.marks = bool(self.introduces or self.repairs)
        # Its event time (runtime.watermarks), once a watermark reaches it or it says one.
        self.event_time: EventTime | None = None

    @property
    def is_source(self) -> bool:
        """Whether no link feeds this node (an edge made for ``inject`` does not count)."""
        return not self.links_in

    def block_outputs(self) -> list[Outlet]:
        """Return the ``block`` outlets this node is held back by.

        A stage of a fused chain is not: the chain's head is, for the edges after it.
        """
        return [
            outlet
            for outlets in self.outputs.values()
            for outlet in outlets
            if outlet.is_block and outlet.producer is self
        ]

    def hold(self) -> None:
        """Hold the node back: a full ``block`` output (timed as backpressured)."""
        if not self.blocked:
            self.blocked = True
            self.timing.held()

    def still_blocked(self) -> bool:
        """Recompute ``blocked``: whether any ``block`` output is still full."""
        blocked = any(edge.full for edge in self.block_outputs())
        if blocked != self.blocked:
            if blocked:
                self.timing.held()
            else:
                self.timing.released()
            self.blocked = blocked
        return blocked

    def has_input(self) -> bool:
        """Whether any input edge holds a message."""
        return any(len(edge) for edge in self.inputs)

    def top_rank(self) -> int:
        """Return the highest rank among non-empty inputs (``NO_INPUT_RANK`` if none)."""
        return max((edge.rank for edge in self.inputs if len(edge)), default=NO_INPUT_RANK)

    def wake_rank(self) -> int | None:
        """Return the rank to queue this node at now that its outputs have room, if any."""
        if self.finished or not self.started:
            return None
        if self.deferred is not None:
            return NO_INPUT_RANK
        if self.inputs:
            if self.has_input():
                return None if self.held else self.top_rank()
            if self.links_in:
                return NO_INPUT_RANK if self.inputs_open == 0 else None
        if self.finish_requested or (self.tick_driven and not self.cadence and not self.idle):
            return NO_INPUT_RANK
        return None

    @property
    def holds_run(self) -> bool:
        """Whether it keeps the run open while idle, ending only at ``finish()`` or a stop.

        A ``keep_alive`` node does, and so does a source with a cadence: it polls, and a
        tick that found nothing says "nothing yet", not "done". A source here has no input
        ports at all: a node whose inputs are merely unlinked (or fed by ``inject``) ends as
        nodes with inputs do.
        """
        return self.keep_alive or (
            self.cadence is not None and self.tick_driven and not self.spec.inputs
        )

    @property
    def stuck(self) -> bool:
        """Whether it holds its input and nothing will release it (no timer, not keep-alive)."""
        return self.held and not self.cadence and not self.keep_alive

    @property
    def waits_for_input(self) -> bool:
        """Whether it has no link in now but waits for one (and has nothing else to do)."""
        return (
            self.awaits_input
            and not self.links_in
            and not self.finish_requested
            and not self.tick_driven
            and not self.keep_alive
        )

    @property
    def busy(self) -> bool:
        """Whether a call is in flight, a retry is pending or an async ``on_finish`` runs."""
        return self.pending > 0 or self.suspended or (self.finishing and not self.finished)

    @property
    def state(self) -> str:
        """``pending``, ``running``, ``finished`` or ``stopped``."""
        if self.stopped:
            return "stopped"
        if self.finished:
            return "finished"
        return "running" if self.started else "pending"

    def stats(self, now: float | None = None) -> NodeStats:
        """Return the counters at ``now`` (the execution's clock), frozen (fused work included)."""
        if now is None:
            now = self.timing.now() if self.timing.now is not None else 0.0
        counts = self.counts
        emitted, unrouted = counts.emitted, counts.unrouted
        for chain, index in self.chains:
            out, lost = fused_output(chain, index)
            emitted += out
            unrouted += lost
        received = counts.received_retired + sum(edge.received() for edge in self.inputs)
        per_call = counts.batches if self.fixed_chunk else received
        busy, backpressured, idle = self.timing.seconds(now)
        return NodeStats(
            id=self.id,
            state=self.state,
            received=received,
            emitted=emitted,
            ticks=counts.ticks,
            unrouted=unrouted,
            errors=counts.errors,
            retried=counts.retried,
            skipped=counts.skipped,
            dead_lettered=counts.dead_lettered,
            in_flight=self.pending,
            invocations=per_call + counts.ticks + counts.retried,
            busy_seconds=busy,
            backpressured_seconds=backpressured,
            idle_seconds=idle,
            latency=self.timing.latency.stats(),
        )


def _unbound(port: Any, value: object) -> None:
    raise RuntimeError("emit before the node was bound to its execution")
