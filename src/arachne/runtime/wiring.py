"""Wiring: turn a desired ``Graph`` and its node instances into running nodes and edges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from arachne.model.context import NodeContext
from arachne.model.error_record import ERROR_PORT
from arachne.model.errors import GraphError
from arachne.model.function_node import FunctionNode
from arachne.model.policies import Retry
from arachne.runtime.edge import Edge
from arachne.runtime.running_node import RunningNode

if TYPE_CHECKING:
    from collections.abc import Mapping

    from arachne.model.graph import Graph
    from arachne.model.node import Node
    from arachne.runtime.ready_queue import ReadyQueue

__all__ = ["Wiring", "wire"]


@dataclass(slots=True)
class Wiring:
    """The running structures of one execution, kept apart from the desired graph.

    ``nodes`` is in topological order, which is the order of ``on_start`` (and the reverse of
    ``on_stop``).
    """

    nodes: dict[str, RunningNode]
    edges: dict[str, Edge]


def wire(
    graph: Graph,
    instances: Mapping[str, Node],
    ready: ReadyQueue,
    *,
    execution_id: str,
) -> Wiring:
    """Return running nodes and edges for ``graph``; raise ``GraphError`` if it cannot run."""
    topology = graph.topology
    if topology.cycles:
        cycle = " -> ".join(topology.cycles[0])
        raise GraphError(f"cycle {cycle}; remove one of these links (a graph must be acyclic)")
    nodes: dict[str, RunningNode] = {}
    for node_id in topology.order:
        spec = graph.nodes[node_id]
        node = instances.get(node_id)
        if node is None:
            raise GraphError(
                f"node {node_id!r} ({spec.kind}) has no instance to run; build the graph "
                "from a Subgraph of node instances"
            )
        detached = node._arachne_context  # keep state set before the run
        context = NodeContext.create(
            node_id,
            config=spec.config,
            execution_id=execution_id,
            graph_name=graph.name,
            state=detached.state if detached is not None else None,
        )
        nodes[node_id] = RunningNode(spec, node, context)
    edges: dict[str, Edge] = {}
    for link in graph.links.values():
        source, target = nodes[link.source.node], nodes[link.target.node]
        edge = Edge(link, source, target, ready)
        source.outputs[link.source.port] = (*source.outputs[link.source.port], edge)
        target.inputs.append(edge)
        target.inputs_open += 1
        edges[link.id] = edge
    for rn in nodes.values():
        if rn.fn is not None or rn.batch_fn is not None:
            rn.fn_outputs = rn.outputs[type(rn.node).output_port]  # type: ignore[attr-defined]
        rn.inputs.sort(key=lambda edge: -edge.rank)
        _check_cadence(rn)
        _check_mode(rn)
        final = rn.error_policy.then if isinstance(rn.error_policy, Retry) else rn.error_policy
        if final == "dead_letter" and not rn.outputs.get(ERROR_PORT):
            raise GraphError(
                f"node {rn.id!r} dead-letters failed messages but its {ERROR_PORT!r} port "
                "is not connected; connect it (to a DeadLetters node, say) or use 'skip'"
            )
    return Wiring(nodes, edges)


def _check_mode(rn: RunningNode) -> None:
    if rn.mode != "process":
        return
    node = rn.node
    if not isinstance(node, FunctionNode):
        raise GraphError(
            f"node {rn.id!r}: mode 'process' runs pure functions; make the node with "
            "@node(mode='process') from a function defined at module level"
        )
    if "<locals>" in type(node).__qualname__:
        raise GraphError(
            f"node {rn.id!r}: a process-mode function must be defined at module level "
            f"(found {type(node).__qualname__}); worker processes import it by name"
        )


def _check_cadence(rn: RunningNode) -> None:
    cadence = rn.cadence
    if cadence is None:
        return
    if isinstance(cadence, bool) or not isinstance(cadence, int | float) or cadence < 0:
        raise GraphError(f"node {rn.id!r}: cadence must be a number >= 0, got {cadence!r}")
    if cadence == 0 and not rn.is_source:
        raise GraphError(
            f"node {rn.id!r} has inputs, so cadence 0 (tick whenever there is room) does not "
            "apply; give it a positive cadence in seconds or None"
        )
    if cadence > 0:
        rn.tick_driven = True
