"""Ticks: sources producing while their outputs have room, and timed ticks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from arachne.model.message import Message, as_message
from arachne.model.policies import Retry
from arachne.runtime import events
from arachne.runtime.binding import check_value
from arachne.runtime.completion import finish_node, finish_refused
from arachne.runtime.concurrent import start_tick
from arachne.runtime.failure import decide, schedule_retry
from arachne.runtime.log_context import CURRENT_NODE
from arachne.runtime.probes import timed
from arachne.runtime.requeue import after_turn
from arachne.runtime.run_context import next_chunk

if TYPE_CHECKING:
    from arachne.model.sources import PullSource
    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import RunningNode

__all__ = ["TICK_BUDGET", "schedule_ticks", "tick_inline", "tick_source"]

TICK_BUDGET: Final = 20e-6
"""Seconds (on the execution's clock) of ticking after which a source's turn ends early.

A source that takes a while per tick (a paced feed, a poll) would otherwise hold what it
emitted back from its consumers for a whole quantum of ticks; with this bound a message waits
at most about this long before the scheduler moves on (see benchmarks: the latency case).
"""


def tick_source(ctx: RunContext, rn: RunningNode) -> None:
    """Let a source produce while its outputs have room: a batch of items, or a quantum of ticks.

    A pulled source is asked for as many items as there is room; any other source is ticked
    until a tick emits nothing (it is then idle), it fills an output, or it asks to finish.
    """
    puller = rn.puller
    if puller is not None:
        _pull(ctx, rn, puller)
        return
    if not rn.inline:
        start_tick(ctx, rn)
        return
    now = ctx.clock.now
    deadline = now() + TICK_BUDGET
    for _ in range(ctx.quantum):
        if not tick_inline(ctx, rn) or rn.idle or rn.blocked or rn.finish_requested:
            return
        if now() >= deadline:
            return


def _pull(ctx: RunContext, rn: RunningNode, puller: PullSource) -> None:
    """Pull up to a chunk of items (as room allows) and push them on as one batch."""
    room = min(ctx.batch, rn.chunk)
    outlets = rn.outputs[puller.port]
    for outlet in outlets:
        if outlet.is_block:
            room = min(room, outlet.room)
    if room <= 0:
        rn.hold()
        return
    now = ctx.clock.now
    began = now()
    items = puller.pull(room)
    pulled = len(items)  # counted first: what the items pass through must not change it
    rn.counts.ticks += 1
    lineage = ctx.lineage
    # With lineage alone, the sampled items become origins here and the batch goes on whole;
    # with trace ids, a tracer or labels to put on, each item is emitted with its headers.
    alone = lineage is not None and not (ctx.trace or ctx.tracer is not None or rn.introduces)
    stamps = not alone and ctx.stamps(rn)
    if outlets and not stamps and all(o.is_block for o in outlets):
        if ctx.check_types:
            items = _checked(ctx, rn, puller.port, items)
        if lineage is not None and alone:
            items = lineage.stamp(rn.id, items)
        rn.counts.emitted += len(items)  # room was counted, so the batch fits every outlet
        for outlet in outlets:
            outlet.push_many(items)
    else:
        _emit_each(ctx, rn, puller.port, items)
    if pulled < room:
        if not getattr(puller, "live", False):
            rn.finish_requested = True  # exhausted
        elif not pulled:
            rn.idle = True  # a live source with nothing yet: asked again when woken
    rn.chunk = next_chunk(max(pulled, 1), now() - began, ctx.batch)


def _emit_each(ctx: RunContext, rn: RunningNode, port: str, items: list[Any]) -> None:
    """Emit pulled items one by one (tracing or non-block outputs need it).

    A value that fails its port's type check is given up under the source's error policy.
    """
    emit = rn.emit_slow
    for item in items:
        try:
            emit(port, item)
        except TypeError as exc:
            _given_up(ctx, rn, item, exc)


def _checked(ctx: RunContext, rn: RunningNode, port: str, items: list[Any]) -> list[Any]:
    """Return the pulled items that fit the port (maybe converted); give up the others."""
    spec = rn.spec.output(port)
    if spec is None:
        return items
    adapter, kept = spec.adapter, []
    for item in items:
        value = item.payload if type(item) is Message else item
        try:
            checked = check_value(rn.id, port, adapter, value)
        except TypeError as exc:
            _given_up(ctx, rn, item, exc)
            continue
        if checked is not value:  # converted: a message keeps its headers
            item = Message(checked, item.headers) if type(item) is Message else checked
        kept.append(item)
    return kept


def _given_up(ctx: RunContext, rn: RunningNode, item: Any, exc: Exception) -> None:
    """Apply the source's policy to a value that failed its check.

    A retry would only offer the same value again, so a ``Retry`` goes straight to its ``then``.
    """
    policy = rn.error_policy
    attempt = policy.max_attempts if isinstance(policy, Retry) else 1
    decide(ctx, rn, None, as_message(item), exc, attempt)


def tick_inline(ctx: RunContext, rn: RunningNode, attempt: int = 1) -> bool:
    """Run ``on_tick`` once on the loop; False if it failed and will be retried."""
    counts = rn.counts
    before = counts.emitted + counts.errors
    counts.ticks += 1
    try:
        rn.node.on_tick()
    except Exception as exc:
        delay = decide(ctx, rn, None, None, exc, attempt)
        if delay is not None:
            schedule_retry(ctx, rn, delay, lambda: _retry_tick(ctx, rn, attempt))
            return False
    # A tick that raised (and was skipped or dead-lettered) did something, as one that emitted
    # did: it may have consumed input, so the source is not idle.
    rn.idle = counts.emitted + counts.errors == before
    return True


def _retry_tick(ctx: RunContext, rn: RunningNode, attempt: int) -> None:
    if rn.finished:
        return
    rn.suspended = False
    if tick_inline(ctx, rn, attempt + 1):
        if rn.finish_requested and not rn.cadence:
            finish_node(ctx, rn)
        elif not rn.cadence:
            after_turn(ctx, rn)
        elif rn.aligning and ctx.checkpointer is not None:  # (a timed node's turn ends here)
            ctx.checkpointer.turn_ended(rn)


def schedule_ticks(ctx: RunContext, rn: RunningNode, deadline: float) -> None:
    """Tick ``rn`` at ``deadline`` and every ``cadence`` after (a fixed rate).

    A blocked or busy node skips the tick; ticks missed by more than one period are skipped
    rather than bunched (and announced as ``TickOverran``).
    """

    def fire() -> None:
        if rn.finished or rn.removed:
            return
        if not (rn.blocked or rn.busy):
            token = CURRENT_NODE.set(rn)  # the tick (and a finish it asks for) logs as its node
            try:
                if rn.inline:
                    timed(ctx, rn, lambda: tick_inline(ctx, rn))
                else:
                    start_tick(ctx, rn)
                if rn.finish_requested and rn.inline:
                    if rn.links_in:
                        raise finish_refused(rn)
                    finish_node(ctx, rn)
                    return
                if rn.aligning and ctx.checkpointer is not None:  # a barrier may pass it now
                    ctx.checkpointer.turn_ended(rn)
            finally:
                CURRENT_NODE.reset(token)
        now = ctx.clock.now()
        cadence = rn.cadence or 0.0
        following = deadline + cadence
        if following > now or cadence <= 0:
            schedule_ticks(ctx, rn, following if following > now else now + cadence)
            return
        skipped = int((now - following) // cadence) + 1
        bus = ctx.bus
        if events.TickOverran in bus.wanted:
            bus.publish(
                events.TickOverran(
                    execution_id=ctx.execution_id,
                    node_id=rn.id,
                    cadence=cadence,
                    late_by=now - following,
                    skipped=skipped,
                )
            )
        schedule_ticks(ctx, rn, now + cadence)

    ctx.timers.add(deadline, fire)
