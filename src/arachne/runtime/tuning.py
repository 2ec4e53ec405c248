"""Live tuning of a running execution: edge capacity, priority and overflow; injection."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from arachne.model.errors import ExecutionError, GraphError
from arachne.model.message import Headers, Message
from arachne.model.node import Node
from arachne.model.policies import check_overflow
from arachne.model.specs import LinkSpec, NodeSpec, PortRef
from arachne.runtime.control import ExecutionControls
from arachne.runtime.edge import Edge
from arachne.runtime.running_node import RunningNode

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from arachne.model.error_record import ErrorRecord
    from arachne.model.graph import Graph
    from arachne.model.policies import Overflow

__all__ = ["ExecutionTuning"]


class ExecutionTuning(ExecutionControls):
    """Re-tune links and inject messages.

    Each call checks its arguments in the caller's thread, then applies the change on the loop.
    """

    _injected: int

    def edge(self, edge_id: str) -> Edge:
        """Return the running edge ``edge_id``; ``GraphError`` naming the known ids if none."""
        edge = self.wiring.edges.get(edge_id)
        if edge is None:
            known = ", ".join(self.wiring.edges) or "none"
            raise GraphError(f"unknown edge {edge_id!r}; known edges: {known}")
        return edge

    def set_capacity(self, edge_id: str, capacity: int) -> None:
        """Change an edge's capacity, in the desired graph and, live, in the running edge."""
        edge = self.edge(edge_id)
        graph = self.graph.replace_link(edge_id, capacity=capacity)
        self._retune(edge, graph, lambda: edge.set_capacity(capacity))

    def set_priority(self, edge_id: str, priority: int) -> None:
        """Change an edge's priority, in the desired graph and, live, in the running edge."""
        edge = self.edge(edge_id)
        graph = self.graph.replace_link(edge_id, priority=priority)

        def change() -> None:
            self.graph = graph
            edge.set_priority(priority)
            target = edge.target
            target.inputs.sort(key=lambda e: -e.rank)
            if edge.queue and not target.blocked and not target.finished:
                self.ready.add(target, edge.rank)

        self.apply(change)

    def set_overflow(self, edge_id: str, overflow: Overflow) -> None:
        """Change an edge's overflow policy, in the desired graph and live."""
        edge = self.edge(edge_id)
        policy = check_overflow(overflow)
        graph = self.graph.replace_link(edge_id, overflow=policy)
        self._retune(edge, graph, lambda: edge.set_overflow(policy))

    def _retune(self, edge: Edge, graph: Graph, setter: Callable[[], None]) -> None:
        # A new bound or policy may fill the edge or free its producer: settle that live.
        def change() -> None:
            self.graph = graph
            setter()
            producer = edge.retuned()
            if producer is not None:
                self.unblocked(producer)

        self.apply(change)

    def inject(self, node_id: str, port: str, value: Any) -> None:
        """Offer ``value`` (a payload or a ``Message``) to input ``port`` of ``node_id``.

        The payload is validated against the port's schema here, so a bad value raises in the
        caller. Injected messages queue on an edge of their own, unbounded and counted like
        any other, and never hold the run open by themselves.
        """
        rn = self.wiring.nodes.get(node_id)
        if rn is None:
            known = ", ".join(self.wiring.nodes) or "none"
            raise GraphError(f"cannot inject into unknown node {node_id!r}; known: {known}")
        spec = rn.spec.input(port)
        if spec is None:
            known = ", ".join(p.name for p in rn.spec.inputs) or "none"
            raise GraphError(f"node {node_id!r} has no input port {port!r}; its inputs: {known}")
        if rn.finished:
            raise ExecutionError(f"node {node_id!r} has finished; it takes no more messages")
        payload = value.payload if isinstance(value, Message) else value
        try:
            checked = spec.adapter.validate(payload)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"inject into {node_id}.{port}: {exc}") from None
        headers = value.headers if isinstance(value, Message) else None
        if not headers:
            self._injected += 1
            headers = Headers.trusted(
                {
                    "trace_id": f"{self.id}-inject-{self._injected:x}",
                    "ts": time.time_ns(),
                    "seq": self._injected,
                }
            )
        msg = Message(checked, headers)

        def change() -> None:
            if rn.finished:
                return
            self._inject_edge(rn, port).push(msg)

        self.apply(change)

    def replay(self, records: Iterable[ErrorRecord]) -> int:
        """Inject each dead-letter record's payload, with its headers, where it failed.

        Returns how many were replayed. Records of failed ticks (no port) are skipped.
        """
        count = 0
        for record in records:
            if record.port is None:
                continue
            self.inject(
                record.node_id, record.port, Message(record.payload, Headers(record.headers))
            )
            count += 1
        return count

    def _inject_edge(self, rn: RunningNode, port: str) -> Edge:
        edge_id = f"inject->{rn.id}.{port}"
        edge = self.wiring.edges.get(edge_id)
        if edge is None:
            spec = LinkSpec(edge_id, PortRef("inject", "out"), PortRef(rn.id, port), sys.maxsize)
            source = RunningNode(NodeSpec("inject", "arachne:inject"), Node(), rn.context)
            edge = Edge(spec, source, rn, self.ready)
            edge.closed = True  # never counted as an open input: it does not hold the run open
            self.wiring.edges[edge_id] = edge
            rn.inputs.append(edge)
            rn.inputs.sort(key=lambda e: -e.rank)
        return edge
