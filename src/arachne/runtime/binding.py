"""Binding: connects a node instance to its running edges (``emit`` and ``finish``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arachne.model.errors import ExecutionError
from arachne.model.message import EMPTY_HEADERS, Headers, Message, new_message
from arachne.model.port import PortSpec
from arachne.runtime.slot import CURRENT_SLOT

if TYPE_CHECKING:
    from arachne.runtime.running_node import RunningNode

__all__ = ["Binding", "bind", "unbind"]


class Binding:
    """A running node's ``emit`` and ``finish``, installed on the node instance.

    A bare value emitted while a message with headers is handled shares those headers. A value
    that starts here (from a tick) gets fresh headers (trace id, timestamp, sequence number)
    when ``stamp`` (tracing) is on; otherwise, with no headers to carry, the edge holds the bare
    value and a ``Message`` is built only for a hook that takes one.
    """

    __slots__ = ("_seq", "_stopper", "_trace_prefix", "rn", "stamp")

    def __init__(
        self,
        rn: RunningNode,
        trace_prefix: str,
        stopper: Callable[[bool], None],
        stamp: bool = False,
    ) -> None:
        self.rn = rn
        self._trace_prefix = trace_prefix
        self._stopper = stopper
        self._seq = 0
        self.stamp = stamp

    def fresh_headers(self) -> Headers:
        """Return headers for a message that starts here (no parent message)."""
        self._seq = seq = self._seq + 1
        return Headers.trusted(
            {"trace_id": f"{self._trace_prefix}{seq:x}", "ts": time.time_ns(), "seq": seq}
        )

    def emit(self, port: Any, value: object) -> None:
        """Send ``value`` to every edge on output ``port`` (a name or a ``PortSpec``)."""
        rn = self.rn
        edges = rn.outputs.get(port) if type(port) is str else None
        if edges is None:
            edges = self._edges_slow(port)
        headers = rn.current
        if type(value) is Message:
            if value.headers is not EMPTY_HEADERS:
                item: Any = value
            elif headers is not None:
                item = new_message(value.payload, headers)
            else:
                item = self._stamped(value.payload)
        elif headers is not None:
            item = new_message(value, headers)
        elif self.stamp:
            item = new_message(value, self.fresh_headers())
        else:
            item = value  # no headers to carry: the edge holds the bare payload
        rn.emitted += 1
        if not edges:
            rn.unrouted += 1
            return
        for edge in edges:
            edge.push(item)

    def _stamped(self, payload: Any) -> Any:
        return new_message(payload, self.fresh_headers()) if self.stamp else payload

    def emit_captured(self, port: Any, value: object) -> None:
        """``emit`` for nodes whose calls run in tasks or threads: hold it in the call's slot.

        Outside a call (``on_start``, say) it sends at once, as ``emit`` does.
        """
        slot = CURRENT_SLOT.get()
        if slot is None:
            self.emit(port, value)
            return
        name = port.name if isinstance(port, PortSpec) else port
        if name not in self.rn.outputs:
            self._edges_slow(name)  # raises, naming the ports
        slot.outputs.append((name, value))

    def _edges_slow(self, port: Any) -> tuple[Any, ...]:
        name = port.name if isinstance(port, PortSpec) else port
        edges = self.rn.outputs.get(name) if isinstance(name, str) else None
        if edges is None:
            known = ", ".join(sorted(self.rn.outputs)) or "none"
            raise ValueError(
                f"node {self.rn.id!r} emitted on {name!r}, which is not one of its output "
                f"ports ({known}); declare it in outputs() or fix the name"
            )
        return edges

    def finish(self) -> None:
        """Ask for the node to finish once its current hook returns."""
        self.rn.finish_requested = True

    def request_stop(self, drain: bool) -> None:
        """Ask the execution to stop (see ``Execution.request_stop``)."""
        self._stopper(drain)


def bind(
    rn: RunningNode,
    trace_prefix: str,
    stopper: Callable[[bool], None],
    *,
    stamp: bool = False,
) -> None:
    """Install ``rn``'s binding and context on its node instance (``stamp``: tracing on)."""
    node = rn.node
    if node.__dict__.get("_arachne_binding") is not None:
        raise ExecutionError(
            f"node instance {rn.id!r} is already part of a running execution; "
            "create a new instance for each execution"
        )
    binding = Binding(rn, trace_prefix, stopper, stamp)
    node.__dict__["_arachne_binding"] = binding
    node.__dict__["_arachne_context"] = rn.context
    # Shadow Node.emit with the bound method: one call instead of two per emitted message.
    node.__dict__["emit"] = binding.emit if rn.inline else binding.emit_captured


def unbind(rn: RunningNode) -> None:
    """Detach ``rn``'s node instance so it can be used again; its context stays readable."""
    node = rn.node
    node.__dict__["_arachne_binding"] = None
    node.__dict__.pop("emit", None)
