"""Calls that run off the scheduler's turn: async tasks, a thread pool, a process pool.

Each call is a :class:`~arachne.runtime.slot.Slot`. A node has at most ``concurrency`` slots in
flight; what a call emits is held in its slot and sent when the call lands, back on the loop,
in input order when the node is ``ordered``. So no edge is ever touched off the loop thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from typing import TYPE_CHECKING, Any

from arachne.model.errors import NodeFailed, describe
from arachne.model.function_stage import FunctionStage, call_stage, reraise
from arachne.model.message import EMPTY_HEADERS, as_message, new_message
from arachne.runtime.failure import decide, node_failure, schedule_retry
from arachne.runtime.hops import open_hop
from arachne.runtime.log_context import CURRENT_NODE, LogCapture, node_fields, replay_logs
from arachne.runtime.probes import probe_landed, probe_outputs
from arachne.runtime.requeue import after_turn
from arachne.runtime.slot import CURRENT_SLOT, Slot

if TYPE_CHECKING:
    from arachne.model.node import Node
    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import Inlet, RunningNode

__all__ = ["call_function", "start_calls", "start_tick"]


def start_calls(ctx: RunContext, rn: RunningNode) -> None:
    """Start calls for queued messages until ``concurrency`` are in flight or input runs out."""
    while rn.pending < rn.concurrency and not rn.blocked and not rn.suspended:
        if rn.event_time is not None and rn.event_time.draining:
            return  # (a watermark waits for the calls in flight: runtime.watermarks)
        edge = _next_input(rn)
        if edge is None:
            return
        msg = as_message(edge.take_one())
        slot = Slot(edge.port, msg)
        slot.source, slot.position = edge, edge.dequeued
        slot.probe = edge.landed_probe()
        _begin(ctx, rn, slot)


def start_tick(ctx: RunContext, rn: RunningNode) -> None:
    """Start one ``on_tick`` call of a source or timed node, unless one is in flight."""
    if rn.pending or rn.suspended:
        return
    rn.counts.ticks += 1
    _begin(ctx, rn, Slot(None, None))


def _next_input(rn: RunningNode) -> Inlet | None:
    inputs = rn.inputs
    count = len(inputs)
    if count > 1 and inputs[0].rank == inputs[-1].rank:
        rn.rotation = (rn.rotation + 1) % count
        inputs = inputs[rn.rotation :] + inputs[: rn.rotation]
    return next((edge for edge in inputs if len(edge)), None)


def _begin(ctx: RunContext, rn: RunningNode, slot: Slot) -> None:
    rn.pending += 1
    rn.slots.append(slot)  # (in input order; an unordered one leaves as it lands)
    _run(ctx, rn, slot)


def _run(ctx: RunContext, rn: RunningNode, slot: Slot) -> None:
    """Start one attempt of ``slot``'s call.

    The call emits into an attempt of its own (``call``), taken into the slot when it lands:
    an attempt abandoned at its timeout may still run, and what it emits then goes nowhere.
    """
    loop = asyncio.get_running_loop()
    call = Slot(slot.port, slot.msg, slot.attempt)
    if slot.msg is not None:  # a hop: a span, lineage, taint labels (runtime.hops)
        msg = slot.msg
        call.close, headers = open_hop(ctx, rn, slot.port or "", msg.headers, slot.attempt)
        if headers is not msg.headers:  # the call sees, and emits with, what the hop made
            call.msg = new_message(msg.payload, headers)
            call.headers = headers
    slot.expired = False
    if ctx.metrics:
        rn.timing.call_began(ctx.clock.now())
    future: asyncio.Future[Any]
    work: concurrent.futures.Future[Any] | None = None
    if rn.mode == "async":
        future = loop.create_task(_call_async(rn, call))
    else:
        if rn.mode == "thread":
            work = ctx.pools.threads().submit(_call_sync, rn, call)
        else:
            assert slot.msg is not None  # noqa: S101  # process mode has no ticks (wiring checks)
            ids = node_fields(rn, call.msg.headers if call.msg is not None else None)
            level = rn.context.logger.getEffectiveLevel()
            work = ctx.pools.processes().submit(
                call_function, type(rn.node), slot.msg.payload, ids, level
            )
        future = asyncio.wrap_future(work, loop=loop)
    ctx.track(future)
    if rn.timeout is not None:
        _expire_after(ctx, rn, slot, call, future, work, rn.timeout)
    future.add_done_callback(lambda done: _landed(ctx, rn, slot, call, done))


def _expire_after(
    ctx: RunContext,
    rn: RunningNode,
    slot: Slot,
    call: Slot,
    future: asyncio.Future[Any],
    work: concurrent.futures.Future[Any] | None,
    timeout: float,
) -> None:
    """Abandon the call if it has not landed ``timeout`` seconds (the execution's clock) on.

    It lands at once, failed with a ``TimeoutError``, for the node's error policy; whatever
    the call does later is not waited for and goes nowhere. A coroutine is cancelled (one
    that ignores the cancel runs on unseen). A call still queued for a worker is dropped; one
    a thread or process is running cannot be interrupted, so its worker is written off (see
    ``Pools.write_off``) and the pools are not waited for at the end.
    """

    def expire() -> None:
        if future.done() or call.done or (work is not None and work.done()):
            return  # landed (or about to: its callback is queued)
        slot.expired = True
        if work is not None and not work.cancel() and not work.done():
            ctx.pools.write_off(rn.mode)
        ctx.tasks.discard(future)  # nothing waits for it any more, not even the end of the run
        future.cancel()
        _landed(ctx, rn, slot, call, future)

    ctx.timers.add(ctx.clock.now() + timeout, expire)


async def _call_async(rn: RunningNode, slot: Slot) -> None:
    node = rn.node
    CURRENT_NODE.set(rn)  # the task's own context: for log records made during the call
    token = CURRENT_SLOT.set(slot)
    try:
        result = node.on_tick() if slot.msg is None else node.on_message(str(slot.port), slot.msg)
        if result is not None:
            await result
    finally:
        # A coroutine that outlived its run may be closed by the collector, elsewhere.
        with contextlib.suppress(ValueError):
            CURRENT_SLOT.reset(token)


def _call_sync(rn: RunningNode, slot: Slot) -> None:
    node = rn.node
    node_token = CURRENT_NODE.set(rn)  # a pool thread: for log records made during the call
    token = CURRENT_SLOT.set(slot)
    try:
        if slot.msg is None:
            node.on_tick()
        else:
            node.on_message(str(slot.port), slot.msg)
    finally:
        CURRENT_SLOT.reset(token)
        CURRENT_NODE.reset(node_token)


_STAGES: dict[type[Node], FunctionStage] = {}
"""In a worker process: the stage of each ``@node`` function class it has run, made once."""


def _stage_of(cls: type[Node]) -> FunctionStage:
    """Return the stage of an ``@node`` function class (made on its first call here)."""
    stage = _STAGES.get(cls)
    if stage is None:
        stage = cls().as_function_stage()
        if stage is None:
            raise TypeError(
                f"{cls.__qualname__} is not a function node; it cannot run in a process"
            )
        _STAGES[cls] = stage
    return stage


def call_function(
    cls: type[Node], payload: Any, ids: dict[str, str], level: int
) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """Run an ``@node`` function in a worker process.

    Return what it emits as (port, value), and the records it logged at ``level`` or above
    with ``ids`` (execution, node, trace) on them; a call that raises carries its records on
    the exception (``arachne_logs``).
    """
    with LogCapture(level, ids) as capture:
        try:
            stage = _stage_of(cls)
            results, _ = call_stage(stage, [payload], reraise)
        except BaseException as exc:
            exc.arachne_logs = capture.records  # type: ignore[attr-defined]  # travels with it
            raise
    return [(stage.output_port, result) for result in results], capture.records


def _landed(
    ctx: RunContext, rn: RunningNode, slot: Slot, call: Slot, future: asyncio.Future[Any]
) -> None:
    """Take a landed call's result: a loop callback, so whatever it raises fails the run.

    Sending the results may finish the node (``on_finish`` runs) or fill an edge whose policy
    is ``"fail"``; raised here, that would only reach asyncio's exception handler and the run
    would wait for ever.
    """
    try:
        _land(ctx, rn, slot, call, future)
    except NodeFailed as failure:
        ctx.fail_soon(failure)
    except Exception as exc:
        ctx.fail_soon(node_failure(ctx, rn, "on_message", exc, describe(exc)))


def _land(
    ctx: RunContext, rn: RunningNode, slot: Slot, call: Slot, future: asyncio.Future[Any]
) -> None:
    if call.done:  # already landed, at its timeout: what it did since goes nowhere
        if future.done() and not future.cancelled():
            future.exception()  # retrieved, so asyncio does not report it as lost
        return
    call.done = True
    if ctx.metrics:
        rn.timing.call_landed(ctx.clock.now())
    if rn.finished or rn.removed or (future.cancelled() and not slot.expired):
        if call.close is not None:
            call.close(None)
        return
    if slot.expired:
        exc: BaseException | None = TimeoutError(
            f"the call took longer than the node's timeout ({rn.timeout} s) and was abandoned"
        )
    else:
        exc = future.exception()
    if call.close is not None:
        call.close(exc)
    if rn.mode == "process":  # what the worker logged, to this process's loggers
        replay_logs(future.result()[1] if exc is None else getattr(exc, "arachne_logs", []))
    if exc is None:
        slot.outputs = future.result()[0] if rn.mode == "process" else call.outputs
        slot.headers = call.headers
        _done(ctx, rn, slot)
        return
    slot.outputs.clear()
    try:
        delay = decide(ctx, rn, slot.port, slot.msg, exc, slot.attempt)
    except NodeFailed as failure:
        ctx.fail_soon(failure)
        return
    if delay is None:
        slot.failed = True
        _done(ctx, rn, slot)
        return
    slot.attempt += 1
    schedule_retry(ctx, rn, delay, lambda: _run(ctx, rn, slot), hold=False)


def _done(ctx: RunContext, rn: RunningNode, slot: Slot) -> None:
    slot.done = True
    if slot.msg is None:
        rn.idle = not slot.outputs and not slot.failed  # a failed tick may have consumed input
    if rn.ordered:
        while rn.slots and rn.slots[0].done:
            _send(ctx, rn, rn.slots.popleft())
    else:
        rn.slots.remove(slot)
        _send(ctx, rn, slot)
    if ctx.metrics:
        probe_outputs(ctx, rn, ctx.clock.now())
    after_turn(ctx, rn)
    ctx.gate.wake()


def _send(ctx: RunContext, rn: RunningNode, slot: Slot) -> None:
    rn.pending -= 1
    if slot.probe is not None and ctx.metrics:
        probe_landed(ctx, rn, *slot.probe, ctx.clock.now())
    msg = slot.msg
    if slot.headers is not None:
        rn.current = slot.headers
    else:
        rn.current = None if msg is None or msg.headers is EMPTY_HEADERS else msg.headers
    try:
        for port, value in slot.outputs:
            rn.emit_slow(port, value)
    finally:
        rn.current = None
