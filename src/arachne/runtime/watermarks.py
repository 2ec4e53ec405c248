"""Event time in a running graph: watermarks that travel in order with the data.

A node that knows event time (a timestamp assigner) says, with ``Node.emit_watermark(t)``,
that every item still to come on its outputs has an event time of ``t`` or later (one
before ``t`` that comes all the same is *late*). Each of its output edges gets the
watermark after the newest message queued there, as a checkpoint's barrier is put
(``Edge.put_watermark``); it is a control mark riding with the data, never overtaking it. A
consumer passes it once it has taken everything before it: an inline node takes no message
past it in the same take (``activation.consume`` stops at it), a node with calls in flight
passes it when they have ended. Then the node's input watermark is recomputed: the lowest
over its inputs that are not idle (``runtime.event_time``). When it rises, the node hears
``on_watermark(t)`` (a window emits what closes), and the watermark goes on along the
node's outputs, after what the hook emitted, unless the node says its own
(``forwards_watermarks = False``). So a map or a filter between an assigner and a window
needs nothing: the watermark passes through it.

Idleness is measured on the runtime's clock: a node that says ``emit_watermark(t,
idle_after=s)`` and then nothing for ``s`` seconds has its outputs marked idle by a timer
due exactly then, so downstream nodes stop waiting on them (a join whose other side went
quiet goes on). Its next say makes them active again. A node whose every waited-on input is
idle is idle, and says so downstream in turn.

Watermarks only rise, and only ever pass late, never early: an overflow policy that evicts
messages does not move one up, and a fused chain hands it through its stages at once (they
keep nothing). Nothing here runs unless a node says a watermark: edges and nodes carry
``None`` until then.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from arachne.model.error_record import ERROR_PORT
from arachne.model.errors import describe
from arachne.model.node import overrides
from arachne.runtime.edge import Edge
from arachne.runtime.event_time import EventTime, WatermarkSnapshot
from arachne.runtime.failure import node_failure

if TYPE_CHECKING:
    from collections.abc import Iterator

    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import Inlet, RunningNode

__all__ = ["Watermarks"]


class Watermarks:
    """Moves the watermarks of one execution along its graph (see the module's text)."""

    __slots__ = ("ctx", "nodes")

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.nodes: dict[str, RunningNode] = {}  # every node with an event time, by id

    # -- what a node says ---------------------------------------------------------------------

    def say(self, rn: RunningNode, t: float, idle_after: float | None) -> None:
        """Take ``rn``'s own watermark ``t`` (``Node.emit_watermark``) and send it on."""
        if isinstance(t, bool) or not isinstance(t, int | float) or math.isnan(t):
            raise ValueError(f"node {rn.id!r} said watermark {t!r}; give an event time as a number")
        if idle_after is not None and (
            isinstance(idle_after, bool)
            or not isinstance(idle_after, int | float)
            or not math.isfinite(idle_after)
            or idle_after <= 0
        ):
            raise ValueError(
                f"node {rn.id!r}: idle_after {idle_after!r}; give seconds above 0, or None"
            )
        et = self._of(rn)
        if idle_after is not None:
            et.idle_after = float(idle_after)
            et.last = self.ctx.clock.now()
            if not et.armed:
                self._arm(rn, et, et.last + et.idle_after)
        if t > et.sent or et.sent_idle:
            self._send(rn, et, max(float(t), et.sent), False)

    # -- what a node passes -------------------------------------------------------------------

    def passed(self, rn: RunningNode) -> None:
        """Take the watermarks ``rn`` has passed on its inputs; if it moved on, tell it and send.

        Called after a take reaches a watermark, after each turn or landed call of a node
        with an event time, and when an input of one ends or is removed. A node with calls in
        flight passes a watermark once the calls for everything before it on that edge have
        landed; one holding a message to retry, once it is handled. A node with an
        ``on_watermark`` and calls in flight starts no new call until they have landed, then
        hears it: the hook never runs beside a call, and is never put off for long.
        """
        et = rn.event_time
        if et is None or rn.finished or not rn.started or rn.suspended or rn.deferred:
            return
        for edge in rn.inputs:
            if edge.watermarks:
                for value, idle in edge.passed_watermarks(_handled(rn, edge)):
                    et.passed(edge.serial, value, idle)
                    et.draining = True
        if rn.pending and overrides(rn.node, "on_watermark"):
            return  # (no new call starts meanwhile; the last to land comes back here)
        et.draining = False
        if et.settle(_counted(rn)):
            self._moved(rn, et)

    def _moved(self, rn: RunningNode, et: EventTime) -> None:
        node = rn.node
        if not et.idle and et.value > et.heard and overrides(node, "on_watermark"):
            et.heard = et.value
            try:
                result: object = node.on_watermark(et.value)  # type: ignore[func-returns-value]
                if result is not None:
                    raise TypeError("on_watermark must be a plain def returning None")
            except Exception as exc:
                ctx = self.ctx
                message = f"on_watermark raised {describe(exc)}"
                ctx.fail_soon(node_failure(ctx, rn, "on_watermark", exc, message))
                return
        if not node.forwards_watermarks:
            return
        if et.idle:
            if not et.sent_idle:
                self._send(rn, et, et.sent, True)
        elif et.value > et.sent or et.sent_idle:
            self._send(rn, et, max(et.value, et.sent), False)

    # -- sending ------------------------------------------------------------------------------

    def _send(self, rn: RunningNode, et: EventTime, value: float, idle: bool) -> None:
        """Put the watermark on ``rn``'s output edges; a consumer with nothing before it passes."""
        et.sent, et.sent_idle = value, idle
        for edge in _output_edges(rn):
            edge.put_watermark(value, idle)
            target = edge.target
            if target.event_time is None:
                target.event_time = EventTime()
                self.nodes[target.id] = target
            if edge.depth == 0:
                self.passed(target)

    def _arm(self, rn: RunningNode, et: EventTime, at: float) -> None:
        et.armed = True
        self.ctx.timers.add(at, lambda: self._check_idle(rn, et))

    def _check_idle(self, rn: RunningNode, et: EventTime) -> None:
        """Mark ``rn``'s outputs idle if it said nothing since, else wait."""
        et.armed = False
        if rn.finished or et.idle_after is None:
            return
        due = et.last + et.idle_after
        if self.ctx.clock.now() >= due:
            if not et.sent_idle:
                et.idle_spells += 1
                self._send(rn, et, et.sent, True)
        else:
            self._arm(rn, et, due)

    def _of(self, rn: RunningNode) -> EventTime:
        et = rn.event_time
        if et is None:
            et = rn.event_time = EventTime()
            self.nodes[rn.id] = rn
        return et

    # -- reading ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, WatermarkSnapshot]:
        """Return the event time of every node that has one, by node id."""
        return {
            node_id: rn.event_time.snapshot(node_id)
            for node_id, rn in sorted(self.nodes.items())
            if rn.event_time is not None and not rn.removed
        }


def _handled(rn: RunningNode, edge: Inlet) -> int:
    """Return how far ``rn`` has handled ``edge``: what it took, up to its oldest call there.

    Ordered or not, calls in flight are kept in the order their messages were taken.
    """
    if rn.pending:
        for slot in rn.slots:
            if slot.source is edge:
                return slot.position - 1
    return edge.dequeued


def _counted(rn: RunningNode) -> Iterator[tuple[int, str, bool]]:
    """Yield ``rn``'s inputs that carry event time: (serial, id, ended)."""
    for edge in rn.inputs:
        if isinstance(edge, Edge) and edge.kind == "link" and not edge.control:
            yield edge.serial, edge.id, edge.closed and edge.depth == 0


def _output_edges(rn: RunningNode) -> Iterator[Edge]:
    """Yield the edges ``rn`` sends on (a fused chain's first edge for the chain)."""
    for port, outlets in rn.outputs.items():
        if port == ERROR_PORT:
            continue
        for outlet in outlets:
            if isinstance(outlet, Edge):
                yield outlet
            else:
                edges = getattr(outlet, "edges", None)  # a FusedChain stands in for its first
                if edges:
                    yield edges[0]
