"""End of stream: finishing nodes, closing their edges, and stopping them at the end."""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

from arachne.model.errors import ExecutionError, NodeFailed
from arachne.runtime.running_node import NO_INPUT_RANK
from arachne.runtime.slot import CURRENT_SLOT, Slot, invoke

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from arachne.runtime.execution import Execution
    from arachne.runtime.running_node import RunningNode

__all__ = ["close_outputs", "describe", "finish_node", "finish_refused", "stop_nodes"]

log = logging.getLogger("arachne.runtime")


def describe(exc: BaseException) -> str:
    """Return ``Type: message`` for an exception, as error messages and events show it."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def finish_refused(rn: RunningNode) -> ExecutionError:
    """Return the error for ``finish()`` called by a node that has inputs."""
    return ExecutionError(
        f"node {rn.id!r} called finish() but it has inputs; finish() is for sources, "
        "a node with inputs finishes when all of them have ended"
    )


def finish_node(ex: Execution, rn: RunningNode) -> None:
    """Run ``on_finish`` (which may still emit), then close the node's output edges.

    An ``async def on_finish`` runs as a task; the outputs close when it is done. A downstream
    node whose inputs have all closed is queued so that it finishes in turn once it has taken
    what is left on them.
    """
    if rn.finished or rn.finishing:
        return
    rn.finishing = True
    rn.current = None
    try:
        result = invoke(rn.node.on_finish)
    except Exception as exc:
        rn.errors += 1
        raise NodeFailed(rn.id, f"on_finish raised {describe(exc)}") from exc
    if inspect.isawaitable(result):
        ex.spawn(_finish_later(ex, rn, result))
        return
    close_outputs(ex, rn)


async def _finish_later(ex: Execution, rn: RunningNode, pending: Awaitable[Any]) -> None:
    slot = Slot(None, None)
    token = CURRENT_SLOT.set(slot)
    try:
        await pending
    except Exception as exc:
        rn.errors += 1
        failure = NodeFailed(rn.id, f"on_finish raised {describe(exc)}")
        failure.__cause__ = exc
        ex.fail_soon(failure)
        return
    finally:
        CURRENT_SLOT.reset(token)
    binding = rn.node._arachne_binding  # bound while the execution runs
    if binding is not None:
        for port, value in slot.outputs:
            binding.emit(port, value)
    close_outputs(ex, rn)
    ex.wake.set()


def close_outputs(ex: Execution, rn: RunningNode) -> None:
    """Mark ``rn`` finished and close its output edges, queuing nodes whose inputs all ended."""
    rn.finished = True
    for edges in rn.outputs.values():
        for edge in edges:
            edge.closed = True
            target = edge.target
            target.inputs_open -= 1
            if target.inputs_open == 0 and not target.finished:
                ex.ready.add(target, NO_INPUT_RANK)
    ex.notify("node.finished", rn.id)


async def stop_nodes(ex: Execution) -> BaseException | None:
    """Call ``on_stop`` on every started node in reverse topological order.

    Every node gets its call even if an earlier one raises; the first error is returned as a
    ``NodeFailed`` (with the cause chained) and the rest are logged. ``async def on_stop`` is
    awaited.
    """
    first: BaseException | None = None
    for rn in reversed(list(ex.wiring.nodes.values())):
        if not rn.started or rn.stopped:
            continue
        rn.stopped = True
        try:
            result = invoke(rn.node.on_stop)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            rn.errors += 1
            if first is None:
                failure = NodeFailed(rn.id, f"on_stop raised {describe(exc)}")
                failure.__cause__ = exc
                first = failure
            else:
                log.exception("node %r: on_stop raised", rn.id)
        ex.notify("node.stopped", rn.id)
    return first
