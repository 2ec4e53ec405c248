"""Commits: an execution's running graph made equal to its desired graph, all or nothing.

A commit plans the delta (:func:`arachne.model.delta.graph_delta`), checks it, then applies it
in three steps:

1. *Prepare.* Every added node is made, bound and started (``on_start``) beside the running
   graph, not in it: nothing of the running graph has changed yet.
2. *Switch*, in one go between two activations (nothing in it waits): changed configs are
   hot-reloaded (``on_config``); then removed links are unwired (what they hold is counted as
   dropped), removed nodes taken out, added nodes put in, added links wired, changed links
   retuned (capacity, overflow, priority), and the added nodes seeded.
3. *Stop* the removed nodes (``on_stop``).

If a hook fails in step 1 or 2, what was done is undone (configs put back, nodes started for
the commit stopped again) and :class:`~arachne.model.errors.CommitFailed` raised: the running
graph, its nodes' state, its edges and the messages on them are as they were. Starting added
nodes before anything is removed is what makes that cheap: a failing ``on_start`` costs only
itself, where stopping first (StreamLib's order) would have to start the removed nodes again
and would lose what their links held. A node replaced under the same id so starts its new
instance before the old one stops (make before break).

Before the execution runs, and after it has ended, a commit changes the running graph alone:
no hook runs (nodes start with the run, and an ended run has stopped them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from arachne.model.delta import graph_delta
from arachne.model.error_record import ERROR_PORT
from arachne.model.errors import CommitFailed, ExecutionError, GraphError, NodeFailed, describe
from arachne.model.node import overrides
from arachne.model.policies import Retry
from arachne.runtime import events
from arachne.runtime.lifecycle import seed, start_node, stop_node

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from arachne.model.delta import GraphDelta, NodeChange
    from arachne.model.graph import Graph
    from arachne.model.node import Node
    from arachne.model.specs import LinkSpec, NodeSpec
    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import RunningNode
    from arachne.runtime.wiring import Prepared, Wiring

__all__ = ["COMMIT_MODES", "CommitMode", "Committer", "check_commit_mode"]

log = logging.getLogger("arachne.runtime")

CommitMode: TypeAlias = Literal["auto", "manual"]
COMMIT_MODES: Final[tuple[CommitMode, ...]] = ("auto", "manual")
"""``auto``: every change to an execution's graph is committed at once; ``manual``: changes
gather in the desired graph until ``commit()``."""


def check_commit_mode(mode: object) -> CommitMode:
    """Return ``mode`` if it is a commit mode; ``ValueError`` naming the choices if not."""
    if mode == "auto" or mode == "manual":
        return mode
    raise ValueError(f"commit_mode must be 'auto' or 'manual', got {mode!r}")


class Committer:
    """Plans and applies commits to one execution's running graph (``Wiring``).

    Commits take turns: one applies at a time, each planned from the desired graph as it is
    when its turn comes.
    """

    __slots__ = ("_stopping", "_turn", "ctx", "queued", "wiring")

    def __init__(self, ctx: RunContext, wiring: Wiring) -> None:
        self.ctx = ctx
        self.wiring = wiring
        self._turn: asyncio.Lock | None = None  # made on the loop, at the first live commit
        self.queued = 0  # live commits asked for and not yet done: later ones wait for them
        # Removed nodes' on_stop under way, by the id of their instance.
        self._stopping: dict[int, asyncio.Task[None]] = {}

    # -- planning (on the loop, or with no loop) ----------------------------------------------

    def plan(self, desired: Graph, instances: Mapping[str, Node]) -> GraphDelta:
        """Return what turns the running graph into ``desired`` (with those node instances)."""
        replaced = [
            node_id
            for node_id, rn in self.wiring.nodes.items()
            if node_id in instances and instances[node_id] is not rn.node
        ]
        return graph_delta(self.wiring.running_graph(), desired, replaced=replaced)

    def check(
        self, delta: GraphDelta, desired: Graph, instances: Mapping[str, Node], *, live: bool
    ) -> None:
        """Raise naming the fix if ``delta`` cannot be applied now; nothing is changed.

        ``GraphError`` for a cycle, a link into a node that ticks whenever it has room, or a
        node that dead-letters and would lose its error link; ``live`` (while the execution
        runs), ``ExecutionError`` for a link into a finished node or a new config for a node
        with no ``on_config``.
        """
        cycles = desired.topology.cycles
        if cycles:
            cycle = " -> ".join(cycles[0])
            raise GraphError(f"cycle {cycle}; remove one of these links (a graph must be acyclic)")
        leaving = {spec.id for spec in delta.removed_nodes}
        for link in delta.added_links:
            rn = self.wiring.nodes.get(link.target.node)
            if rn is None or rn.id in leaving:
                continue  # a node the commit adds: checked as it is prepared
            if live and rn.finished:  # (after the run every node has: the graphs change alone)
                raise ExecutionError(
                    f"node {rn.id!r} has finished; it takes no more input (connect a new node)"
                )
            if rn.cadence == 0:
                raise GraphError(
                    f"node {rn.id!r} ticks whenever it has room (cadence 0), which only a "
                    "source can; give it a positive cadence or None first"
                )
        for link in delta.removed_links:
            rn = self.wiring.nodes.get(link.source.node)
            if link.source.port != ERROR_PORT or rn is None or rn.id in leaving:
                continue
            policy = rn.error_policy
            final = policy.then if isinstance(policy, Retry) else policy
            if final == "dead_letter" and not any(
                kept.source == link.source for kept in desired.links.values()
            ):
                raise GraphError(
                    f"link {link.id} is the only way out of {rn.id!r}'s error port and the "
                    "node dead-letters failed messages; connect another first or change its policy"
                )
        if live and self.wiring.attached:
            running = {id(rn.node): rn.id for rn in self.wiring.nodes.values()}
            for spec in delta.added_nodes:
                holder = running.get(id(instances[spec.id]))
                if holder is not None and holder in leaving:
                    raise GraphError(
                        f"node {spec.id!r} is the instance {holder!r} runs as, which this commit "
                        "removes: an instance is let go only once a commit is done; commit the "
                        "removal first, or give the new node a new instance"
                    )
        if live:
            for change in delta.reconfigured:
                rn = self.wiring.nodes[change.id]
                if _live(rn) and not overrides(rn.node, "on_config"):
                    raise ExecutionError(
                        f"node {rn.id!r} ({type(rn.node).__qualname__}) has no on_config, so it "
                        "cannot take a new config while it runs; override on_config, or remove "
                        "the node and add a new one"
                    )

    # -- applying -----------------------------------------------------------------------------

    def apply_offline(
        self, desired: Graph, instances: Mapping[str, Node]
    ) -> tuple[GraphDelta, dict[str, int]]:
        """Commit with no hooks (the run has not started, or has ended); return what changed.

        Returns the delta and, per removed link, the messages it held.
        """
        delta = self.plan(desired, instances)
        if delta.empty:
            return delta, {}
        self.check(delta, desired, instances, live=False)
        prepared = [
            self.wiring.prepare_node(spec, instances[spec.id]) for spec in delta.added_nodes
        ]
        for change in delta.reconfigured:
            _configure(self.wiring.nodes[change.id], change.new)
        dropped, _ = self._switch(delta, prepared)
        self._announce(delta, dropped)
        return delta, dropped

    def apply_now(
        self, take: Callable[[], tuple[Graph, Mapping[str, Node]]]
    ) -> tuple[GraphDelta, dict[str, int]] | None:
        """Commit at once, on the loop between two activations, if nothing must be awaited.

        That is when no node is added (no ``on_start`` to await) and no other commit is under
        way; then returns the delta and what removed links held, else ``None`` (and changes
        nothing): :meth:`apply_live` must take it. Raises as :meth:`apply_live` does.
        """
        if self.queued:
            return None
        desired, instances = take()
        delta = self.plan(desired, instances)
        if delta.added_nodes:
            return None
        if delta.empty:
            return delta, {}
        self.check(delta, desired, instances, live=True)
        try:
            configured = self._reconfigure(delta.reconfigured)
        except CommitFailed as exc:
            self._rolled_back(delta, exc)
            raise
        return delta, self._switch_live(delta, [], configured)

    async def apply_live(
        self,
        take: Callable[[], tuple[Graph, Mapping[str, Node]]],
        *,
        wanted: Callable[[], bool] = lambda: True,
    ) -> tuple[GraphDelta, dict[str, int]]:
        """Commit while the execution runs; return the delta and what removed links held.

        ``take`` returns the desired graph and its node instances when this commit's turn
        comes. ``CommitFailed`` (rolled back) if a hook fails; the check's errors otherwise.
        Returns once the graph is switched; removed nodes get their ``on_stop`` after.
        ``wanted`` is asked once the added nodes have started: if no longer (the run ended
        and committed it to the graphs meanwhile), they are let go and nothing is switched.
        """
        if self._turn is None:
            self._turn = asyncio.Lock()
        try:
            async with self._turn:  # (waiters get it in the order they came)
                return await self._apply_live(take, wanted)
        finally:
            self.queued -= 1

    async def _apply_live(
        self, take: Callable[[], tuple[Graph, Mapping[str, Node]]], wanted: Callable[[], bool]
    ) -> tuple[GraphDelta, dict[str, int]]:
        desired, instances = take()
        delta = self.plan(desired, instances)
        if delta.empty:
            return delta, {}
        self.check(delta, desired, instances, live=True)
        if delta.added_nodes:
            # An instance removed a moment ago is stopped before it starts again.
            await self.settle(instances=[instances[spec.id] for spec in delta.added_nodes])
        prepared: list[Prepared] = []
        started: list[Prepared] = []
        try:
            for spec in delta.added_nodes:
                prepared.append(self.wiring.prepare_node(spec, instances[spec.id]))
            for item in prepared:
                await start_node(self.ctx, item.rn)
                started.append(item)
            if not wanted():
                raise asyncio.CancelledError
            # Again: a target may have finished meanwhile.
            self.check(delta, desired, instances, live=True)
            configured = self._reconfigure(delta.reconfigured)
        except BaseException as exc:
            await self._let_go(prepared, started)
            if isinstance(exc, asyncio.CancelledError) and not _hook_cancelled(exc):
                raise  # the run ends
            if isinstance(exc, asyncio.CancelledError):  # a hook's own: a hook's failure
                cancelled = ExecutionError("a hook was cancelled (a future it awaited)")
                raise self._rolled_back(delta, cancelled) from exc
            if isinstance(exc, Exception):
                failure = self._rolled_back(delta, exc)
                if failure is not exc:
                    raise failure from exc.__cause__ or exc
            raise
        return delta, self._switch_live(delta, prepared, configured)

    async def settle(
        self, *, instances: Iterable[Node] | None = None, timeout: float | None = None
    ) -> None:
        """Wait until removed nodes' ``on_stop`` has run: those of ``instances``, or all.

        Waits ``timeout`` seconds at most (then they run on unwaited for).
        """
        if instances is None:
            tasks = set(self._stopping.values())
        else:
            tasks = {t for t in (self._stopping.get(id(n)) for n in instances) if t is not None}
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def _switch_live(
        self, delta: GraphDelta, prepared: list[Prepared], configured: list[str]
    ) -> dict[str, int]:
        """Switch the running graph, seed the added nodes, announce; stop removed ones after."""
        dropped, removed = self._switch(delta, prepared)
        for item in prepared:
            if not item.rn.removed:
                seed(self.ctx, item.rn, live=True)
        self.ctx.gate.wake()
        if self.ctx.checkpointer is not None:  # a boundary: the changed graph, saved whole
            self.ctx.checkpointer.graph_changed()
        self._announce(delta, dropped, configured)
        if removed:
            task = asyncio.get_running_loop().create_task(self._stop(removed))
            for rn in removed:
                self._stopping[id(rn.node)] = task
            task.add_done_callback(self._stopped)
        return dropped

    def _stopped(self, task: asyncio.Task[None]) -> None:
        for key in [key for key, stopping in self._stopping.items() if stopping is task]:
            del self._stopping[key]

    def _reconfigure(self, changes: tuple[NodeChange, ...]) -> list[str]:
        """Give each node its new config (``on_config`` if it runs); all or none.

        If a hook raises, the nodes done so far get their old config back (``on_config``
        again) and ``CommitFailed`` is raised. Returns the ids reconfigured.
        """
        done: list[tuple[RunningNode, NodeSpec]] = []
        for change in changes:
            rn = self.wiring.nodes[change.id]
            old = rn.spec
            _configure(rn, change.new)
            if _live(rn):
                try:
                    rn.node.on_config(rn.context.config)
                except Exception as exc:
                    _configure(rn, old)
                    for other, spec in reversed(done):
                        _configure(other, spec)
                        if _live(other):
                            try:
                                other.node.on_config(other.context.config)
                            except Exception:
                                log.exception(
                                    "node %r did not take its old config back after a failed "
                                    "commit",
                                    other.id,
                                )
                    failure = CommitFailed(
                        f"commit rolled back: node {rn.id!r} refused its new config: "
                        f"on_config raised {describe(exc)}; the running graph is as it was",
                        node_id=rn.id,
                    )
                    raise failure from exc
            done.append((rn, old))
        return [rn.id for rn, _ in done]

    def _switch(
        self, delta: GraphDelta, prepared: list[Prepared]
    ) -> tuple[dict[str, int], list[RunningNode]]:
        """Change the running graph's structure as checked; nothing in it waits."""
        wiring = self.wiring
        order = {node_id: index for index, node_id in enumerate(wiring.nodes)}
        dropped = {
            link.id: wiring.remove_edge(link.id, checked=False) for link in delta.removed_links
        }
        # Stopped in reverse topological order, as at the end of a run.
        leaving = sorted(delta.removed_nodes, key=lambda spec: -order[spec.id])
        removed = [wiring.remove_node(spec.id) for spec in leaving]
        for item in prepared:
            wiring.install_node(item)
        for link in delta.added_links:
            wiring.add_edge(link, checked=False)
        for change in delta.retuned:
            self._retune(change.new)
        if delta.primitives is not None:
            wiring.primitives = dict(delta.primitives)
        return dropped, removed

    def _retune(self, link: LinkSpec) -> None:
        edge = self.wiring.edges[link.id]
        # The policy first: a shrunk edge sheds its excess by the policy it has from now on.
        if edge.overflow != link.overflow:
            edge.set_overflow(link.overflow)
        if edge.priority != link.priority:
            edge.set_priority(link.priority)
        if edge.capacity != link.capacity:
            edge.set_capacity(link.capacity)
        self.wiring.retuned(edge)

    async def _let_go(self, prepared: list[Prepared], started: list[Prepared]) -> None:
        """Stop the nodes a failed commit started (newest first) and let all it made go.

        A cancel meanwhile (the run ends) does not cut it short: every one gets its call.
        """
        for item in reversed(started):
            try:
                error = await stop_node(self.ctx, item.rn)
            except asyncio.CancelledError:
                continue
            if error is not None:
                log.error("node %r: %s (its commit was rolled back)", item.rn.id, error)
        for item in prepared:
            self.wiring.discard(item)

    async def _stop(self, removed: list[RunningNode]) -> None:
        """Run the removed nodes' ``on_stop``; a failure fails the execution, as at its end."""
        for rn in removed:
            try:
                error = await stop_node(self.ctx, rn)
            except asyncio.CancelledError:  # an on_stop's own: the others still get theirs
                continue
            if error is not None:
                self.ctx.fail_soon(error)

    def _rolled_back(self, delta: GraphDelta, exc: Exception) -> Exception:
        """Return the error a failed live commit raises, and announce the rollback."""
        failure: Exception = exc
        node_id: str | None = None
        if isinstance(exc, CommitFailed):
            node_id = exc.node_id
        elif isinstance(exc, NodeFailed):
            node_id = exc.node_id
            failure = CommitFailed(
                f"commit rolled back: {exc}; the running graph is as it was", node_id=node_id
            )
        bus = self.ctx.bus
        if events.CommitRolledBack in bus.wanted:
            bus.publish(
                events.CommitRolledBack(
                    execution_id=self.ctx.execution_id,
                    delta=delta,
                    error=describe(exc),
                    node_id=node_id,
                )
            )
        return failure

    def _announce(
        self, delta: GraphDelta, dropped: dict[str, int], configured: list[str] | None = None
    ) -> None:
        bus = self.ctx.bus
        execution_id = self.ctx.execution_id
        if events.NodeReconfigured in bus.wanted:
            ids = configured if configured is not None else [c.id for c in delta.reconfigured]
            for node_id in ids:
                bus.publish(events.NodeReconfigured(execution_id=execution_id, node_id=node_id))
        if events.GraphCommitted in bus.wanted:
            bus.publish(
                events.GraphCommitted(execution_id=execution_id, delta=delta, dropped=dropped)
            )


def _hook_cancelled(exc: asyncio.CancelledError) -> bool:
    """Whether ``exc`` came out of a hook (a future it awaited), not from the commit's cancel."""
    task = asyncio.current_task()
    return task is not None and not task.cancelling()


def _live(rn: RunningNode) -> bool:
    return rn.started and not rn.finished


def _configure(rn: RunningNode, spec: NodeSpec) -> None:
    """Give ``rn`` the config of ``spec`` (its spec, context and the node's view of both)."""
    rn.spec = dataclasses.replace(rn.spec, config=spec.config)
    rn.context = dataclasses.replace(rn.context, config=rn.spec.config)
    rn.node.bind_context(rn.context)
