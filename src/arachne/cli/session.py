"""A graph document made runnable: feeds attached to its inputs, printers to its outputs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from arachne.components.builtins.jsonl_source import JsonlSource
from arachne.model.error_record import ERROR_PORT
from arachne.model.errors import shown
from arachne.model.flatten import port_of
from arachne.model.node import Node
from arachne.model.port import Input, Output
from arachne.model.sources import IterSource
from arachne.model.subgraph import Subgraph
from arachne.spec.build import port_names

if TYPE_CHECKING:
    from arachne.cli.feeds import Feed
    from arachne.model.message import Message
    from arachne.model.port import PortSpec
    from arachne.spec import GraphDocument

__all__ = [
    "CHECKER",
    "Checked",
    "Printer",
    "attach_feeds",
    "attach_printers",
    "default_target",
    "unfed_inputs",
]

CHECKER: Final = "cli-check-"
"""How the ids of the nodes that check input lines begin."""

Sink = Callable[[str, str, Any], None]
"""Receives ``(node, port, value)`` for every value that leaves the graph."""


class Printer(Node):
    """Hands every payload from one output endpoint to the command's writer.

    A value the writer refuses (no JSON form) is skipped: counted, logged, and the run goes
    on; the command then exits 1, since that value was lost.
    """

    inp = Input(name="in")
    error_policy = "skip"

    def __init__(self, name: str, endpoint: tuple[str, str], sink: Sink) -> None:
        super().__init__(name=name)
        self._endpoint = endpoint
        self._sink = sink

    @property
    def endpoint(self) -> tuple[str, str]:
        """The ``(node, port)`` whose values it prints."""
        return self._endpoint

    def on_message(self, port: str, msg: Message) -> None:
        """Pass the payload on with the endpoint it came from."""
        self._sink(self._endpoint[0], self._endpoint[1], msg.payload)


def attach_feeds(sub: Subgraph, doc: GraphDocument, feeds: list[Feed]) -> None:
    """Add a source per feed, linked to its node's input port (``ValueError`` names the fix).

    Values for one port (however its feeds named it) go through one source, in the order
    given.
    """
    members = _members(sub)
    values: dict[tuple[str, str], tuple[int, list[Any]]] = {}  # by port: first feed, values
    for index, feed in enumerate(feeds, start=1):
        unit = members.get(feed.node)
        if unit is None:
            known = ", ".join(node.id for node in doc.nodes)
            raise ValueError(
                f"{feed.label}: no node {feed.node!r} in the graph; its nodes: {known}"
            )
        ports = list(port_names(unit, "input"))
        port = feed.port
        if port is None:
            if len(ports) != 1:
                raise ValueError(
                    f"{feed.label}: node {feed.node!r} has inputs {ports or 'none'}; "
                    f"name one, as {feed.node}:{ports[0] if ports else 'in'}"
                )
            port = ports[0]
        elif port not in ports:
            raise ValueError(
                f"{feed.label}: node {feed.node!r} has no input {port!r}; its inputs: "
                f"{', '.join(ports) or 'none'}"
            )
        spec = port_of(unit, "input", port)
        if feed.path is None:
            checked = [_fits(feed.label, f"{feed.node}.{port}", spec, v) for v in feed.values or ()]
            values.setdefault((feed.node, port), (index, []))[1].extend(checked)
            continue
        # Lines arrive while the graph runs: each is checked on its way in.
        name = _free(f"cli-input-{index}", doc)
        checker = _free(f"{CHECKER}{index}", doc)
        sub.add_node(JsonlSource(path=feed.path, name=name))
        sub.add_node(Checked(checker, feed.label, f"{feed.node}.{port}", spec))
        sub.connect((name, "out"), (checker, "in"))
        sub.connect((checker, "out"), (feed.node, port))
    for (node, port), (index, items) in values.items():
        name = _free(f"cli-input-{index}", doc)
        sub.add_node(IterSource(items, name=name))
        sub.connect((name, "out"), (node, port))


class Checked(Node):
    """Hands on each value that fits the port it feeds; any other fails (and is skipped).

    What comes from outside is always checked against the port it enters: a value that does
    not fit is logged, counted as skipped (the run then exits 1, as for any failed message
    that went nowhere) and the rest go on.
    """

    inp = Input(name="in")
    out = Output()
    error_policy = "skip"

    def __init__(self, name: str, label: str, where: str, spec: PortSpec) -> None:
        super().__init__(name=name)
        self._label = label
        self._where = where
        self._spec = spec

    def on_message(self, port: str, msg: Message) -> None:
        """Check the value against the port's schema and pass it on."""
        self.emit("out", _fits(self._label, self._where, self._spec, msg.payload))


def _fits(label: str, where: str, spec: PortSpec, value: Any) -> Any:
    """Return ``value`` checked against ``spec`` (maybe converted); ``ValueError`` naming it."""
    try:
        return spec.adapter.validate(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{label}: {shown(value)} does not fit {where}, which takes {spec.schema_name} "
            f"({exc}); give a value of that type"
        ) from None


def default_target(sub: Subgraph, doc: GraphDocument, inputs: Sequence[str]) -> str:
    """Return the one input node that takes values, or raise naming the choice to make."""
    members = _members(sub)
    takers = [node for node in inputs if port_names(members[node], "input")]
    if len(takers) != 1:
        raise ValueError(
            f"the graph has {len(takers)} input nodes that take values ({', '.join(takers)}); "
            "choose one with --to NODE[:PORT]"
        )
    return takers[0]


def attach_printers(
    sub: Subgraph, doc: GraphDocument, outputs: Sequence[str], sink: Sink
) -> list[tuple[str, str]]:
    """Link every unconnected output port of the output nodes to a ``Printer``.

    Returns the ``(node, port)`` endpoints that will print, in node order.
    """
    members = _members(sub)
    linked = {(edge.source.node, edge.source.port) for edge in doc.edges}
    endpoints: list[tuple[str, str]] = []
    for node in outputs:
        for port in port_names(members[node], "output"):
            if port != ERROR_PORT and (node, port) not in linked:
                endpoints.append((node, port))
    for index, endpoint in enumerate(endpoints, start=1):
        name = _free(f"cli-output-{index}", doc)
        sub.add_node(Printer(name, endpoint, sink))
        sub.connect(endpoint, (name, "in"))
    return endpoints


def _free(name: str, doc: GraphDocument) -> str:
    """Return ``name``, or a variant no node of ``doc`` uses."""
    taken = {node.id for node in doc.nodes}
    while name in taken:
        name += "-cli"
    return name


def unfed_inputs(sub: Subgraph, inputs: Sequence[str], feeds: Sequence[Feed]) -> list[str]:
    """Return ``node:port`` of each input node that takes values but no feed reaches."""
    fed = {feed.node for feed in feeds}
    members = _members(sub)
    unfed = []
    for node in inputs:
        ports = [port for port in port_names(members[node], "input") if port != ERROR_PORT]
        if ports and node not in fed:
            unfed.append(f"{node}:{ports[0]}")
    return unfed


def _members(sub: Subgraph) -> Mapping[str, Node | Subgraph]:
    return {member.id: member.unit for member in sub.members}
