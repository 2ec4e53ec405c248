"""Activation: one turn of one node, up to a quantum of messages or ticks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.model.message import EMPTY_HEADERS, Message, as_message, new_message
from arachne.runtime.batching import take_batch
from arachne.runtime.completion import finish_node, finish_refused
from arachne.runtime.concurrent import start_calls
from arachne.runtime.edge import Edge
from arachne.runtime.failure import decide
from arachne.runtime.requeue import after_turn, taken
from arachne.runtime.ticking import tick_source

if TYPE_CHECKING:
    from arachne.runtime.execution import Execution
    from arachne.runtime.running_node import RunningNode

__all__ = ["activate", "consume", "recovered", "retry_message"]


def activate(ex: Execution, rn: RunningNode) -> None:
    """Give ``rn`` one turn: take input (or tick, for a source), then requeue or finish it.

    A blocked node only takes control messages (its outputs are full, so data must wait);
    it is queued again when its outputs drain. A node waiting to retry takes nothing.
    """
    if rn.finished or rn.suspended:
        return
    if rn.blocked:
        if any(edge.control and edge.queue for edge in rn.inputs):
            consume(ex, rn, control_only=True)
        return
    if rn.inputs:
        if rn.inline:
            consume(ex, rn, control_only=False)
        else:
            start_calls(ex, rn)
        if rn.finish_requested:
            raise finish_refused(rn)
        after_turn(ex, rn)
        return
    if rn.finish_requested or not (rn.tick_driven or rn.keep_alive):
        if not rn.busy:
            finish_node(ex, rn)
        return
    if rn.cadence or not rn.tick_driven:
        return  # timed ticks come from the timer heap; a passive source waits for stop()
    tick_source(ex, rn)
    after_turn(ex, rn)


def consume(ex: Execution, rn: RunningNode, *, control_only: bool) -> None:
    """Hand up to a quantum of queued messages to the node, highest rank first.

    Inputs of equal rank take turns leading, so none waits behind a flooded sibling. The turn
    ends early when an output edge fills (the node is then blocked) or a call is to be retried.
    """
    inputs = rn.inputs
    count = len(inputs)
    start = 0
    if count > 1 and inputs[0].rank == inputs[-1].rank:
        start = rn.rotation = (rn.rotation + 1) % count
    budget = ex.quantum
    take = _take_payloads if rn.fn is not None else take_batch if rn.batched else _take_messages
    for i in range(count):
        edge = inputs[(start + i) % count]
        if not edge.queue or (control_only and not edge.control):
            continue
        budget -= take(ex, rn, edge, budget, control_only)
        if budget <= 0 or rn.suspended or (rn.blocked and not control_only):
            return


def _take_messages(
    ex: Execution, rn: RunningNode, edge: Edge, budget: int, control_only: bool
) -> int:
    """Call ``on_message`` for up to ``budget`` queued items; return how many were taken."""
    queue, port, on_message = edge.queue, edge.port, rn.node.on_message
    count = 0
    try:
        for _ in range(min(len(queue), budget)):
            item = queue.popleft()
            count += 1
            if type(item) is Message:
                msg = item
                rn.current = None if item.headers is EMPTY_HEADERS else item.headers
            else:
                msg = new_message(item, EMPTY_HEADERS)
            try:
                on_message(port, msg)
            except Exception as exc:
                if not recovered(ex, rn, port, msg, exc, 1):
                    break
            rn.current = None
            if rn.blocked and not control_only:
                break
    finally:
        rn.current = None
        taken(ex, edge, count)
    return count


def _take_payloads(
    ex: Execution, rn: RunningNode, edge: Edge, budget: int, control_only: bool
) -> int:
    """Call an inline ``@node`` function directly on each payload: its fast path.

    No ``on_message``, no ``emit``: the result goes straight to the output edges, wrapped
    only if the input carried headers. Same semantics as ``FunctionNode.on_message``.
    """
    queue, fn, outputs = edge.queue, rn.fn, rn.fn_outputs
    assert fn is not None  # noqa: S101  # chosen by consume() only when set
    if len(outputs) == 1 and type(outputs[0]) is Edge and outputs[0].is_block and not control_only:
        return _take_payloads_to_one(ex, rn, edge, budget, outputs[0])
    count = emitted = 0
    try:
        while queue and count < budget:
            item = queue.popleft()
            count += 1
            if type(item) is Message:
                try:
                    result = fn(item.payload)
                except Exception as exc:
                    if not recovered(ex, rn, edge.port, item, exc, 1):
                        break
                    continue
                if result is None:
                    continue
                if item.headers is not EMPTY_HEADERS and type(result) is not Message:
                    result = new_message(result, item.headers)
            else:
                try:
                    result = fn(item)
                except Exception as exc:
                    if not recovered(ex, rn, edge.port, as_message(item), exc, 1):
                        break
                    continue
                if result is None:
                    continue
            emitted += 1
            for out in outputs:
                out.push(result)
            if rn.blocked and not control_only:
                break
    finally:
        rn.emitted += emitted
        if not outputs:
            rn.unrouted += emitted
        taken(ex, edge, count)
    return count


def _take_payloads_to_one(
    ex: Execution, rn: RunningNode, edge: Edge, budget: int, out: Edge
) -> int:
    """``_take_payloads`` for the common shape, one ``block`` output edge, with its push inlined.

    Measured: the call to ``Edge.push`` was a third of a hop's cost. Nothing else runs during
    the turn, so the output only grows: its high-water mark and its consumer's place in the
    ready queue are settled once at the end, and room is counted instead of measured. Counters
    are written back when the turn ends (also on error), so they stay exact.
    """
    queue, fn = edge.queue, rn.fn
    assert fn is not None  # noqa: S101  # chosen by consume() only when set
    out_queue = out.queue
    append = out_queue.append
    room = out.capacity - len(out_queue)
    if room <= 0:  # the capacity shrank under a queue that was not full
        out.mark_full()
        return 0
    count = emitted = 0
    try:
        for _ in range(min(len(queue), budget)):
            item = queue.popleft()
            count += 1
            try:
                if type(item) is Message:
                    result = fn(item.payload)
                    if result is not None and item.headers is not EMPTY_HEADERS:
                        result = new_message(result, item.headers)
                else:
                    result = fn(item)
            except Exception as exc:
                if not recovered(ex, rn, edge.port, as_message(item), exc, 1):
                    break
                continue
            if result is None:
                continue
            append(result)
            emitted += 1
            if emitted >= room:
                out.mark_full()
                break
    finally:
        if emitted:
            rn.emitted += emitted
            out.enqueued += emitted
            depth = len(out_queue)
            if depth > out.high_water:
                out.high_water = depth
            target = out.target
            if target.ready_rank < out.rank:
                out.ready.add(target, out.rank)
        taken(ex, edge, count)
    return count


def recovered(
    ex: Execution, rn: RunningNode, port: str, msg: Message, exc: Exception, attempt: int
) -> bool:
    """Apply the error policy to a failed inline call; False if the node now waits to retry."""
    rn.current = None
    decision = decide(ex, rn, port, msg, exc, attempt)
    if decision.delay is None:
        return True
    rn.suspended = True
    ex.timers.add(
        ex.clock.now() + decision.delay,
        lambda: retry_message(ex, rn, port, msg, attempt + 1),
    )
    return False


def retry_message(ex: Execution, rn: RunningNode, port: str, msg: Message, attempt: int) -> None:
    """Call ``on_message`` again for a message whose earlier attempt failed."""
    if rn.finished:
        return
    rn.current = None if msg.headers is EMPTY_HEADERS else msg.headers
    try:
        rn.node.on_message(port, msg)
    except Exception as exc:
        if not recovered(ex, rn, port, msg, exc, attempt):
            return
    finally:
        rn.current = None
    rn.suspended = False
    after_turn(ex, rn)
