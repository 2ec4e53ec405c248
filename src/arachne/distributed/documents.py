"""A graph document run across hosts: its outputs tapped, its nodes spread over partitions.

``arachne run doc.yaml --hosts N`` builds the document in every worker the same way:
:func:`document_unit` adds an :class:`OutputTap` on every output port the document leaves
unconnected (as a single-process run prints them), and :func:`spread` places the nodes in
``N`` partitions, ``h0`` to ``h(N-1)``: the document's nodes in topological order cut into
runs of near-equal length, so most links stay inside a partition and the crossings follow
the flow; each tap goes with the node it listens to. A worker points its taps at its pipe;
the coordinator prints what they send.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from arachne.distributed.placement import Placement
from arachne.model.error_record import ERROR_PORT
from arachne.model.errors import ExecutionError
from arachne.model.message import Message
from arachne.model.node import Node
from arachne.model.port import Input
from arachne.model.subgraph import Subgraph

__all__ = ["TAP_PREFIX", "OutputTap", "TapBuffer", "document_unit", "spread"]

TAP_PREFIX = "output-tap-"
"""How the taps' node ids begin (a number follows; a clash with a document id is avoided)."""


class TapBuffer(Protocol):
    """Where output taps keep values until a reader takes them (a Ray actor's, say)."""

    def put(self, node: str, port: str, value: Any) -> bool:
        """Keep ``value`` from ``node:port``; return whether the buffer is full now."""
        ...

    def when_room(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` once, on the loop, when the reader has taken what is kept."""
        ...

    def unsent(self, node: str, port: str) -> list[Any]:
        """Return the values from ``node:port`` kept and not yet taken."""
        ...


class OutputTap(Node):
    """Hands every payload from one output port to ``sink(node, port, value)``, if set.

    A value the sink refuses (no JSON form) is skipped: counted, logged, and the run goes on.
    Or, given a ``buffer`` instead, keeps each payload there: when the buffer is full the
    tap holds its input (its producers are held back in turn) until the reader has taken
    what it keeps; a checkpoint saves the values kept unread, and a run resumed from it
    keeps them again before anything new (so none is lost; some may come twice).
    """

    inp = Input(name="in")
    error_policy = "skip"

    def __init__(self, endpoint: tuple[str, str]) -> None:
        self.endpoint = endpoint
        self.sink: Callable[[str, str, Any], None] | None = None
        self.flush: Callable[[], None] | None = None  # (writes what the sink has pending)
        self.buffer: TapBuffer | None = None
        self._resumed: list[Any] = []

    def on_message(self, port: str, msg: Message) -> None:
        """Pass the payload on with the endpoint it came from."""
        if self.buffer is not None:
            if self.buffer.put(self.endpoint[0], self.endpoint[1], msg.payload):
                self.hold_input(True)
                self.buffer.when_room(self._room)
        elif self.sink is not None:
            self.sink(self.endpoint[0], self.endpoint[1], msg.payload)

    def _room(self) -> None:
        with contextlib.suppress(ExecutionError):  # (its run is over: nothing to resume)
            self.hold_input(False)

    def snapshot(self) -> Any:
        """Return the values the buffer keeps unread (none without a buffer).

        With a sink, what it has pending is written first: the checkpoint this barrier
        belongs to must not cover values not yet out.
        """
        if self.buffer is None:
            if self.flush is not None:
                self.flush()
            return None
        return {"unsent": self.buffer.unsent(*self.endpoint)}

    def restore(self, state: Any) -> None:
        """Take back the values the buffer had kept unread, to keep them again."""
        unsent = state.get("unsent") if isinstance(state, dict) else None
        if not isinstance(unsent, list):
            raise ValueError(f"{self.name()}: a saved tap state is {{'unsent': [...]}}")
        self._resumed = unsent

    def on_start(self) -> None:
        """Keep again what the buffer had kept unread when the checkpoint was taken."""
        resumed, self._resumed = self._resumed, []
        if self.buffer is not None:
            for value in resumed:
                self.buffer.put(self.endpoint[0], self.endpoint[1], value)


def document_unit(path: Path, *, taps: bool = True) -> Subgraph:
    """Build the document at ``path``, with an :class:`OutputTap` on each unconnected output."""
    from arachne.components.registry import Registry
    from arachne.spec import analyze, build, read_document

    doc = read_document(path)
    sub = build(doc, Registry.default())
    if not taps:
        return sub
    members = {m.id: m.unit for m in sub.members}
    linked = {(edge.source.node, edge.source.port) for edge in doc.edges}
    taken = {node.id for node in doc.nodes}
    index = 0
    for node_id in analyze(doc).outputs:
        unit = members[node_id]
        ports = unit.outputs() if isinstance(unit, Subgraph) else unit.output_specs()
        for port in ports:
            if port == ERROR_PORT or (node_id, port) in linked:
                continue
            index += 1
            name = f"{TAP_PREFIX}{index}"
            while name in taken:
                name += "-tap"
            sub.add_node(OutputTap((node_id, port)), name=name)
            sub.connect((node_id, port), (name, "in"))
    return sub


def spread(sub: Subgraph, hosts: int) -> Placement:
    """Place ``sub``'s nodes in ``hosts`` partitions (``h0``...), in runs of its topology.

    Each :class:`OutputTap` goes with the node it listens to. More partitions than nodes
    leaves the last ones empty (their workers run nothing and end at once).
    """
    if isinstance(hosts, bool) or not isinstance(hosts, int) or hosts < 1:
        raise ValueError(f"hosts must be an int >= 1, got {hosts!r}")
    graph = sub.to_graph()
    instances = sub.instances()
    order = [n for n in graph.topology.order if not isinstance(instances.get(n), OutputTap)]
    names = [f"h{i}" for i in range(hosts)]
    parts: dict[str, list[str]] = {name: [] for name in names}
    where: dict[str, str] = {}
    for index, node_id in enumerate(order):
        part = names[index * hosts // max(len(order), 1)]
        parts[part].append(node_id)
        where[node_id] = part
    for node_id, node in instances.items():
        if isinstance(node, OutputTap):
            (link,) = graph.links_into(node_id)
            parts[where[link.source.node]].append(node_id)
    return Placement.of(parts)
