"""Finding fusable chains: which ``@node`` stages can run as one call, and wiring them in.

The chain itself, and what fusion promises, are in :mod:`arachne.runtime.fusion`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.model.error_record import ERROR_PORT
from arachne.model.function_node import FunctionNode
from arachne.model.policies import Retry
from arachne.runtime.edge import Edge
from arachne.runtime.fusion import FusedChain

if TYPE_CHECKING:
    from arachne.runtime.edge import Outlet
    from arachne.runtime.execution import Execution
    from arachne.runtime.running_node import RunningNode
    from arachne.runtime.wiring import Wiring

__all__ = ["fusable", "fuse", "sync_counters"]


def fusable(rn: RunningNode) -> bool:
    """Whether ``rn`` can run as a stage: a plain inline function fed by ``block`` data edges.

    Its inputs must share one priority. Several inputs make it a fan-in stage shared by several
    chains; the order in which their messages interleave was never promised, only each edge's.
    """
    node = rn.node
    inputs = rn.inputs
    return (
        (rn.fn is not None or rn.batch_fn is not None)
        and isinstance(node, FunctionNode)
        and not isinstance(rn.error_policy, Retry)
        and rn.cadence is None
        and not rn.keep_alive
        and bool(inputs)
        and all(edge.is_block and not edge.control for edge in inputs)
        and len({edge.rank for edge in inputs}) == 1
    )


def fuse(ex: Execution, wiring: Wiring) -> list[FusedChain]:
    """Replace every edge that leads into a fusable chain by a ``FusedChain``; return them."""
    chains: list[FusedChain] = []
    absorbed: set[str] = set()
    for head in wiring.nodes.values():  # topological order: a chain's head comes first
        if head.id in absorbed:
            continue
        for port, edges in head.outputs.items():
            if port == ERROR_PORT:
                continue
            replaced = tuple(_chain_from(ex, edge, head, chains, absorbed) for edge in edges)
            head.outputs[port] = replaced
            functional = head.fn is not None or head.batch_fn is not None
            if functional and port == getattr(head.node, "output_port", None):
                head.fn_outputs = replaced
    return chains


def _chain_from(
    ex: Execution, edge: Outlet, head: RunningNode, chains: list[FusedChain], absorbed: set[str]
) -> Outlet:
    edges: list[Edge] = []
    stages: list[RunningNode] = []
    current = edge
    while isinstance(current, Edge) and fusable(current.target) and current.target is not head:
        stage = current.target
        edges.append(current)
        stages.append(stage)
        following = stage.fn_outputs
        if len(following) != 1:
            break
        current = following[0]
    if not stages:
        return edge
    for tail_edge in stages[-1].fn_outputs:
        if isinstance(tail_edge, Edge):
            if tail_edge.producer is not tail_edge.source and tail_edge.producer is not head:
                # Two chains share this tail (a fan-in stage): neither head alone can be held
                # back by it, so it stays a real edge for backpressure's sake.
                return edge
            tail_edge.producer = head
    absorbed.update(stage.id for stage in stages)
    chain = FusedChain(ex, edges, stages)
    chains.append(chain)
    return chain


def sync_counters(chains: list[FusedChain]) -> None:
    """Write the counters the fused-away edges and stages would have kept.

    Stage counts go to ``RunningNode.fused`` (reset here first), since a stage shared by
    several chains (a fan-in) takes its counts from each of them.
    """
    for chain in chains:
        for stage in chain.stages:
            stage.fused[:] = [0, 0, 0]
    for chain in chains:
        passed = chain.entered
        for edge, stage, stopped in zip(chain.edges, chain.stages, chain.stopped, strict=True):
            # A failed message counted in ``stopped`` was received, not emitted.
            edge.enqueued = edge.dequeued = passed
            edge.high_water = 1 if passed else 0
            counts = stage.fused
            counts[0] += passed
            passed -= stopped
            counts[1] += passed
        if not chain.tail:
            chain.stages[-1].fused[2] += passed
