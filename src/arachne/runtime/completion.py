"""End of stream: finishing nodes, closing their edges, and stopping them at the end."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from arachne.model.errors import NodeFailed
from arachne.runtime.running_node import NO_INPUT_RANK

if TYPE_CHECKING:
    from arachne.runtime.execution import Execution
    from arachne.runtime.running_node import RunningNode

__all__ = ["describe", "finish_node", "stop_nodes"]

log = logging.getLogger("arachne.runtime")


def describe(exc: BaseException) -> str:
    """Return ``Type: message`` for an exception, as error messages and events show it."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def finish_node(ex: Execution, rn: RunningNode) -> None:
    """Run ``on_finish`` (which may still emit), then close the node's output edges.

    A downstream node whose inputs have all closed is queued so that it finishes in turn once
    it has taken what is left on them.
    """
    if rn.finished:
        return
    rn.finished = True
    rn.current = None
    try:
        rn.node.on_finish()
    except Exception as exc:
        rn.errors += 1
        raise NodeFailed(rn.id, f"on_finish raised {describe(exc)}") from exc
    for edges in rn.outputs.values():
        for edge in edges:
            edge.closed = True
            target = edge.target
            target.inputs_open -= 1
            if target.inputs_open == 0 and not target.finished:
                ex.ready.add(target, NO_INPUT_RANK)
    ex.notify("node.finished", rn.id)


def stop_nodes(ex: Execution) -> BaseException | None:
    """Call ``on_stop`` on every started node in reverse topological order.

    Every node gets its call even if an earlier one raises; the first error is returned as a
    ``NodeFailed`` (with the cause chained) and the rest are logged.
    """
    first: BaseException | None = None
    for rn in reversed(list(ex.wiring.nodes.values())):
        if not rn.started or rn.stopped:
            continue
        rn.stopped = True
        try:
            rn.node.on_stop()
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
