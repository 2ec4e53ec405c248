"""A Hypothesis state machine over one execution's life in manual commit mode.

Random sequences of injections, changes to the desired graph, plans, commits (with the run
going or frozen by a pause), pauses, resumes, stops and restarts. After every step: the desired
graph is what the calls asked for; after a commit the running graph equals it; an edge kept
by a commit is the same edge with the same messages; what removed edges held is counted;
every edge accounts for every message; no node gets a message twice or out of order; a final
state stays final; pause, resume and stop are idempotent.
"""

from __future__ import annotations

import sys
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from arachne import Runtime, Subgraph
from arachne.runtime import Execution, ExecutionState
from arachne.runtime.events import GraphCommitted
from tests.runtime.test_wiring import PathRelay, PortSink, Recorder, eventually, same_graph

PORTS = ("in0", "in1", "in2", "in3")
WAIT = 20.0


class ExecutionLife(RuleBasedStateMachine):
    """The model: which nodes and links the desired graph has, and what was committed."""

    def __init__(self) -> None:
        super().__init__()
        self.switch = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)  # the loop thread hands over sooner: steps wait less
        # head (fed by inject only) -> r0 -> k0, and head -> k0 too.
        head, r0, k0 = PathRelay("head"), PathRelay("r0"), PortSink("k0")
        self.units: dict[str, PathRelay | PortSink] = {"head": head, "r0": r0, "k0": k0}
        self.kinds: dict[str, str] = {"head": "relay", "r0": "relay", "k0": "sink"}
        self.links = {
            "h0": ("head", "r0", "in0"),
            "h1": ("head", "k0", "in1"),
            "r1": ("r0", "k0", "in0"),
        }
        self.capacity = dict.fromkeys(self.links, 2)
        graph = Subgraph()
        for unit in self.units.values():
            graph.add_node(unit)
        for edge_id, (u, v, port) in self.links.items():
            graph.connect((u, "out"), (v, port), capacity=2, id=edge_id)
        self.rt = Runtime(commit_mode="manual")
        self.rt.register(graph)
        self.recorder = Recorder()
        self.rt.subscribe(self.recorder, GraphCommitted)
        self.ex = self.rt.start()
        self.ended: dict[str, ExecutionState] = {}  # executions that ended, and how
        self.seq = 0
        self.made = 0
        self.checked: dict[str, int] = {}
        self.last: dict[tuple[str, tuple[str, ...]], int] = {}

    # -- helpers --------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        self.made += 1
        return f"{prefix}{self.made}"

    def _reaches(self, start: str, goal: str) -> bool:
        stack, seen = [start], set()
        while stack:
            current = stack.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                stack.extend(v for u, v, _ in self.links.values() if u == current)
        return False

    def _free_links(self) -> list[tuple[str, str, str]]:
        taken = {(v, port) for _, v, port in self.links.values()}
        pairs = {(u, v) for u, v, _ in self.links.values()}
        return [
            (u, v, port)
            for u, kind in self.kinds.items()
            if kind == "relay"
            for v in self.kinds
            if v not in (u, "head")
            for port in PORTS
            if (v, port) not in taken
            and (u, v) not in pairs  # one way from u to v: a message's path names its route
            and not self._reaches(v, u)
        ]

    def _live(self) -> bool:
        return not self.ex.done

    # -- changes to the desired graph -----------------------------------------------------

    @rule(kind=st.sampled_from(["relay", "sink"]))
    def add_node(self, kind: str) -> None:
        name = self._new_id(kind)
        unit = PathRelay(name) if kind == "relay" else PortSink(name)
        assert self.ex.add_node(unit) == name
        self.units[name], self.kinds[name] = unit, kind

    @precondition(lambda self: bool(self._free_links()))
    @rule(data=st.data(), capacity=st.integers(1, 4))
    def connect(self, data: st.DataObject, capacity: int) -> None:
        u, v, port = data.draw(st.sampled_from(self._free_links()), label="link")
        edge_id = self._new_id("w")
        assert self.ex.connect((u, "out"), (v, port), edge_id=edge_id, capacity=capacity) == edge_id
        self.links[edge_id] = (u, v, port)
        self.capacity[edge_id] = capacity

    @precondition(lambda self: bool(self.links))
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        edge_id = data.draw(st.sampled_from(sorted(self.links)), label="edge")
        self.ex.disconnect(edge_id)
        del self.links[edge_id], self.capacity[edge_id]

    @precondition(lambda self: len(self.kinds) > 1)
    @rule(data=st.data())
    def remove_node(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(set(self.kinds) - {"head"})), label="node")
        for edge_id in [e for e, (u, v, _) in self.links.items() if name in (u, v)]:
            self.ex.disconnect(edge_id)
            del self.links[edge_id], self.capacity[edge_id]
        self.ex.remove_node(name)
        del self.kinds[name]

    @precondition(lambda self: bool(self.links))
    @rule(data=st.data(), capacity=st.integers(1, 4))
    def set_capacity(self, data: st.DataObject, capacity: int) -> None:
        edge_id = data.draw(st.sampled_from(sorted(self.links)), label="edge")
        self.ex.set_capacity(edge_id, capacity)
        self.capacity[edge_id] = capacity

    # -- plans and commits ----------------------------------------------------------------

    @rule()
    def plan(self) -> None:
        running = self.ex.running_graph()
        delta = self.ex.plan()
        assert self.ex.running_graph() == running  # a dry run
        assert bool(delta) == (not same_graph(self.ex.graph, running))

    @rule(frozen=st.booleans(), flowing=st.integers(0, 30))
    def commit(self, frozen: bool, flowing: int) -> None:
        """Commit, ``flowing`` messages just injected; ``frozen``: with the run paused, so
        kept edges must hold exactly as much."""
        if self._live() and self.ex.state is ExecutionState.RUNNING:
            head = self.units["head"]
            goal = len(head.got) + flowing
            self.inject(flowing)
            assert eventually(self.ex, lambda: len(head.got) >= goal)  # spread on the edges
        if frozen and self._live():
            self._pause()
        desired = self.ex.graph
        before = {
            edge_id: (edge, len(edge))
            for edge_id, edge in self.ex.wiring.edges.items()
            if edge.kind == "link"
        }
        delta = self.ex.commit()
        assert same_graph(self.ex.running_graph(), desired)
        removed = {link.id for link in delta.removed_links}
        for edge_id, (edge, depth) in before.items():
            if edge_id in removed:
                if frozen:  # (running, messages come and go until the switch)
                    assert self.ex.wiring.retired_edges[edge_id].dropped == depth
                continue
            assert self.ex.wiring.edges[edge_id] is edge  # kept: the same edge, same queue
            if frozen:
                assert len(edge) == depth
        if delta and self._live():
            event = self.recorder.of(GraphCommitted)[-1]
            assert event.delta == delta
            assert event.dropped == {
                link.id: self.ex.wiring.retired_edges[link.id].dropped
                for link in delta.removed_links
            }
        if frozen and self._live():
            self._resume()

    # -- the execution's life -------------------------------------------------------------

    @rule(count=st.integers(1, 40))
    def inject(self, count: int) -> None:
        if not self._live():
            return
        for _ in range(count):
            self.seq += 1
            self.ex.inject("head", "in0", ("src", self.seq, ()))

    def _pause(self) -> None:
        self.ex.pause()
        self.ex.pause()  # idempotent
        assert eventually(self.ex, lambda: self.ex.state is ExecutionState.PAUSED)

    def _resume(self) -> None:
        self.ex.resume()
        self.ex.resume()  # idempotent
        assert eventually(self.ex, lambda: self.ex.state is ExecutionState.RUNNING)

    @precondition(lambda self: self._live())
    @rule()
    def pause(self) -> None:
        self._pause()

    @precondition(lambda self: self._live())
    @rule()
    def resume(self) -> None:
        self._resume()

    @precondition(lambda self: self._live())
    @rule()
    def stop(self) -> None:
        assert self.ex.stop(timeout=WAIT)
        assert self.ex.stop(timeout=WAIT)  # idempotent
        assert self.ex.state is ExecutionState.COMPLETED
        self._check_conservation(self.ex)
        self.ended[self.ex.id] = self.ex.state

    @precondition(lambda self: not self._live())
    @rule()
    def restart(self) -> None:
        old = self.ex
        self.ex = self.rt.restart(old.id, timeout=WAIT)
        assert old.state is self.ended[old.id]  # a final state stays final
        assert same_graph(self.ex.graph, old.graph)
        assert same_graph(self.ex.running_graph(), old.graph)  # the desired graph runs
        assert eventually(self.ex, lambda: self.ex.state is ExecutionState.RUNNING)

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def the_desired_graph_is_what_was_asked(self) -> None:
        graph = self.ex.graph
        assert set(graph.nodes) == set(self.kinds)
        assert {
            link.id: (link.source.node, link.target.node, link.target.port)
            for link in graph.links.values()
        } == self.links
        assert {link.id: link.capacity for link in graph.links.values()} == self.capacity

    @invariant()
    def edges_account_for_every_message(self) -> None:
        for edge in self.ex.stats().edges.values():
            assert edge.offered == edge.dequeued + edge.dropped + edge.depth, edge
            assert edge.dropped == edge.failed == edge.coalesced == 0, edge  # block: no loss

    @invariant()
    def receipts_are_unique_and_in_order(self) -> None:
        for name, unit in self.units.items():
            start = self.checked.get(name, 0)
            new = unit.got[start:]
            for _, (_, seq, path) in new:
                key = (name, path)
                assert seq > self.last.get(key, -1), (key, seq)
                self.last[key] = seq
            self.checked[name] = start + len(new)

    @invariant()
    def final_states_stay_final(self) -> None:
        for execution_id, state in self.ended.items():
            assert self.rt.executions[execution_id].state is state

    # -- the end --------------------------------------------------------------------------

    def _check_conservation(self, ex: Execution) -> None:
        """Every message a node took came off one of its edges; a relay passed each on once."""
        stats = ex.stats()
        edges = [*stats.edges.values(), *ex.wiring.retired_edges.values()]
        nodes = {**ex.wiring.retired_nodes, **stats.nodes}
        for name, node in nodes.items():
            taken = sum(edge.dequeued for edge in edges if edge.target == name)
            assert node.received == taken, (name, node, taken)
            if isinstance(self.units.get(name), PathRelay):
                assert node.emitted == node.received, (name, node)

    def teardown(self) -> None:
        try:
            if self._live():
                if self.ex.state is ExecutionState.PAUSED:
                    self._resume()
                assert self.ex.stop(timeout=WAIT)
                self._check_conservation(self.ex)
            self.receipts_are_unique_and_in_order()
        finally:
            self.rt.shutdown(5)
            sys.setswitchinterval(self.switch)


TestExecutionLife = ExecutionLife.TestCase
TestExecutionLife.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    phases=[Phase.explicit, Phase.generate],  # each step runs threads: report as generated
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_the_model_helpers_see_cycles() -> None:
    machine: Any = ExecutionLife()
    try:
        machine.kinds.update({"a": "relay", "b": "relay"})
        machine.links.update({"w1": ("head", "a", "in0"), "w2": ("a", "b", "in0")})
        assert machine._reaches("head", "b")
        assert ("b", "head", "in0") not in machine._free_links()  # head takes no link
        assert ("b", "a", "in1") not in machine._free_links()  # a cycle
        assert ("head", "b", "in1") in machine._free_links()
    finally:
        machine.teardown()
