"""Values offered from outside a running graph: checked, queued in order, held back when full.

``Execution.inject`` and ``replay`` come here. A value is checked against its port's schema in
the caller's thread (so a bad one raises there), given headers if it has none, and queued on
the node's inject edge as one change of the running graph. That edge is bounded by the
runtime's ``max_backpressure_queue`` (``MAX_BACKPRESSURE_QUEUE``, 10,000 by default), so a
paused execution queues that many injected messages per input, and past it the edge's overflow
policy applies (``Execution.set_overflow("inject->node.port", ...)``): under ``block`` (the
default) callers wait for room as a producer on a full edge would (from a hook on the loop,
which cannot wait, that is an error); under ``fail`` they get ``EdgeFull``; ``drop``,
``latest`` and a ``Coalesce`` shed on the edge, counted in its stats.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from arachne.model.errors import EdgeFull, ExecutionError, GraphError
from arachne.model.message import Headers, Message, new_message
from arachne.model.policies import overflow_name
from arachne.runtime.lineage import LINEAGE
from arachne.runtime.tracing import TRACEPARENT

if TYPE_CHECKING:
    from arachne.model.port import PortSpec
    from arachne.runtime.gate import Gate
    from arachne.runtime.running_node import RunningNode
    from arachne.runtime.wiring import Wiring

__all__ = [
    "INJECT_LOOK",
    "INJECT_POLL",
    "MAX_BACKPRESSURE_QUEUE",
    "Injection",
    "Injector",
    "check_queue_bound",
]

log = logging.getLogger("arachne.runtime")

MAX_BACKPRESSURE_QUEUE: Final = 10_000
"""Injected messages one input queues, not yet taken, before its inject edge's policy applies
(by default: ``inject`` waits for room)."""


def check_queue_bound(bound: object) -> int:
    """Return ``bound`` if it is a valid ``max_backpressure_queue``; ``ValueError`` if not."""
    if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
        raise ValueError(f"max_backpressure_queue must be an int >= 1, got {bound!r}")
    return bound


INJECT_LOOK: Final = 256
"""Injections between two looks at the backlog, at most (a look is a read on the execution's
loop); a bound under 2,048 is looked at every eighth of it."""

INJECT_POLL: Final = 0.001
"""Seconds between looks while an injecting thread waits for room."""

Injection = tuple["RunningNode", str, Message, bool]
"""A checked value: the node, its input port and the message to queue there."""


class Injector:
    """One execution's injections: the checks, the headers, the queueing and its bound."""

    def __init__(
        self,
        execution_id: str,
        wiring: Wiring,
        gate: Gate,
        *,
        ended: Callable[[], str | None],
        ending: Callable[[], bool],
        limit: int = MAX_BACKPRESSURE_QUEUE,
    ) -> None:
        self.id = execution_id
        self.limit = limit
        self.wiring = wiring
        self.gate = gate
        self._ended = ended  # the final state's name once the execution has ended
        self._ending = ending  # whether it is ending (nodes stopping): changes are refused
        self._injected = 0
        self._since_look = 0  # injections since the backlog was last looked at
        # A small bound is looked at more often, so it is kept within a few messages.
        self.look_every = max(1, min(INJECT_LOOK, limit // 8))
        # Injections asked for whose change has not run yet: a look at the backlog counts
        # them, or a read served before the inbox would miss up to a look's worth.
        self._unapplied: Counter[str] = Counter()  # by inject edge id
        self._unapplied_lock = threading.Lock()
        self.strict: set[str] = set()  # inject edges whose policy is fail

    def check_port(self, node_id: str, port: str) -> tuple[RunningNode, PortSpec]:
        """Return the running node ``node_id`` and its input ``port``; ``GraphError`` if none."""
        rn = self.wiring.nodes.get(node_id)
        if rn is None:
            known = ", ".join(self.wiring.nodes) or "none"
            raise GraphError(f"cannot inject into unknown node {node_id!r}; known: {known}")
        spec = rn.spec.input(port)
        if spec is None:
            known = ", ".join(p.name for p in rn.spec.inputs) or "none"
            raise GraphError(f"node {node_id!r} has no input port {port!r}; its inputs: {known}")
        return rn, spec

    def check(self, node_id: str, port: str, value: Any) -> Injection:
        """Check ``value`` for ``node_id``'s ``port``; return the message to queue there."""
        self._refuse_if_ended()  # first: once the execution ended, that is what to say
        rn, spec = self.check_port(node_id, port)
        if rn.finished:
            raise ExecutionError(f"node {node_id!r} has finished; it takes no more messages")
        payload = value.payload if isinstance(value, Message) else value
        try:
            checked = spec.adapter.validate(payload)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"inject into {node_id}.{port}: {exc}") from None
        headers = value.headers if isinstance(value, Message) else None
        made = not headers
        if not headers:
            self._injected += 1
            headers = Headers.trusted(
                {
                    "trace_id": f"{self.id}-inject-{self._injected:x}",
                    "ts": time.time_ns(),
                    "seq": self._injected,
                }
            )
        return rn, port, Message(checked, headers), made

    def deliver(self, injections: list[Injection], timeout: float | None) -> None:
        """Queue checked injections, all in one change of the running graph.

        Into an inject edge whose policy is ``fail`` the caller waits for the change and gets
        ``EdgeFull`` if one did not fit (those that did are queued).
        """
        if not injections:
            return
        self._refuse_if_ended()
        self._since_look += len(injections)
        targets = Counter(f"inject->{rn.id}.{port}" for rn, port, _, _ in injections)
        strict = not self.strict.isdisjoint(targets)  # under fail, every call is told
        # (under fail the change itself refuses, exactly, and counts: no look needed)
        if not strict and self._since_look >= self.look_every and self.gate.running:
            self._wait_for_room(targets, timeout)
            self._since_look = 0  # (only once there was room: while full, every call looks)
        with self._unapplied_lock:
            self._unapplied.update(targets)
        refused: list[EdgeFull] = []

        def change() -> None:
            with self._unapplied_lock:
                self._unapplied.subtract(targets)
            if self._ending():
                raise ExecutionError(f"execution {self.id} has ended; it takes no more messages")
            ctx = self.wiring.ctx
            for rn, port, msg, made in injections:
                if self.wiring.nodes.get(rn.id) is not rn or rn.finished:
                    what = "was removed" if self.wiring.nodes.get(rn.id) is not rn else "finished"
                    log.warning("node %r %s before a message injected into it arrived", rn.id, what)
                    continue
                edge = self.wiring.inject_edge(rn.id, port)
                try:
                    edge.push(self._started(rn.id, msg, made))
                except EdgeFull as full:  # counted (failed)
                    refused.append(full)
                    continue
                if ctx.metrics:  # a flow starts here: probed from its arrival
                    now = ctx.clock.now()
                    edge.probe(now, now)

        if not strict:
            self.gate.apply(change)
            return
        done = self.gate.submit(change)
        if self.gate.on_loop():
            return  # a hook cannot wait: the refusal is counted on the edge
        done.result()
        if refused:
            raise refused[0]

    def _started(self, node_id: str, msg: Message, made: bool) -> Message:
        """Return ``msg`` as it starts its flow (on the loop), a trace's root and an origin.

        With lineage, a sampled message is an origin (``inject`` at ``node_id``); a lineage id
        it came with is dropped, as it names nothing in this execution. A message
        that carries a ``traceparent`` continues that trace. Otherwise the tracer
        starts one; its id becomes the message's ``trace_id`` where the runtime ``made`` the
        headers (a caller's own ``trace_id`` is kept).
        """
        ctx = self.wiring.ctx
        tracer, lineage = ctx.tracer, ctx.lineage
        headers = msg.headers
        root = None
        if tracer is not None and TRACEPARENT not in headers:
            root = tracer.root(self.id, f"inject {node_id}")
        origin = None
        if lineage is not None:
            origin = lineage.origin(node_id, "inject", msg.payload)
        if root is None and origin is None and LINEAGE not in headers:
            return msg
        fields = headers.as_dict()
        # A lineage id from elsewhere (another execution's output, a dead letter kept from
        # an earlier run) names nothing here: an injected message starts its lineage anew.
        fields.pop(LINEAGE, None)
        if root is not None:
            if made:
                fields["trace_id"] = root[0]
            fields[TRACEPARENT] = root[1]
        if origin is not None:
            fields[LINEAGE] = origin
        return new_message(msg.payload, Headers.trusted(fields))

    def _wait_for_room(self, targets: Counter[str], timeout: float | None) -> None:
        """Return once each inject edge in ``targets`` has room for its share, as its policy says.

        Each input has its own bound (``limit``). Under ``block`` (an edge with no other
        policy set) the caller waits until fewer than ``limit`` messages injected there wait
        to be taken; under ``fail`` it gets ``EdgeFull`` if they would not fit. Under the
        other policies there is always room: the edge sheds.
        """
        gate = self.gate
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._refuse_if_ended()
            backlogs = gate.read(lambda: self._inject_backlogs(targets))
            full = {edge_id: (backlog, policy) for edge_id, (backlog, policy) in backlogs.items()}
            failing = [
                edge_id
                for edge_id, (backlog, policy) in full.items()
                if policy == "fail" and backlog + targets[edge_id] > self.limit
            ]
            if failing:
                raise EdgeFull(failing[0], self.limit)
            waiting = [
                (edge_id, backlog)
                for edge_id, (backlog, policy) in full.items()
                if policy == "block" and backlog >= self.limit
            ]
            if not waiting:
                return
            edge_id, backlog = waiting[0]
            if gate.on_loop():
                raise ExecutionError(
                    f"execution {self.id}: {backlog} injected messages wait to be taken on "
                    f"{edge_id}; a hook cannot wait for room on its own loop: inject from "
                    "another thread (it then waits) or emit through an edge"
                )
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"execution {self.id}: {backlog} injected messages still wait to be taken "
                    f"on {edge_id} after {timeout} s (is it paused?); nothing was injected"
                )
            time.sleep(INJECT_POLL)

    def _refuse_if_ended(self) -> None:
        state = self._ended()
        if state is not None:
            raise ExecutionError(
                f"execution {self.id} has ended ({state}); it takes no more messages"
            )

    def _inject_backlogs(self, targets: Counter[str]) -> dict[str, tuple[int, str]]:
        """Return, per edge of ``targets``, the messages injected not yet taken, and its policy."""
        edges = self.wiring.edges
        with self._unapplied_lock:
            unapplied = dict(self._unapplied)
        result = {}
        for edge_id in targets:
            edge = edges.get(edge_id)
            queued = len(edge) if edge is not None else 0
            policy = overflow_name(edge.overflow) if edge is not None else "block"
            result[edge_id] = (queued + unapplied.get(edge_id, 0), policy)
        return result
