"""Fusion as an overlay on the running graph: find the chains that can fuse, apply, undo.

The chain itself, and what fusion promises, are in :mod:`arachne.runtime.fusion`. The wiring
undoes the overlay before it changes the running graph and lays it again afterwards, so a
change never meets a half-fused graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.model.error_record import ERROR_PORT
from arachne.model.policies import Retry
from arachne.runtime.edge import Edge
from arachne.runtime.fusion import FusedChain
from arachne.runtime.running_node import fused_output

if TYPE_CHECKING:
    from collections.abc import Iterable

    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import Outlet, RunningNode

__all__ = ["fusable", "fuse", "unfuse"]


def fusable(rn: RunningNode) -> bool:
    """Whether ``rn`` can run as a stage: an inline function fed by ``block`` data edges.

    Not one that retries or declares taint labels: both act per handling, as a chain cannot.

    Its inputs must share one priority. Several inputs make it a fan-in stage shared by several
    chains; the order in which their messages interleave was never promised, only each edge's.
    """
    inputs = rn.inputs
    return (
        rn.stage is not None
        and rn.started
        and not rn.finished
        and not isinstance(rn.error_policy, Retry)
        and not rn.marks  # its labels are put on and taken off per handling (runtime.hops)
        and rn.cadence is None
        and not rn.keep_alive
        and bool(inputs)
        and all(isinstance(edge, Edge) and edge.is_block and not edge.control for edge in inputs)
        and len({edge.rank for edge in inputs}) == 1
    )


def fuse(ctx: RunContext, nodes: Iterable[RunningNode]) -> list[FusedChain]:
    """Replace every edge that leads into a fusable chain by a ``FusedChain``; return them.

    ``nodes`` in topological order, so a chain's head comes before its stages. A stage runs
    fused only if every one of its inputs is fused with it: a stage also fed by a plain edge
    would find its output held by a chain's head and could never be woken, so such a stage
    is left out and the chains are laid again without it.
    """
    order = list(nodes)
    excluded: set[str] = set()
    while True:
        chains = _lay(ctx, order, excluded)
        mixed = {
            stage.id
            for chain in chains
            for stage in chain.stages
            if any(not isinstance(edge, Edge) or not edge.overlays for edge in stage.inputs)
        }
        if not mixed:
            return chains
        unfuse(chains, order)
        excluded |= mixed


def _lay(ctx: RunContext, nodes: list[RunningNode], excluded: set[str]) -> list[FusedChain]:
    chains: list[FusedChain] = []
    absorbed: set[str] = set()
    for head in nodes:
        if head.id in absorbed or head.finished:
            continue
        for port, outlets in head.outputs.items():
            if port == ERROR_PORT:
                continue
            head.outputs[port] = tuple(
                _chain_from(ctx, outlet, head, chains, absorbed, excluded) for outlet in outlets
            )
    return chains


def _chain_from(
    ctx: RunContext,
    outlet: Outlet,
    head: RunningNode,
    chains: list[FusedChain],
    absorbed: set[str],
    excluded: set[str],
) -> Outlet:
    edges: list[Edge] = []
    stages: list[RunningNode] = []
    current = outlet
    while (
        isinstance(current, Edge)
        and current.target is not head
        and current.target.id not in excluded
        and fusable(current.target)
        and current.recorder is None  # a recorded edge sees every message taken
        # Checkpointed, a fan-in stage stays unfused: a chain whose head has passed a barrier
        # would run its later messages through the stage before the other heads' barriers.
        and (ctx.checkpointer is None or len(current.target.inputs) == 1)
    ):
        stage = current.target
        if current.closed or current.depth:
            break  # messages already queued there must be taken from the edge first
        edges.append(current)
        stages.append(stage)
        assert stage.stage is not None  # noqa: S101  # fusable() checked it
        following = stage.outputs[stage.stage.output_port]
        if len(following) != 1:
            break
        current = following[0]
    if not stages:
        return outlet
    last = stages[-1]
    assert last.stage is not None  # noqa: S101  # fusable() checked it
    for tail_edge in last.outputs[last.stage.output_port]:
        # Two chains sharing a tail (a fan-in stage): neither head alone can be held back by
        # it, so it stays a real edge for backpressure's sake.
        if isinstance(tail_edge, Edge) and tail_edge.producer not in (tail_edge.source, head):
            return outlet
    for tail_edge in last.outputs[last.stage.output_port]:
        if isinstance(tail_edge, Edge):
            tail_edge.producer = head
    absorbed.update(stage.id for stage in stages)
    chain = FusedChain(ctx, head, edges, stages)
    for index, (edge, stage) in enumerate(zip(edges, stages, strict=True)):
        edge.overlays.append((chain, index))
        stage.chains.append((chain, index))
    chains.append(chain)
    return chain


def unfuse(chains: Iterable[FusedChain], nodes: Iterable[RunningNode]) -> None:
    """Undo ``chains``: real edges again, with the chains' counts kept as their own.

    Nothing is in flight inside a chain (a push runs it to the end), so no message moves.
    """
    for chain in chains:
        for index, (edge, stage) in enumerate(zip(chain.edges, chain.stages, strict=True)):
            edge.fold_overlay()
            # What the stage emitted through this chain becomes its own count.
            out, lost = fused_output(chain, index)
            stage.counts.emitted += out
            stage.counts.unrouted += lost
            stage.chains.remove((chain, index))
        for tail_edge in chain.tail:
            if isinstance(tail_edge, Edge):
                tail_edge.producer = tail_edge.source
    for rn in nodes:
        for port, outlets in rn.outputs.items():
            if any(isinstance(outlet, FusedChain) for outlet in outlets):
                rn.outputs[port] = tuple(
                    outlet.edges[0] if isinstance(outlet, FusedChain) else outlet
                    for outlet in outlets
                )
