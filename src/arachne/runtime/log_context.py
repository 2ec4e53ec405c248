"""Which execution, node and trace a log record comes from, read only when one is made.

The scheduler notes the node it is activating (and each call off the loop notes its own node)
in a context variable: two assignments per activation, nothing per message. Whoever formats
a record (``arachne.observability.logs``) asks :func:`log_fields` for the ids then, so a
record that is never made costs nothing.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Final

from arachne.runtime.slot import CURRENT_SLOT

if TYPE_CHECKING:
    from arachne.runtime.running_node import RunningNode

__all__ = ["CURRENT_EXECUTION", "CURRENT_NODE", "log_fields"]

CURRENT_NODE: Final[ContextVar[RunningNode | None]] = ContextVar(
    "arachne_current_node", default=None
)
"""The node whose hook runs here (on the loop, in a worker thread or in a coroutine)."""

CURRENT_EXECUTION: Final[ContextVar[str | None]] = ContextVar(
    "arachne_current_execution", default=None
)
"""The id of the execution driven here (set for its whole run on the loop)."""


def log_fields() -> dict[str, str]:
    """Return the ids a log record made now should carry: execution, node, trace.

    ``trace_id`` is the one of the message being handled, when it has headers (tracing on,
    or a message from ``inject``).
    """
    fields: dict[str, str] = {}
    rn = CURRENT_NODE.get()
    if rn is not None:
        fields["execution_id"] = rn.context.execution_id
        fields["node_id"] = rn.id
        slot = CURRENT_SLOT.get()  # a call off the loop: its own message
        headers = slot.msg.headers if slot is not None and slot.msg is not None else rn.current
        trace = headers.get("trace_id") if headers else None
        if trace is not None:
            fields["trace_id"] = str(trace)
    else:
        execution = CURRENT_EXECUTION.get()
        if execution is not None:
            fields["execution_id"] = execution
    return fields
