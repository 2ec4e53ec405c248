"""Calls that run off the scheduler's turn: async tasks, a thread pool, a process pool.

Each call is a :class:`~arachne.runtime.slot.Slot`. A node has at most ``concurrency`` slots in
flight; what a call emits is held in its slot and sent when the call lands, back on the loop,
in input order when the node is ``ordered``. So no edge is ever touched off the loop thread.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any

from arachne.model.errors import NodeFailed
from arachne.model.message import EMPTY_HEADERS, as_message
from arachne.runtime.failure import decide
from arachne.runtime.requeue import after_turn, taken
from arachne.runtime.slot import CURRENT_SLOT, Slot, invoke

if TYPE_CHECKING:
    from arachne.runtime.binding import Binding
    from arachne.runtime.edge import Edge
    from arachne.runtime.execution import Execution
    from arachne.runtime.running_node import RunningNode

__all__ = ["start_calls", "start_tick"]


def start_calls(ex: Execution, rn: RunningNode) -> None:
    """Start calls for queued messages until ``concurrency`` are in flight or input runs out."""
    while rn.pending < rn.concurrency and not rn.blocked and not rn.suspended:
        edge = _next_input(rn)
        if edge is None:
            return
        msg = as_message(edge.queue.popleft())
        taken(ex, edge, 1)
        _begin(ex, rn, Slot(edge.port, msg))


def start_tick(ex: Execution, rn: RunningNode) -> None:
    """Start one ``on_tick`` call of a source or timed node, unless one is in flight."""
    if rn.pending or rn.suspended:
        return
    rn.ticks += 1
    _begin(ex, rn, Slot(None, None))


def _next_input(rn: RunningNode) -> Edge | None:
    inputs = rn.inputs
    count = len(inputs)
    if count > 1 and inputs[0].rank == inputs[-1].rank:
        rn.rotation = (rn.rotation + 1) % count
        inputs = inputs[rn.rotation :] + inputs[: rn.rotation]
    return next((edge for edge in inputs if edge.queue), None)


def _begin(ex: Execution, rn: RunningNode, slot: Slot) -> None:
    rn.pending += 1
    if rn.ordered:
        rn.slots.append(slot)
    _run(ex, rn, slot)


def _run(ex: Execution, rn: RunningNode, slot: Slot) -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any]
    if rn.mode == "async":
        future = loop.create_task(_call_async(rn, slot))
    elif rn.mode == "thread":
        future = loop.run_in_executor(ex.pools.threads(), _call_sync, rn, slot)
    else:
        assert slot.msg is not None  # noqa: S101  # process mode has no ticks (checked when wired)
        future = loop.run_in_executor(
            ex.pools.processes(), call_function, type(rn.node), slot.msg.payload
        )
    ex.tasks.add(future)
    future.add_done_callback(lambda done: _landed(ex, rn, slot, done))


async def _call_async(rn: RunningNode, slot: Slot) -> None:
    token = CURRENT_SLOT.set(slot)
    try:
        if slot.msg is None:
            result = invoke(rn.node.on_tick)
        else:
            result = invoke(rn.node.on_message, slot.port, slot.msg)
        if inspect.isawaitable(result):
            await result
    finally:
        CURRENT_SLOT.reset(token)


def _call_sync(rn: RunningNode, slot: Slot) -> None:
    token = CURRENT_SLOT.set(slot)
    try:
        if slot.msg is None:
            rn.node.on_tick()
        else:
            rn.node.on_message(slot.port, slot.msg)  # type: ignore[arg-type]
    finally:
        CURRENT_SLOT.reset(token)


def call_function(cls: Any, payload: Any) -> list[tuple[str, Any]]:
    """Run a ``@node`` function in a worker process; return what it emits as (port, value)."""
    result = cls.fn(payload)
    port = cls.output_port
    if cls.many:
        return [(port, item) for item in result]
    return [] if result is None else [(port, result)]


def _landed(ex: Execution, rn: RunningNode, slot: Slot, future: asyncio.Future[Any]) -> None:
    ex.tasks.discard(future)
    if future.cancelled() or rn.finished or ex.cancel_requested:
        return
    exc = future.exception()
    if exc is None:
        if rn.mode == "process":
            slot.outputs = future.result()
        _done(ex, rn, slot)
        return
    slot.outputs.clear()
    try:
        decision = decide(ex, rn, slot.port, slot.msg, exc, slot.attempt)
    except NodeFailed as failure:
        ex.fail_soon(failure)
        return
    if decision.delay is None:
        slot.failed = True
        _done(ex, rn, slot)
        return
    slot.attempt += 1
    ex.timers.add(ex.clock.now() + decision.delay, lambda: _run(ex, rn, slot))
    ex.wake.set()


def _done(ex: Execution, rn: RunningNode, slot: Slot) -> None:
    slot.done = True
    if slot.msg is None:
        rn.idle = not slot.outputs and not slot.failed  # a failed tick may have consumed input
    if rn.ordered:
        while rn.slots and rn.slots[0].done:
            _send(rn, rn.slots.popleft())
    else:
        _send(rn, slot)
    after_turn(ex, rn)
    ex.wake.set()


def _send(rn: RunningNode, slot: Slot) -> None:
    rn.pending -= 1
    binding: Binding = rn.node._arachne_binding  # type: ignore[assignment]  # bound while running
    msg = slot.msg
    rn.current = None if msg is None or msg.headers is EMPTY_HEADERS else msg.headers
    try:
        for port, value in slot.outputs:
            binding.emit(port, value)
    finally:
        rn.current = None
