"""A node as it runs: its edges, its flags and its counters."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from arachne.model.function_node import BatchFunctionNode, FunctionNode
from arachne.model.node import overrides
from arachne.model.sources import IterSource
from arachne.runtime.ready_queue import NOT_QUEUED
from arachne.runtime.stats import NodeStats

if TYPE_CHECKING:
    from arachne.model.context import NodeContext
    from arachne.model.message import Headers
    from arachne.model.node import Node
    from arachne.model.specs import NodeSpec
    from arachne.runtime.edge import Edge, Outlet
    from arachne.runtime.slot import Slot

__all__ = ["RunningNode"]

NO_INPUT_RANK: Final = 0
"""The rank at which sources and finishing nodes are queued."""


class RunningNode:
    """The running counterpart of one ``NodeSpec``: the instance, its edges and its state.

    ``inputs`` are ordered by rank, highest first; ``outputs`` maps every declared output port
    to its edges (an empty tuple is a plug: what it receives is counted and dropped).
    """

    __slots__ = (
        "batch_fn",
        "batched",
        "blocked",
        "cadence",
        "concurrency",
        "context",
        "current",
        "dead_lettered",
        "emitted",
        "error_policy",
        "errors",
        "finish_requested",
        "finished",
        "finishing",
        "fn",
        "fn_outputs",
        "fused",
        "id",
        "idle",
        "inline",
        "inputs",
        "inputs_open",
        "keep_alive",
        "mode",
        "node",
        "ordered",
        "outputs",
        "pending",
        "predicate",
        "puller",
        "ready_rank",
        "received",
        "retried",
        "rotation",
        "skipped",
        "slots",
        "spec",
        "started",
        "stopped",
        "suspended",
        "tick_driven",
        "ticks",
        "unrouted",
    )

    def __init__(self, spec: NodeSpec, node: Node, context: NodeContext) -> None:
        self.id = spec.id
        self.spec = spec
        self.node = node
        self.context = context
        self.inputs: list[Edge] = []
        self.outputs: dict[str, tuple[Outlet, ...]] = {p.name: () for p in spec.outputs}
        self.inputs_open = 0
        self.ready_rank = NOT_QUEUED
        self.blocked = False
        self.current: Headers | None = None
        self.started = self.finished = self.stopped = self.finish_requested = False
        self.finishing = False
        self.idle = False
        self.rotation = 0
        self.received = self.emitted = self.ticks = self.unrouted = self.errors = 0
        self.skipped = self.dead_lettered = self.retried = 0
        self.keep_alive = bool(node.keep_alive)
        self.mode = spec.mode
        self.inline = spec.mode == "inline"
        self.concurrency = spec.concurrency
        self.ordered = spec.ordered
        self.error_policy = spec.error_policy
        self.pending = 0  # invocations in flight (async, thread, process modes)
        self.slots: deque[Slot] = deque()  # in flight, in input order, when ordered
        self.suspended = False  # waiting to retry a failed call; takes nothing meanwhile
        self.puller = node if isinstance(node, IterSource) and self.inline else None
        # An inline, one-result @node function is called directly on payloads (see consume).
        batch = isinstance(node, BatchFunctionNode)
        fast = isinstance(node, FunctionNode) and self.inline and not node.many and not batch
        self.fn: Callable[[Any], Any] | None = node.fn if fast else None  # type: ignore[attr-defined]
        self.fn_outputs: tuple[Outlet, ...] = ()
        # A batch function (list in, list out), which fused chains call on a whole batch.
        self.batch_fn: Callable[[Any], Any] | None = node.fn if batch and self.inline else None  # type: ignore[attr-defined]
        # A filter's own predicate, which fused chains call without the wrapper in ``fn``.
        self.predicate: Callable[[Any], object] | None = node.predicate if fast else None  # type: ignore[attr-defined]
        self.batched = self.inline and overrides(node, "on_batch")
        # What fused chains did on this node's behalf: [received, emitted, unrouted].
        self.fused = [0, 0, 0]
        self.cadence: float | None = spec.cadence
        self.tick_driven = self.puller is not None or overrides(node, "on_tick")

    @property
    def is_source(self) -> bool:
        """Whether no edge feeds this node."""
        return not self.inputs

    @property
    def block_outputs(self) -> list[Outlet]:
        """The output edges whose policy is ``block``."""
        return [edge for edges in self.outputs.values() for edge in edges if edge.is_block]

    def still_blocked(self) -> bool:
        """Recompute ``blocked``: whether any ``block`` output is still full."""
        self.blocked = any(edge.full for edge in self.block_outputs)
        return self.blocked

    def has_input(self) -> bool:
        """Whether any input edge holds a message."""
        return any(edge.queue for edge in self.inputs)

    def top_rank(self) -> int:
        """Return the highest rank among non-empty inputs (``NO_INPUT_RANK`` if none)."""
        return max((edge.rank for edge in self.inputs if edge.queue), default=NO_INPUT_RANK)

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

    def stats(self) -> NodeStats:
        """Return the counters now, as a frozen snapshot."""
        return NodeStats(
            id=self.id,
            state=self.state,
            received=self.received + self.fused[0],
            emitted=self.emitted + self.fused[1],
            ticks=self.ticks,
            unrouted=self.unrouted + self.fused[2],
            errors=self.errors,
            retried=self.retried,
            skipped=self.skipped,
            dead_lettered=self.dead_lettered,
            in_flight=self.pending,
        )
