"""Binding: a running node's way out to its outlets (``emit``), and ``finish``/``request_stop``.

The node instance gets its ``emit`` from here (see :meth:`Binding.emitter`): the fastest path
its outputs allow, which the wiring chooses again whenever the outputs change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from arachne.model.error_record import ERROR_PORT
from arachne.model.errors import ExecutionError
from arachne.model.function_stage import FunctionStage
from arachne.model.message import EMPTY_HEADERS, Headers, Message, new_message
from arachne.model.port import PortSpec
from arachne.runtime.edge import Edge
from arachne.runtime.hops import carry
from arachne.runtime.lineage import LINEAGE
from arachne.runtime.running_node import NO_INPUT_RANK
from arachne.runtime.slot import CURRENT_SLOT
from arachne.runtime.taints import TAINTS
from arachne.runtime.tracing import TRACEPARENT

if TYPE_CHECKING:
    from arachne.model.node import Emitter
    from arachne.model.schema import SchemaAdapter
    from arachne.runtime.clock import Clock
    from arachne.runtime.gate import Gate
    from arachne.runtime.lineage import Lineage
    from arachne.runtime.ready_queue import ReadyQueue
    from arachne.runtime.running_node import Outlet, RunningNode
    from arachne.runtime.tracing import Tracer
    from arachne.runtime.watermarks import Watermarks

__all__ = ["WATERMARK", "Binding", "check_value", "checked_stage", "deliver"]

WATERMARK: Final = "\x00watermark"
"""The port a watermark said during a call is held under in the call's slot (no port's name):
it leaves when the call lands, after what the call emitted before it."""


def deliver(outlets: tuple[Outlet, ...], results: list[Any], headers: Headers | None) -> None:
    """Send a function's ``results`` to ``outlets``, carrying the input's ``headers`` if any.

    The one routing step of every path that calls a function stage (from an edge, fused, in a
    batch): a result that is a ``Message`` keeps its own headers, a bare one takes the input's.
    """
    if headers is not None and headers is not EMPTY_HEADERS:
        results = [r if type(r) is Message else new_message(r, headers) for r in results]
    for outlet in outlets:
        outlet.push_many(results)


def check_value(node_id: str, port: str, adapter: SchemaAdapter, value: object) -> object:
    """Return ``value`` checked against output ``port``'s schema (maybe converted).

    ``TypeError`` naming the node, the port, what it expects and what it got otherwise.
    """
    try:
        return adapter.validate(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"node {node_id!r} emitted {type(value).__name__} on port {port!r}, which "
            f"expects {adapter.name} ({exc}); fix the value or the port's schema"
        ) from None


def checked_stage(node_id: str, stage: FunctionStage, adapter: SchemaAdapter) -> FunctionStage:
    """Return ``stage`` with every result checked against its output port, inside the call.

    A result that does not fit makes the call raise, so the node's error policy handles the
    value (or batch) that produced it, on every path the stage runs on, fused ones included.
    """
    fn, port = stage.fn, stage.output_port

    def check(value: object) -> object:
        return value if value is None else check_value(node_id, port, adapter, value)

    def mapped(value: Any) -> Any:
        return check(fn(value))

    def kept(value: Any) -> bool:
        if not fn(value):
            return False
        check(value)
        return True

    def many(value: Any) -> list[Any]:
        return [check(result) for result in fn(value)]

    def batch(values: list[Any]) -> list[Any] | None:
        returned = fn(values)
        return None if returned is None else [check(result) for result in returned]

    wrapped = {"map": mapped, "filter": kept, "many": many, "batch": batch}[stage.kind]
    return FunctionStage(wrapped, stage.kind, port)


class Binding:
    """A running node's ``emit``, ``finish`` and ``request_stop``.

    A bare value emitted while a message with headers is handled shares those headers. A value
    that starts here (from a tick) gets fresh headers (trace id, timestamp, sequence number)
    when ``stamp`` (tracing) is on; otherwise, with no headers to carry, the edge holds the bare
    value and a ``Message`` is built only for a hook that takes one. With ``check_types`` every
    value is checked against its port's schema first; a mismatch raises ``TypeError`` in the
    hook, where the node's error policy handles it.
    """

    __slots__ = (
        "_adapters",
        "_clock",
        "_gate",
        "_lineage",
        "_ready",
        "_seq",
        "_stopper",
        "_trace_ids",
        "_trace_prefix",
        "_watermarks",
        "check_types",
        "rn",
        "stamp",
        "tracer",
    )

    def __init__(
        self,
        rn: RunningNode,
        trace_prefix: str,
        stopper: Callable[[bool], None],
        ready: ReadyQueue[RunningNode],
        gate: Gate,
        *,
        stamp: bool = False,
        check_types: bool = False,
        trace_ids: bool = False,
        tracer: Tracer | None = None,
        lineage: Lineage | None = None,
        clock: Clock | None = None,
        watermarks: Watermarks | None = None,
    ) -> None:
        self.rn = rn
        self._watermarks = watermarks
        self._clock = clock
        self.tracer = tracer
        self._lineage = lineage
        # Stamped with neither a tracer nor lineage (nor labels to put on): trace ids asked.
        self._trace_ids = trace_ids or (tracer is None and lineage is None and not rn.introduces)
        self._trace_prefix = trace_prefix
        self._stopper = stopper
        self._ready = ready
        self._gate = gate
        self._seq = 0
        self.stamp = stamp
        self.check_types = check_types
        self._adapters: dict[str, SchemaAdapter] = {
            port.name: port.adapter for port in rn.spec.outputs if port.name != ERROR_PORT
        }

    def emitter(self) -> Emitter:
        """Return the ``emit`` to install on the node for its outputs as they are now.

        Calls that run off the loop capture what they emit; an inline node whose one output
        port has one plain edge emits straight into that edge; any other gets :meth:`emit`.
        """
        rn = self.rn
        if not rn.inline:
            return self.emit_captured
        edge = self.only_edge()
        return edge.emitter() if edge is not None else self.emit

    def only_edge(self) -> Edge | None:
        """Return the node's one outlet if it is a plain edge it may emit straight into."""
        rn = self.rn
        if not rn.inline or self.stamp or self.check_types:
            return None
        ports = [port for port in rn.outputs if port != ERROR_PORT]
        if len(ports) == 1:
            outlets = rn.outputs[ports[0]]
            if len(outlets) == 1 and type(outlets[0]) is Edge:
                return outlets[0]
        return None

    def fresh_headers(self) -> Headers | None:
        """Return headers for a message that starts here (no parent message).

        With a tracer, a source's message starts a trace: its trace id is the root span's and
        ``traceparent`` is set. With lineage, a source's sampled message is an origin (its
        ``lineage`` id); the node's own taint labels go on it. ``None`` when none of these
        applies and no trace ids are asked for.
        """
        tracer, rn, lineage = self.tracer, self.rn, self._lineage
        root = None
        if tracer is not None and not rn.spec.inputs:
            root = tracer.root(rn.context.execution_id, rn.id)
        fields: dict[str, object] = {}
        if root is not None or self._trace_ids:
            self._seq = seq = self._seq + 1
            fields["ts"], fields["seq"] = time.time_ns(), seq
            if root is not None:
                fields["trace_id"], fields[TRACEPARENT] = root
            else:
                fields["trace_id"] = f"{self._trace_prefix}{seq:x}"
        if lineage is not None and not rn.spec.inputs:
            origin = lineage.origin(rn.id, "source")
            if origin is not None:
                fields[LINEAGE] = origin
        if rn.introduces:
            fields[TAINTS] = tuple(sorted(rn.introduces))
        return Headers.trusted(fields) if fields else None

    def emit(self, port: Any, value: object) -> None:
        """Send ``value`` to every outlet on output ``port`` (a name or a ``PortSpec``)."""
        rn = self.rn
        outlets = rn.outputs.get(port) if type(port) is str else None
        if outlets is None:
            if port == WATERMARK:  # (said during a call: it leaves in its place)
                self._say(*value)  # type: ignore[misc]
                return
            port, outlets = self._outlets_slow(port)
        if self.check_types:
            value = self._checked(port, value)
        headers = rn.current
        if type(value) is Message:
            own = value.headers
            handed = rn.handed
            if handed is not None and id(value) in handed:  # passed on as it came
                item: Any = value if own is not EMPTY_HEADERS else value.payload
            elif own is not EMPTY_HEADERS:
                item = self._own(value, own, headers)
            elif headers is not None:
                item = new_message(value.payload, headers)
            else:
                item = self._stamped(value.payload)
        elif headers is not None:
            item = new_message(value, headers)
        elif self.stamp:
            fresh = self.fresh_headers()
            item = value if fresh is None else new_message(value, fresh)
        else:
            item = value  # no headers to carry: the edge holds the bare payload
        counts = rn.counts
        counts.emitted += 1
        if not outlets:
            counts.unrouted += 1
            return
        for outlet in outlets:
            outlet.push(item)

    def _own(self, value: Message, own: Headers, headers: Headers | None) -> Message:
        """Return ``value``, a message with headers of its own, as it leaves this node.

        The one ``on_message`` was handed goes as it is; a new one keeps its
        headers and carries on the lineage and labels of what the node handles (a source's:
        its fresh ones), see ``runtime.hops.carry``.
        """
        if headers is None:
            fresh = self.fresh_headers() if self.stamp else None
            return value if fresh is None else new_message(value.payload, carry(own, fresh))
        if own is headers:  # the message on_message was handed
            return value
        carried = carry(own, headers)
        return value if carried is own else new_message(value.payload, carried)

    def _stamped(self, payload: Any) -> Any:
        fresh = self.fresh_headers() if self.stamp else None
        return payload if fresh is None else new_message(payload, fresh)

    def _checked(self, port: str, value: object) -> object:
        adapter = self._adapters.get(port)
        if adapter is None:
            return value
        payload = value.payload if isinstance(value, Message) else value
        checked = check_value(self.rn.id, port, adapter, payload)
        if checked is payload:
            return value
        return Message(checked, value.headers) if isinstance(value, Message) else checked

    def emit_captured(self, port: Any, value: object) -> None:
        """``emit`` for nodes whose calls run in tasks or threads: hold it in the call's slot.

        Outside a call (``on_start``, say) it sends at once, as ``emit`` does.
        """
        slot = CURRENT_SLOT.get()
        if slot is None:
            self.emit(port, value)
            return
        name, _ = self._outlets_slow(port)
        slot.outputs.append((name, value))

    def _outlets_slow(self, port: Any) -> tuple[str, tuple[Outlet, ...]]:
        name = port.name if isinstance(port, PortSpec) else port
        outlets = self.rn.outputs.get(name) if isinstance(name, str) else None
        if outlets is None:
            known = ", ".join(sorted(self.rn.outputs)) or "none"
            raise ValueError(
                f"node {self.rn.id!r} emitted on {name!r}, which is not one of its output "
                f"ports ({known}); declare it in outputs() or fix the name"
            )
        return name, outlets

    def finish(self) -> None:
        """Ask for the node to finish once its current hook returns."""
        self.rn.finish_requested = True

    def wake(self) -> None:
        """Queue an idle source for a turn and wake the scheduler (see ``Node.wake``)."""
        rn = self.rn

        def change() -> None:
            if rn.idle and not rn.finished:
                rn.idle = False  # (left among the idle sources: a second look costs one pull)
                self._ready.add(rn, NO_INPUT_RANK)
                self._gate.wake()

        if self._gate.on_loop() or not self._gate.running:
            change()
        else:
            self._gate.apply(change)

    def request_stop(self, drain: bool) -> None:
        """Ask the execution to stop (see ``Execution.request_stop``)."""
        self._stopper(drain)

    def now(self) -> float:
        """Return the execution's clock reading (see ``Node.now``)."""
        clock = self._clock
        return time.monotonic() if clock is None else clock.now()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on the execution's clock (see ``Node.sleep``)."""
        clock = self._clock
        if clock is None:
            await asyncio.sleep(seconds)
            return
        await clock.wait_until(clock.now() + max(0.0, seconds), asyncio.Event())

    def emit_watermark(self, t: float, idle_after: float | None) -> None:
        """Send the node's own watermark ``t`` on (see ``Node.emit_watermark``).

        Said during a call that runs in a task or a thread, it is held with what the call
        emits and leaves after it, when the call lands; elsewhere it leaves at once.
        """
        slot = CURRENT_SLOT.get()
        if slot is not None:
            slot.outputs.append((WATERMARK, (t, idle_after)))
        elif self._gate.on_loop() or not self._gate.running:
            self._say(t, idle_after)
        else:
            self._gate.apply(lambda: self._say(t, idle_after))

    def _say(self, t: float, idle_after: float | None) -> None:
        watermarks = self._watermarks
        if watermarks is None:
            raise ExecutionError(f"node {self.rn.id!r}: this execution carries no watermarks")
        watermarks.say(self.rn, t, idle_after)

    def cancel(self) -> None:
        """End the node after the message in hand (see ``Node.cancel``).

        From a hook running off the loop (thread mode), the change is made on the loop.
        """
        rn = self.rn

        def change() -> None:
            rn.held = rn.cancel_requested = True

        if self._gate.on_loop() or not self._gate.running:
            change()
        else:
            self._gate.apply(change)

    def hold_input(self, held: bool) -> None:
        """Hold the node's input (see ``Node.hold_input``); a release queues it if it can go.

        From a hook running off the loop (thread mode), the change is made on the loop; a
        release from outside any hook (a callback: credit returning to a mesh link) also wakes
        a scheduler that waits.
        """
        rn = self.rn

        def change() -> None:
            rn.held = held
            if not held:
                rank = rn.wake_rank()
                if rank is not None and not rn.blocked:
                    self._ready.add(rn, rank)
                    self._gate.wake()

        if self._gate.on_loop() or not self._gate.running:
            change()
        else:
            self._gate.apply(change)
