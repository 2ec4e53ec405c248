"""Wiring: the running graph of one execution, built from the desired ``Graph`` and changeable.

Nodes and edges can be added and removed while the execution runs (on its loop, between two
activations: the ``Execution`` sends every change through its gate). Fusion is an overlay on
this graph: undone before a change and laid again after it, so a change never meets a
half-fused graph and no message on a kept edge moves. Edges the runtime makes for ``inject``
are marked (``kind == "inject"``), so :meth:`Wiring.running_graph` compares with the desired
graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from arachne.model.context import NodeContext
from arachne.model.error_record import ERROR_PORT
from arachne.model.errors import ExecutionError, GraphError
from arachne.model.graph import Graph
from arachne.model.node import Node, async_hooks
from arachne.model.policies import Retry
from arachne.model.primitive_mark import owns
from arachne.model.specs import LinkSpec, NodeSpec, PortRef
from arachne.runtime import events
from arachne.runtime.binding import Binding, checked_stage
from arachne.runtime.completion import finish_node
from arachne.runtime.edge import Edge
from arachne.runtime.fusing import fuse, unfuse
from arachne.runtime.running_node import NO_INPUT_RANK, RunningNode
from arachne.runtime.watermarks import Watermarks

if TYPE_CHECKING:
    from collections.abc import Mapping

    from arachne.model.policies import Overflow
    from arachne.model.primitive_mark import PrimitiveMark
    from arachne.runtime.fusion import FusedChain
    from arachne.runtime.run_context import RunContext
    from arachne.runtime.stats import EdgeStats, NodeStats

__all__ = ["Prepared", "Wiring"]

INJECT: PortRef = PortRef("inject", "out")
"""Where edges made for ``inject`` come from."""

UNBOUNDED: Final = 1 << 62
"""The capacity of an edge with no bound of its own."""

PROBE: Final = 64
"""Items a pulled source hands on in its first turn, before it knows how long one takes."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A running node made (and bound, if the run is on) for a commit, not yet in the graph."""

    rn: RunningNode
    binding: Binding
    bound: bool


class Wiring:
    """Running nodes and edges of one execution, kept apart from the desired graph.

    ``nodes`` is in topological order, which is the order of ``on_start`` (and the reverse of
    ``on_stop``). ``retired_nodes`` and ``retired_edges`` keep the last counters of what was
    removed, so nothing that passed through is lost from the books.
    """

    def __init__(
        self,
        ctx: RunContext,
        *,
        graph_name: str = "",
        fusion: bool = True,
        stopper: Callable[[bool], None],
    ) -> None:
        self.ctx = ctx
        ctx.cancel = self.cancel_node
        self.watermarks = ctx.watermarks = Watermarks(ctx)
        self.graph_name = graph_name
        self.primitives: dict[str, PrimitiveMark] = {}  # (installed primitives, by path)
        self.fusion = fusion
        self.nodes: dict[str, RunningNode] = {}
        self.edges: dict[str, Edge] = {}
        self.chains: list[FusedChain] = []
        self.retired_nodes: dict[str, NodeStats] = {}
        self.retired_edges: dict[str, EdgeStats] = {}
        self.bindings: dict[str, Binding] = {}
        self.added: list[str] = []  # node ids in the order they were added, as the graph has them
        self.attached = False
        # Called with what each edge hands out while the execution is watched; fusion
        # stays off meanwhile, so every hop is an edge (see runtime.watch).
        self.tap: Callable[[Edge, list[Any]], None] | None = None
        self._stopper = stopper
        self._made = 0  # nodes made so far: names their trace ids

    # -- building -----------------------------------------------------------------------------

    def build(self, graph: Graph, instances: Mapping[str, Node]) -> None:
        """Make the running nodes and edges of ``graph``; ``GraphError`` if it cannot run."""
        topology = graph.topology
        if topology.cycles:
            cycle = " -> ".join(topology.cycles[0])
            raise GraphError(f"cycle {cycle}; remove one of these links (a graph must be acyclic)")
        for node_id in topology.order:
            spec = graph.nodes[node_id]
            node = instances.get(node_id)
            if node is None:
                raise GraphError(
                    f"node {node_id!r} ({spec.kind}) has no instance to run; build the graph "
                    "from a Subgraph of node instances"
                )
            self._register(*self._make_node(spec, node))
        for link in graph.links.values():
            self._make_edge(link)
        self.added = list(graph.nodes)
        self.primitives = dict(graph.primitives)
        for rn in self.nodes.values():
            _check_node(rn)

    def _make_node(self, spec: NodeSpec, node: Node) -> tuple[RunningNode, Binding]:
        ctx = self.ctx
        context = NodeContext.create(
            spec.id,
            config=spec.config,
            execution_id=ctx.execution_id,
            graph_name=self.graph_name,
            state=node.context.state,  # keep state set before the run
            checkpointed=ctx.checkpointer is not None,
        )
        rn = RunningNode(spec, node, context)
        if ctx.metrics:
            rn.timing.now = ctx.clock.now
        # A node with inputs but no edge waits for one (a live connect) until end of stream.
        rn.awaits_input = bool(spec.inputs)
        if ctx.check_types and rn.stage is not None:  # results checked inside the call
            port = spec.output(rn.stage.output_port)
            if port is not None:
                rn.stage = checked_stage(rn.id, rn.stage, port.adapter)
        # A node that sees its batches always gets whole ones; the others learn how long an
        # item takes from a first small chunk (a pulled source's feeds every stage fused
        # behind it, which may be slow: 64 items of 2 ms hold a timer back 0.13 s, not 2 s).
        if rn.fixed_chunk:
            rn.chunk = ctx.batch
        else:
            rn.chunk = min(ctx.batch, PROBE) if rn.puller is not None else 1
        prefix = f"{ctx.execution_id[-8:]}-{self._made:x}."
        self._made += 1
        binding = Binding(
            rn,
            prefix,
            self._stopper,
            ctx.ready,
            ctx.gate,
            stamp=ctx.stamps(rn),
            trace_ids=ctx.trace,
            tracer=ctx.tracer,
            lineage=ctx.lineage,
            check_types=ctx.check_types,
            clock=ctx.clock,
            watermarks=self.watermarks,
        )
        rn.emit_slow = binding.emit
        return rn, binding

    def _register(self, rn: RunningNode, binding: Binding) -> None:
        self.bindings[rn.id] = binding
        self.nodes[rn.id] = rn

    def _make_edge(self, link: LinkSpec) -> Edge:
        source, target = self.nodes[link.source.node], self.nodes[link.target.node]
        edge = Edge(link, source, target, self.ctx)
        source.outputs[link.source.port] = (*source.outputs[link.source.port], edge)
        target.inputs.append(edge)
        target.inputs.sort(key=lambda e: -e.rank)
        target.links_in += 1
        if source.finished:
            edge.closed = True
        else:
            target.inputs_open += 1
        self.edges[link.id] = edge
        edge.tap = self.tap
        return edge

    def set_tap(self, tap: Callable[[Edge, list[Any]], None] | None) -> None:
        """Call ``tap`` with what every edge hands out from now on (``None``: no more).

        Fusion is off while there is a tap, and laid again when it goes.
        """
        self.tap = tap
        self._unfuse()
        for edge in self.edges.values():
            edge.tap = tap
        self._refuse()

    # -- running ------------------------------------------------------------------------------

    def attach(self) -> None:
        """Bind every node instance to its running edges (when the execution starts).

        If one is already part of a running execution, those bound so far are let go again
        and the ``ExecutionError`` raised: nothing of the other execution is touched.
        """
        bound: list[RunningNode] = []
        try:
            for rn in self.nodes.values():
                rn.node.bind_runtime(self.bindings[rn.id], rn.context)
                bound.append(rn)
        except BaseException:
            for rn in bound:
                rn.node.unbind_runtime()
            raise
        self.attached = True
        self.refresh_emitters()

    def detach(self) -> None:
        """Unbind every node instance so it can run again (when the execution ends)."""
        if not self.attached:
            return
        for rn in self.nodes.values():
            rn.node.unbind_runtime()
        self.attached = False

    def overlay(self) -> None:
        """Lay the fusion overlay (once every node has started), then settle the graph."""
        self._refuse()

    # -- changing the running graph (on the loop, between activations) -----------------------

    def add_node(self, spec: NodeSpec, node: Node) -> RunningNode:
        """Add a node with no edges yet; bound at once if the execution runs.

        The caller starts it (``on_start``) and seeds it; until then it takes no turn.
        """
        if spec.id in self.nodes:
            raise GraphError(f"node {spec.id!r} already runs; give the new node another id")
        prepared = self.prepare_node(spec, node)
        self.install_node(prepared)
        return prepared.rn

    def prepare_node(self, spec: NodeSpec, node: Node) -> Prepared:
        """Make a running node for ``spec``, bound if the execution runs, but not in the graph.

        A commit starts it (``on_start``) before it changes anything, then installs it
        (:meth:`install_node`) or, if the commit is rolled back, lets it go (:meth:`discard`).
        Its id may still be taken by the node it replaces. ``GraphError`` if it cannot run.
        """
        rn, binding = self._make_node(spec, node)
        _check_cadence(rn)
        _check_mode(rn)
        if self.attached:
            node.bind_runtime(binding, rn.context)
        return Prepared(rn, binding, self.attached)

    def install_node(self, prepared: Prepared) -> None:
        """Put a prepared node into the running graph, with no edges yet."""
        rn = prepared.rn
        if rn.id in self.nodes:
            raise GraphError(f"node {rn.id!r} already runs; give the new node another id")
        self._unfuse()
        self._register(rn, prepared.binding)
        rn.awaits_input = True  # no edge yet: it waits for one rather than ending at once
        self.added.append(rn.id)
        self._refuse()
        self._publish(events.NodeAdded(execution_id=self.ctx.execution_id, node_id=rn.id))

    def discard(self, prepared: Prepared) -> None:
        """Let go of a prepared node that was never installed (its commit was rolled back)."""
        if prepared.bound:  # (also once the run has ended and let go of the others)
            prepared.rn.node.unbind_runtime()
        prepared.rn.removed = prepared.rn.finished = True

    def remove_node(self, node_id: str) -> RunningNode:
        """Remove a node that no link touches any more; return it (its ``on_stop`` is the caller's).

        Calls it has in flight are abandoned and its pending ticks and retries do nothing; the
        edges made for its ``inject`` calls go with it, what they held counted as dropped.
        """
        rn = self.node(node_id)
        linked = [
            edge.id
            for edge in self.edges.values()
            if edge.kind == "link" and node_id in (edge.source.id, edge.target.id)
        ]
        if linked:
            raise GraphError(
                f"node {node_id!r} is still linked ({', '.join(linked)}); remove those edges first"
            )
        self._unfuse()
        for edge in [e for e in self.edges.values() if e.kind == "inject" and e.target is rn]:
            # Made for inject calls, not links of the graph: they go with their node.
            edge.discard()
            del self.edges[edge.id]
            self.retired_edges[edge.id] = edge.stats()
        del self.nodes[node_id]
        self.added.remove(node_id)
        self.bindings.pop(node_id, None)
        rn.removed = rn.finished = True
        rn.pending = 0
        rn.slots.clear()
        self.retired_nodes[node_id] = rn.stats(self.ctx.clock.now())
        if self.attached:
            rn.node.unbind_runtime()
        self._refuse()
        self._publish(events.NodeRemoved(execution_id=self.ctx.execution_id, node_id=node_id))
        return rn

    def add_edge(self, link: LinkSpec, *, checked: bool = True) -> Edge:
        """Add the edge ``link``; it carries messages from the source's next emit.

        ``checked=False``: the caller has checked the change as a whole (a commit).
        """
        if checked:
            self.check_link(link)
        target = self.nodes[link.target.node]
        self._unfuse()
        edge = self._make_edge(link)
        target.awaits_input = False
        if target.inputs_open == 0 and not target.finished:
            # Every input it has has ended (this one too, from a finished source): it
            # finishes once it has taken what they hold.
            self.ctx.ready.add(target, NO_INPUT_RANK)
        self._reorder()
        self._refuse()
        self._publish(events.EdgeAdded(execution_id=self.ctx.execution_id, edge_id=edge.id))
        return edge

    def retuned(self, edge: Edge) -> None:
        """Settle the running graph after ``edge``'s capacity, priority or policy changed.

        The edge settles its own backpressure; its consumer's inputs are ordered again; fusion
        is laid again (an edge that is no longer ``block``, say, leaves its chain), which also
        wakes a producer the change freed; a consumer the new rank outranks is queued at it.
        """
        edge.retuned()
        target = edge.target
        target.inputs.sort(key=lambda e: -e.rank)
        self._refuse()
        if len(edge) and not target.blocked and not target.finished:
            self.ctx.ready.add(target, edge.rank)

    def check_link(self, link: LinkSpec) -> None:
        """Raise naming the fix if ``link`` cannot be added now.

        ``GraphError`` for unknown nodes or ports (naming the known ones), a taken id or a
        cycle; ``ExecutionError`` for a finished target.
        """
        if link.id in self.edges:
            raise GraphError(f"edge {link.id!r} already runs; give the new edge another id")
        source, target = self.node(link.source.node), self.node(link.target.node)
        _check_port(source, "output", link.source.port)
        _check_port(target, "input", link.target.port)
        if self._would_cycle(link):
            raise GraphError(
                f"edge {link.id} would close a cycle through {link.source.node!r}; "
                "a graph must be acyclic"
            )
        if target.cadence == 0:
            raise GraphError(
                f"node {target.id!r} ticks whenever it has room (cadence 0), which only a "
                "source can; give it a positive cadence or None first"
            )
        if target.finished:
            raise ExecutionError(
                f"node {target.id!r} has finished; it takes no more input (connect a new node)"
            )

    def remove_edge(self, edge_id: str, *, checked: bool = True) -> int:
        """Remove an edge; its queued messages are dropped and counted. Return how many.

        If every input its consumer has left has ended, the consumer finishes in turn; a
        consumer left with no input at all waits (for a new edge, or the end of the run).
        ``checked=False``: the caller has checked the change as a whole (a commit, which may
        remove a dead-lettering node's error link together with the node).
        """
        edge = self.edge(edge_id)
        source, target = edge.source, edge.target
        if checked and edge.source_port == ERROR_PORT and len(source.outputs[ERROR_PORT]) == 1:
            policy = source.error_policy
            final = policy.then if isinstance(policy, Retry) else policy
            if final == "dead_letter":
                raise GraphError(
                    f"edge {edge_id} is the only way out of {source.id!r}'s error port and the "
                    "node dead-letters failed messages; connect another first or change its policy"
                )
        self._unfuse()
        edge.retire_emitter()
        dropped = edge.discard()
        if edge.kind == "link":
            source.outputs[edge.source_port] = tuple(
                outlet for outlet in source.outputs[edge.source_port] if outlet is not edge
            )
        target.inputs.remove(edge)
        if edge.kind == "link":
            target.links_in -= 1
        target.counts.received_retired += edge.received()
        if not edge.closed:
            edge.closed = True
            target.inputs_open -= 1
        if not target.links_in:
            target.awaits_input = True  # an input may be connected again
        elif target.inputs_open == 0 and not target.finished:
            self.ctx.ready.add(target, NO_INPUT_RANK)
        del self.edges[edge_id]
        self.retired_edges[edge_id] = edge.stats()
        if target.event_time is not None:  # (an input that held its watermark may be gone)
            target.event_time.inputs.pop(edge.serial, None)
            self.watermarks.passed(target)
        self._refuse()
        self._publish(
            events.EdgeRemoved(execution_id=self.ctx.execution_id, edge_id=edge_id, dropped=dropped)
        )
        return dropped

    def cancel_node(self, rn: RunningNode) -> None:
        """End ``rn`` now, and what only fed it (``Node.cancel``; Akka's cancel upstream).

        Its input edges are removed, what they held dropped and counted (``discarded``); a
        producer left with no output edge is cancelled in turn, so a source stops; then ``rn``
        finishes as any node does (``on_finish``, its outputs closed: downstream completes).
        A producer that still feeds another node goes on, its output to ``rn`` gone.
        """
        rn.cancel_requested = False
        if rn.finished or rn.finishing or rn.removed:
            return
        for edge in [self.edges[inlet.id] for inlet in rn.inputs]:
            source = edge.source
            self.remove_edge(edge.id, checked=False)
            if edge.kind == "link" and not any(
                outlets for port, outlets in source.outputs.items() if port != ERROR_PORT
            ):
                self.cancel_node(source)
        rn.held = rn.awaits_input = False
        rn.finish_requested = True
        if not rn.pending:
            finish_node(self.ctx, rn)

    def inject_edge(self, node_id: str, port: str) -> Edge:
        """Return the edge that carries ``inject`` calls into ``node_id.port`` (made once).

        Counted like any other, it never holds the run open by itself. Under ``block`` it has
        no bound of its own: ``Execution.inject`` holds its callers back past the runtime's
        ``max_backpressure_queue``; under another policy that is its capacity, where the policy
        applies (see :meth:`set_inject_overflow`).
        """
        edge_id = f"inject->{node_id}.{port}"
        edge = self.edges.get(edge_id)
        if edge is not None:
            return edge
        rn = self.node(node_id)
        self._unfuse()
        control = port in rn.node.control_inputs or any(  # (on the plane its links are on)
            edge.control and edge.port == port for edge in rn.inputs
        )
        link = LinkSpec(edge_id, INJECT, PortRef(node_id, port), UNBOUNDED, control=control)
        source = RunningNode(NodeSpec(INJECT.node, "arachne:inject"), Node(), rn.context)
        edge = Edge(link, source, rn, self.ctx, kind="inject")
        edge.tap = self.tap
        edge.closed = True  # never counted as an open input
        self.edges[edge_id] = edge
        rn.inputs.append(edge)
        rn.inputs.sort(key=lambda e: -e.rank)
        self._refuse()
        return edge

    def set_inject_overflow(self, node_id: str, port: str, overflow: Overflow) -> Edge:
        """Give the inject edge into ``node_id.port`` (made if need be) an overflow policy."""
        edge = self.inject_edge(node_id, port)
        edge.set_overflow(overflow)
        edge.set_capacity(UNBOUNDED if edge.is_block else self.ctx.queue_bound)
        return edge

    # -- reading ------------------------------------------------------------------------------

    def node(self, node_id: str) -> RunningNode:
        """Return the running node ``node_id``; ``GraphError`` naming the known ids if none."""
        rn = self.nodes.get(node_id)
        if rn is None:
            known = ", ".join(self.nodes) or "none"
            raise GraphError(f"unknown node {node_id!r}; known nodes: {known}")
        return rn

    def edge(self, edge_id: str) -> Edge:
        """Return the running edge ``edge_id``; ``GraphError`` naming the known ids if none."""
        edge = self.edges.get(edge_id)
        if edge is None:
            known = ", ".join(self.edges) or "none"
            raise GraphError(f"unknown edge {edge_id!r}; known edges: {known}")
        return edge

    def running_graph(self) -> Graph:
        """Return the running graph as a ``Graph`` (edges made for ``inject`` left out).

        Equal to the desired graph when every change has been applied.
        """
        links = [
            LinkSpec(
                edge.id,
                edge.link.source,
                edge.link.target,
                edge.capacity,
                edge.overflow,
                edge.priority,
                edge.control,
            )
            for edge in self.edges.values()
            if edge.kind == "link"
        ]
        specs = [self.nodes[node_id].spec for node_id in self.added]
        ids = [spec.id for spec in specs]
        primitives = {  # (those with a node still running: a live change may remove one)
            path: mark
            for path, mark in self.primitives.items()
            if any(owns(path, node_id) for node_id in ids)
        }
        return Graph(specs, links, self.graph_name, primitives)

    # -- the fusion overlay --------------------------------------------------------------------

    def _unfuse(self) -> None:
        if self.chains:
            unfuse(self.chains, self.nodes.values())
            self.chains = []

    def _refuse(self) -> None:
        """Lay fusion again (if on and running), then settle blocking and emitters."""
        self._unfuse()
        if self.fusion and self.attached and self.tap is None:
            self.chains = fuse(self.ctx, self.nodes.values())
        ready = self.ctx.ready
        for rn in self.nodes.values():
            # A chain laid or undone moves who waits on a full tail edge: recompute for all.
            was_blocked = rn.blocked
            if was_blocked and not rn.still_blocked():
                rank = rn.wake_rank()
                if rank is not None:
                    ready.add(rn, rank)
            elif not was_blocked:
                rn.still_blocked()
        if self.attached:
            self.refresh_emitters()

    def refresh_emitters(self) -> None:
        """Give every node the fastest ``emit`` its outputs allow now (after any change)."""
        if not self.attached:
            return
        # A node may have kept its old emit: that goes the general way from now on, routed by
        # the outputs as they are now.
        for edge in self.edges.values():
            edge.retire_emitter()
        for rn in self.nodes.values():
            binding = self.bindings[rn.id]
            rn.emitter = binding.emitter()
            rn.node.set_emitter(rn.emitter)
            only = binding.only_edge()
            rn.lean = only if only is not None and only.is_block else None

    def _would_cycle(self, link: LinkSpec) -> bool:
        """Whether ``link`` would let its target reach its source."""
        start, goal = link.target.node, link.source.node
        seen: set[str] = set()
        stack = [start]
        while stack:
            node_id = stack.pop()
            if node_id == goal:
                return True
            if node_id in seen:
                continue
            seen.add(node_id)
            rn = self.nodes.get(node_id)
            if rn is not None:
                stack.extend(o.target.id for outs in rn.outputs.values() for o in outs)
        return False

    def _reorder(self) -> None:
        """Put ``nodes`` back in topological order (Kahn, ties in their current order)."""
        indegree = dict.fromkeys(self.nodes, 0)
        for edge in self.edges.values():
            if edge.kind == "link":
                indegree[edge.target.id] += 1
        order: list[str] = []
        ready = [node_id for node_id, degree in indegree.items() if degree == 0]
        while ready:
            node_id = ready.pop(0)
            order.append(node_id)
            for outlets in self.nodes[node_id].outputs.values():
                for outlet in outlets:  # edges only: the caller undid fusion first
                    target = outlet.target.id
                    indegree[target] -= 1
                    if indegree[target] == 0:
                        ready.append(target)
        self.nodes = {node_id: self.nodes[node_id] for node_id in order}

    def _publish(self, event: events.Event) -> None:
        bus = self.ctx.bus
        if type(event) in bus.wanted:
            bus.publish(event)


def _check_port(rn: RunningNode, direction: str, port: str) -> None:
    ports = rn.spec.outputs if direction == "output" else rn.spec.inputs
    if all(p.name != port for p in ports):
        known = ", ".join(p.name for p in ports) or "none"
        raise GraphError(f"node {rn.id!r} has no {direction} {port!r}; its {direction}s: {known}")


def _check_node(rn: RunningNode) -> None:
    """Raise ``GraphError`` if ``rn`` cannot run as wired (cadence, mode, dead letters)."""
    _check_cadence(rn)
    _check_mode(rn)
    policy = rn.error_policy
    final = policy.then if isinstance(policy, Retry) else policy
    if final == "dead_letter" and not rn.outputs.get(ERROR_PORT):
        raise GraphError(
            f"node {rn.id!r} dead-letters failed messages but its {ERROR_PORT!r} port "
            "is not connected; connect it (to a DeadLetters node, say) or use 'skip'"
        )


def _check_mode(rn: RunningNode) -> None:
    node = rn.node
    hooks = async_hooks(node) if rn.mode in ("thread", "process") else []
    if hooks:
        raise GraphError(
            f"node {rn.id!r}: {hooks[0]} is async def, so it runs in mode 'async', not {rn.mode!r}"
        )
    if rn.mode != "process":
        return
    if node.as_function_stage() is None:
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
