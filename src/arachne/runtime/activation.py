"""Activation: one turn of one node, up to a quantum of messages or a time slice.

A turn takes its input in chunks (one slice of an edge each) and looks at the clock between
them; the chunk size follows the time earlier chunks took (see ``RunContext.SLICE``). Three
ways to hand a chunk over, by what the node is:

- a function stage (``@node``, inline): :func:`call_stage` on the whole chunk of payloads,
  its results pushed on at once;
- a node overriding ``on_batch``: one call with the chunk;
- any other node: ``on_message`` once per message, one ``Message`` object refilled while no
  hook keeps it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from arachne.model.function_stage import call_stage
from arachne.model.message import EMPTY_HEADERS, Message, as_message, new_message, refill
from arachne.runtime.binding import deliver
from arachne.runtime.completion import finish_node, finish_refused
from arachne.runtime.concurrent import start_calls
from arachne.runtime.failure import decide, decide_batch, schedule_retry
from arachne.runtime.hops import open_batch, open_hop
from arachne.runtime.probes import probe_landed
from arachne.runtime.requeue import after_turn
from arachne.runtime.run_context import SLICE, next_chunk
from arachne.runtime.simulation import PLANTED
from arachne.runtime.ticking import tick_source

if TYPE_CHECKING:
    from arachne.model.message import Headers
    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import Inlet, LeanOpener, RunningNode

__all__ = ["StageCall", "activate", "consume"]


def _unshared_count() -> int:
    """Return the reference count of the loops' message after a hook that kept nothing.

    Measured here, in a loop of the same shape as theirs, as interpreters differ (a borrowed
    local reads one less). A hook that keeps the message must read higher; where it does not,
    or off CPython, -1: every message is then a new object.
    """
    if sys.implementation.name != "cpython":
        return -1
    kept: list[Message] = []

    def ignore(_port: str, _msg: Message) -> None:
        return None

    def keep(_port: str, msg: Message) -> None:
        kept.append(msg)

    def counts(hook: Callable[[str, Message], None]) -> list[int]:
        put, refcount = refill, sys.getrefcount
        seen = []
        msg = new_message(None, EMPTY_HEADERS)
        for payload in range(64):
            put(msg, payload)
            hook("in", msg)
            seen.append(refcount(msg))
            msg = new_message(None, EMPTY_HEADERS)
        return seen

    alone, held = counts(ignore), counts(keep)
    return max(alone) if max(alone) < min(held) else -1


_UNSHARED: Final = _unshared_count()
"""The loops' message's reference count after a hook that kept nothing (-1: never reuse)."""


def activate(ctx: RunContext, rn: RunningNode) -> None:
    """Give ``rn`` one turn: take input (or tick, for a source), then requeue or finish it.

    A blocked node only takes control messages (its outputs are full, so data must wait);
    it is queued again when its outputs drain. A node waiting to retry takes nothing.
    """
    if rn.finished or rn.suspended or not rn.started:
        if rn.deferred is not None and not (rn.finished or rn.blocked):
            retry, rn.deferred = rn.deferred, None
            retry()  # a retry that came due while the outputs were full
        return
    if rn.blocked or rn.held:
        if rn.cancel_requested:
            pass
        elif any(edge.control and len(edge) for edge in rn.inputs):
            consume(ctx, rn, control_only=True)
        elif not rn.blocked and rn.links_in and rn.inputs_open == 0 and not rn.has_input():
            after_turn(ctx, rn)  # held, but its inputs have ended: nothing to hold, it finishes
            return
        if rn.cancel_requested:  # (Node.cancel: from a control message, on_start, a thread)
            after_turn(ctx, rn)
        return
    if rn.inputs and (rn.links_in or rn.has_input()):  # (inject edges alone: when they hold)
        if rn.inline:
            consume(ctx, rn, control_only=False)
        else:
            start_calls(ctx, rn)
        if rn.finish_requested and rn.links_in:
            raise finish_refused(rn)
        after_turn(ctx, rn)
        return
    if rn.waits_for_input:
        return
    if rn.finish_requested or not (rn.tick_driven or rn.keep_alive):
        if not rn.busy:
            finish_node(ctx, rn)
        return
    if rn.cadence or not rn.tick_driven:
        return  # timed ticks come from the timer heap; a passive source waits for stop()
    tick_source(ctx, rn)
    after_turn(ctx, rn)


def consume(ctx: RunContext, rn: RunningNode, *, control_only: bool) -> None:
    """Hand up to a quantum of queued messages to the node, highest rank first.

    Inputs of equal rank take turns leading, so none waits behind a flooded sibling. The turn
    ends early when an output fills (the node is then blocked), a call is to be retried, or
    the time slice is used up.
    """
    inputs = rn.inputs
    count = len(inputs)
    start = 0
    if count > 1 and inputs[0].rank == inputs[-1].rank:
        start = rn.rotation = (rn.rotation + 1) % count
    hand = _hand_stage if rn.stage is not None else _hand_batch if rn.batched else _hand_messages
    budget = ctx.quantum
    now = ctx.clock.now
    metrics = ctx.metrics
    began = mark = now()
    for i in range(count):
        edge = inputs[(start + i) % count]
        if control_only and not edge.control:
            continue
        while budget > 0:
            size = min(budget, rn.chunk)
            marks = edge.watermarks
            if marks:  # (a take stops at a watermark, so the node passes it in its place)
                if marks[0][0] <= edge.dequeued and ctx.watermarks is not None:
                    ctx.watermarks.passed(rn)
                if marks:
                    size = max(1, min(size, marks[0][0] - edge.dequeued))
            taken = hand(ctx, rn, edge, size, control_only)
            if not taken:
                break
            budget -= taken
            if marks and marks[0][0] <= edge.dequeued and ctx.watermarks is not None:
                ctx.watermarks.passed(rn)
            moment = now()
            if metrics and edge.probe_seq:
                landed = edge.landed_probe()
                if landed is not None:
                    probe_landed(ctx, rn, *landed, moment)
            if not rn.fixed_chunk:
                rn.chunk = next_chunk(taken, moment - mark, ctx.batch)
            mark = moment
            if (
                rn.suspended
                or ((rn.blocked or rn.held) and not control_only)
                or moment - began >= SLICE
            ):
                return


# -- class nodes: on_message per message ---------------------------------------------------


def _hand_messages(
    ctx: RunContext, rn: RunningNode, edge: Inlet, size: int, control_only: bool
) -> int:
    """Call ``on_message`` for up to ``size`` queued messages; return how many were used."""
    headed = edge.headed  # before the take, which clears it when it empties the edge
    items = edge.take(size)
    if not items:
        return 0
    later: list[Any] = []
    with_headers = bool(rn.introduces)
    if headed and not with_headers and Message in map(type, items):
        # Bare payloads and messages with headers mixed (a sampled few, say): the leading run
        # of one kind now, the rest at the next take, so bare ones keep the bare loops.
        items, later = _leading_run(items)
        with_headers = type(items[0]) is Message
    # The loops below take from one iterator and stop early by returning; what they left
    # goes back to the edge, also when an error ends the run (the edge then still shows it).
    it = iter(items)
    try:
        if with_headers:
            _messages_with_headers(ctx, rn, edge.port, it, control_only)
        elif rn.lean is not None and not control_only:
            _lean_messages(ctx, rn, edge.port, it, rn.lean)
        else:
            _bare_messages(ctx, rn, edge.port, it, control_only)
    finally:
        rest = list(it)
        if rest or later:
            edge.give_back(rest + later)
    return len(items) - len(rest)


def _leading_run(items: list[Any]) -> tuple[list[Any], list[Any]]:
    """Split ``items`` after their leading run of messages, or of bare payloads."""
    first = type(items[0]) is Message
    for index in range(1, len(items)):
        if (type(items[index]) is Message) is not first:
            return items[:index], items[index:]
    return items, []


def _bare_messages(
    ctx: RunContext, rn: RunningNode, port: str, it: Iterator[Any], control_only: bool
) -> None:
    """``on_message`` per bare payload, all in one message object while no hook keeps it.

    After each call the object's reference count tells whether the hook kept it (in a list,
    a closure, a traceback): then the next payload gets a new object and the kept one never
    changes. Returns early (leaving the rest in ``it``) when the node must stop.
    """
    on_message, put, refcount = rn.node.on_message, refill, sys.getrefcount
    # A node with no block output (a sink) can only be blocked by its error port's edge,
    # looked at after a failure; the others are looked at after every call. A hold
    # (Node.hold_input) takes effect after the call that asked for it.
    watch = not control_only and bool(rn.block_outputs())
    msg = new_message(None, EMPTY_HEADERS)
    for payload in it:
        put(msg, payload)
        try:
            on_message(port, msg)
        except Exception as exc:
            failed = new_message(payload, EMPTY_HEADERS)
            if not _recovered(ctx, rn, port, failed, failed, exc):
                return
            msg = new_message(None, EMPTY_HEADERS)
            if rn.blocked and not control_only:
                return
            continue
        if refcount(msg) > _UNSHARED:
            msg = new_message(None, EMPTY_HEADERS)
        if (watch and rn.blocked) or rn.held:
            return


def _lean_messages(
    ctx: RunContext, rn: RunningNode, port: str, it: Iterator[Any], output: LeanOpener
) -> None:
    """``_bare_messages`` for a node whose one output is one ``block`` edge: its hot loop.

    The node's ``emit`` only appends for the length of the chunk; this loop checks after
    each call whether the edge filled (with locals), and the edge settles counts and its
    consumer's turn when the chunk ends.
    """
    node, on_message = rn.node, rn.node.on_message
    put, refcount = refill, sys.getrefcount
    lean = output.open_lean()
    buf, limit = lean.buf, lean.limit
    node.set_emitter(lean.emit)
    msg = new_message(None, EMPTY_HEADERS)
    try:
        for payload in it:
            put(msg, payload)
            try:
                on_message(port, msg)
            except Exception as exc:
                failed = new_message(payload, EMPTY_HEADERS)
                recovered = _recovered(ctx, rn, port, failed, failed, exc)
                if len(buf) >= limit:  # what it emitted before raising may have filled it
                    lean.fill()
                    return
                if not recovered or rn.blocked:  # a retry to wait for; a full error edge
                    return
                msg = new_message(None, EMPTY_HEADERS)
                continue
            if refcount(msg) > _UNSHARED:
                msg = new_message(None, EMPTY_HEADERS)
            if len(buf) >= limit:
                lean.fill()
                return
            if rn.held:
                return
    finally:
        node.set_emitter(rn.emitter)
        lean.close()


def _messages_with_headers(
    ctx: RunContext, rn: RunningNode, port: str, it: Iterator[Any], control_only: bool
) -> None:
    """``on_message`` per item where some carry headers: emits made meanwhile share them.

    Each handling is a hop (``runtime.hops``): inside a span of this node for a message with
    a trace context, a lineage hop for one with a lineage id, its taint labels counted and
    changed; what is emitted meanwhile carries them on.
    """
    on_message = rn.node.on_message
    try:
        for item in it:
            msg = as_message(item)
            close, headers = open_hop(ctx, rn, port, msg.headers)
            rn.current = None if headers is EMPTY_HEADERS else headers
            # The node sees the message as it handles it: its hop's headers.
            handled = msg if headers is msg.headers else new_message(msg.payload, headers)
            try:
                on_message(port, handled)
            except Exception as exc:
                if close is not None:
                    close(exc)
                if not _recovered(ctx, rn, port, msg, handled, exc):
                    return
            else:
                if close is not None:
                    close(None)
            if (rn.blocked or rn.held) and not control_only:
                return
    finally:
        rn.current = None


def _recovered(
    ctx: RunContext, rn: RunningNode, port: str, msg: Message, handled: Message, exc: Exception
) -> bool:
    """Apply the error policy to a failed ``on_message``; False if the node now waits to retry.

    A record of the failure (dead letter, ``error`` port) holds the message as the node
    handled it (``handled``: its lineage names the node); a retry starts again from ``msg``.
    """
    rn.current = None
    delay = decide(ctx, rn, port, handled, exc, 1)
    if delay is None:
        return True
    schedule_retry(ctx, rn, delay, lambda: _retry_message(ctx, rn, port, msg, 2))
    return False


def _retry_message(ctx: RunContext, rn: RunningNode, port: str, msg: Message, attempt: int) -> None:
    """Call ``on_message`` again for a message whose earlier attempt failed."""
    if rn.finished:
        return
    close, headers = open_hop(ctx, rn, port, msg.headers, attempt)
    rn.current = None if headers is EMPTY_HEADERS else headers
    handled = msg if headers is msg.headers else new_message(msg.payload, headers)
    try:
        if not (PLANTED and attempt >= 3 and "retry.third.drop" in PLANTED):  # (a test's bug)
            rn.node.on_message(port, handled)
    except Exception as exc:
        rn.current = None
        if close is not None:
            close(exc)
            close = None
        delay = decide(ctx, rn, port, handled, exc, attempt)
        if delay is not None:
            schedule_retry(ctx, rn, delay, lambda: _retry_message(ctx, rn, port, msg, attempt + 1))
            return
    finally:
        rn.current = None
        if close is not None:
            close(None)
    rn.suspended = False
    after_turn(ctx, rn)


# -- class nodes with on_batch ---------------------------------------------------------------


def _hand_batch(
    ctx: RunContext, rn: RunningNode, edge: Inlet, size: int, control_only: bool
) -> int:
    """Hand up to ``size`` queued messages to ``on_batch`` in one call; the batch is one unit."""
    items = edge.take(size)
    if not items:
        return 0
    if rn.raw_batches and not rn.marks and Message not in set(map(type, items)):
        _call_raw(ctx, rn, edge.port, items)
    else:
        _call_batch(ctx, rn, edge.port, [as_message(item) for item in items], 1)
    return len(items)


def _call_raw(ctx: RunContext, rn: RunningNode, port: str, items: list[Any]) -> None:
    """Hand bare payloads to a ``raw_batches`` node's ``on_batch`` (no headers among them).

    A failure goes to the error policy as a batch of messages would, wrapped then.
    """
    rn.counts.batches += 1
    try:
        rn.node.on_batch(port, items)
    except Exception as exc:
        msgs = [as_message(item) for item in items]
        delay = decide_batch(ctx, rn, port, msgs, exc, 1)
        if delay is not None:
            schedule_retry(ctx, rn, delay, lambda: _retry_batch(ctx, rn, port, msgs, 2))


def _call_batch(
    ctx: RunContext, rn: RunningNode, port: str, msgs: list[Message], attempt: int
) -> None:
    if attempt == 1:
        rn.counts.batches += 1
    # One hop for the batch (one span, child of its first traced message's), each message
    # with its own lineage and labels; what it emits meanwhile carries them on.
    close, rn.current, handed = open_batch(ctx, rn, port, msgs, attempt)
    if rn.current is not None:
        rn.handed = {id(msg) for msg in handed}
    try:
        rn.node.on_batch(port, handed)
    except Exception as exc:
        if close is not None:
            close(exc)
            close = None
        delay = decide_batch(ctx, rn, port, msgs, exc, attempt)
        if delay is not None:
            schedule_retry(ctx, rn, delay, lambda: _retry_batch(ctx, rn, port, msgs, attempt + 1))
            return
    finally:
        rn.current = None
        rn.handed = None
        if close is not None:
            close(None)


def _retry_batch(
    ctx: RunContext, rn: RunningNode, port: str, msgs: list[Message], attempt: int
) -> None:
    if rn.finished:
        return
    rn.suspended = False
    _call_batch(ctx, rn, port, msgs, attempt)
    if not rn.suspended:
        after_turn(ctx, rn)


# -- function stages -------------------------------------------------------------------------


def _hand_stage(
    ctx: RunContext, rn: RunningNode, edge: Inlet, size: int, control_only: bool
) -> int:
    """Call the node's function stage on up to ``size`` queued payloads at once.

    A map or filter gives at most one result per value, so it takes no more than its block
    outputs have room for and never overfills them.
    """
    stage = rn.stage
    assert stage is not None  # noqa: S101  # chosen by consume() only when set
    outlets = rn.outputs[stage.output_port]
    if stage.kind in ("map", "filter") and not control_only:
        # (Control messages go through a full output, as they do for class nodes.)
        for outlet in outlets:
            if outlet.is_block:
                room = outlet.room
                if room <= 0:  # the capacity shrank under a queue that was not full
                    rn.hold()
                    return 0
                size = min(size, room)
    headed = edge.headed  # before the take, which clears it when it empties the edge
    items = edge.take(size)
    if not items:
        return 0
    if (headed and Message in map(type, items)) or rn.introduces:
        if stage.kind == "batch":
            return _batch_with_headers(ctx, rn, edge, items)
        return _stage_with_headers(ctx, rn, edge, items)
    call = StageCall(ctx, rn, edge.port, items, None, 1)
    try:
        done = call.run()
    except BaseException:
        # The policy ended the run at a value: the ones after it go back (see below).
        if stage.kind != "batch":
            edge.give_back(items[call.stopped + 1 :])
        raise
    if done:
        return len(items)
    # Stopped at a value to retry (the call holds it): the ones after it go back.
    rest = items[call.stopped + 1 :] if stage.kind != "batch" else []
    edge.give_back(rest)
    return len(items) - len(rest)


def _stage_with_headers(ctx: RunContext, rn: RunningNode, edge: Inlet, items: list[Any]) -> int:
    """Call the stage on one item at a time, each result carrying its own input's headers.

    Each item's handling is a hop (``runtime.hops``): a span, lineage, taint labels.
    """
    for index, item in enumerate(items):
        if type(item) is Message:
            value, headers = item.payload, item.headers
        else:
            value, headers = item, EMPTY_HEADERS
        close, headers = open_hop(ctx, rn, edge.port, headers)
        call = StageCall(ctx, rn, edge.port, [value], headers, 1)
        try:
            done = call.run()
        except BaseException as exc:
            if close is not None:
                close(exc)
            edge.give_back(items[index + 1 :])
            raise
        if close is not None:
            close(call.error)  # a failure the policy skipped or will retry marks it too
        if not done or rn.blocked:
            edge.give_back(items[index + 1 :])
            return index + 1
    return len(items)


def _batch_with_headers(ctx: RunContext, rn: RunningNode, edge: Inlet, items: list[Any]) -> int:
    """Call a batch function once on the whole chunk, some of it with headers.

    As for ``on_batch``: each item is a hop of its own, and the results come from all of them
    (every lineage id, every label; ``runtime.hops.open_batch``).
    """
    msgs = [as_message(item) for item in items]
    close, headers, handed = open_batch(ctx, rn, edge.port, msgs, 1)
    call = StageCall(ctx, rn, edge.port, [msg.payload for msg in handed], headers, 1)
    try:
        call.run()  # (a batch to retry is held by the call: nothing goes back to the edge)
    except BaseException as exc:
        if close is not None:
            close(exc)
        raise
    if close is not None:
        close(call.error)
    return len(items)


class StageCall:
    """One call of a node's function stage on some values, with its error policy applied.

    A failure is skipped or dead-lettered (the call goes on with the next value) or retried:
    the call then stops at that value, holds the node, and runs again later on that value
    (a whole batch, for a batch function) and the ones after it in the same call.
    """

    __slots__ = ("attempt", "ctx", "error", "headers", "port", "rn", "stopped", "values")

    def __init__(
        self,
        ctx: RunContext,
        rn: RunningNode,
        port: str,
        values: list[Any],
        headers: Headers | None,
        attempt: int,
    ) -> None:
        self.ctx, self.rn, self.port = ctx, rn, port
        self.values, self.headers, self.attempt = values, headers, attempt
        self.stopped = len(values)
        self.error: Exception | None = None  # the last failure the policy handled

    def run(self) -> bool:
        """Call the stage and send its results on; False if it stopped to retry a value."""
        rn = self.rn
        stage = rn.stage
        assert stage is not None  # noqa: S101  # only made for stage nodes
        if stage.kind == "batch" and self.attempt == 1:
            rn.counts.batches += 1
        results, end = call_stage(stage, self.values, self.failed)
        if results:
            counts = rn.counts
            counts.emitted += len(results)
            outlets = rn.outputs[stage.output_port]
            if outlets:
                deliver(outlets, results, self.headers)
            else:
                counts.unrouted += len(results)
        self.stopped = end
        return end == len(self.values)

    def failed(self, index: int | None, exc: Exception) -> bool:
        """Apply the policy to the call on ``values[index]`` (``None``: the whole batch)."""
        ctx, rn = self.ctx, self.rn
        self.error = exc
        # Where the call stopped, should the policy end the run from here.
        self.stopped = index if index is not None else len(self.values)
        headers = self.headers if self.headers is not None else EMPTY_HEADERS
        if index is None:
            msgs = [new_message(value, headers) for value in self.values]
            delay = decide_batch(ctx, rn, self.port, msgs, exc, self.attempt)
            retried = self.values
        else:
            value = self.values[index]
            delay = decide(ctx, rn, self.port, new_message(value, headers), exc, self.attempt)
            retried = [value]
        if delay is None:
            self.stopped = len(self.values)
            return True
        again = StageCall(ctx, rn, self.port, retried, self.headers, self.attempt + 1)
        schedule_retry(ctx, rn, delay, again.retry)
        return False

    def retry(self) -> None:
        """Run again after a failure (from the timer); release the node when it got through."""
        rn, ctx = self.rn, self.ctx
        if rn.finished:
            return
        # This attempt is a hop of its own: a span, and the ``retried`` label.
        parent = self.headers
        close, headers = open_hop(ctx, rn, self.port, parent or EMPTY_HEADERS, self.attempt)
        self.headers = headers if headers else None
        try:
            done = self.run()
        except BaseException as exc:
            if close is not None:
                close(exc)
            raise
        if close is not None:
            close(self.error)
        self.headers = parent
        if done:
            rn.suspended = False
            after_turn(ctx, rn)
