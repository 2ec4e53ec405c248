"""Commits: the desired graph, ``plan()``, ``commit()``, commit modes and rollback.

Every change edits the desired graph in the caller's thread; a commit makes the running graph
equal to it, all or nothing (``arachne.runtime.commit``). These tests drive executions on a
background loop and read them through ``stats()`` and events.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import pytest

from arachne import (
    CommitFailed,
    ExecutionError,
    GraphError,
    Input,
    Message,
    Node,
    Output,
    Runtime,
    Subgraph,
)
from arachne.model.delta import GraphDelta
from arachne.model.errors import EdgeFull
from arachne.runtime import ExecutionState
from arachne.runtime.events import (
    CommitRolledBack,
    GraphCommitted,
    NodeAdded,
    NodeReconfigured,
    NodeRemoved,
    NodeStarted,
    NodeStopped,
)
from tests.runtime.nodes import Collect
from tests.runtime.test_wiring import Recorder, eventually, same_graph

WAIT = 10.0


class Feed(Node):
    """A keep-alive source sending 0, 1, 2, ... while below ``allowance``."""

    keep_alive = True
    out = Output(int)

    def __init__(self, name: str = "feed", allowance: int = 0) -> None:
        super().__init__(name=name)
        self.allowance = allowance
        self.sent = 0

    def on_tick(self) -> None:
        if self.sent < self.allowance:
            self.emit("out", self.sent)
            self.sent += 1


class Gate(Node):
    """Passes values on, each multiplied by its config's ``factor``; holds them while closed.

    Its state counts what it passed; ``on_config`` refuses a factor of 0 and records the others.
    Its calls run in a thread, so a closed gate holds its messages, not the loop.
    """

    mode = "thread"
    inp = Input(int, name="in")
    out = Output(int)

    def __init__(self, name: str, factor: int = 1) -> None:
        super().__init__(name=name, config={"factor": factor})
        self.open = threading.Event()
        self.open.set()
        self.configs: list[int] = []
        self.life: list[str] = []

    def on_start(self) -> None:
        self.life.append("start")

    def on_message(self, port: str, msg: Message) -> None:
        self.open.wait(WAIT)
        self.context.state["passed"] = self.context.state.get("passed", 0) + 1
        self.emit("out", msg.payload * self.context.config["factor"])

    def on_config(self, config: Any) -> None:
        if config["factor"] == 0:
            raise ValueError("a factor of 0 would erase every value")
        self.configs.append(config["factor"])

    def on_stop(self) -> None:
        self.life.append("stop")


class Refuses(Collect):
    """A sink whose ``on_start`` raises."""

    def on_start(self) -> None:
        super().on_start()
        raise RuntimeError("the disk is full")


def pipeline(commit_mode: str = "manual") -> tuple[Runtime, Feed, Gate, Collect, Recorder]:
    """feed -> gate (x2) -> sink, started, nothing sent yet."""
    feed, gate, sink = Feed(), Gate("gate", 2), Collect("sink")
    graph = Subgraph()
    for unit in (feed, gate, sink):
        graph.add_node(unit)
    graph.connect(("feed", "out"), ("gate", "in"), capacity=4, id="a")
    graph.connect(("gate", "out"), ("sink", "in"), capacity=8, id="b")
    rt = Runtime(commit_mode=commit_mode)  # type: ignore[arg-type]
    rt.register(graph)
    recorder = Recorder()
    rt.subscribe(recorder)
    ex = rt.start()
    assert eventually(ex, lambda: ex.state is ExecutionState.RUNNING)
    return rt, feed, gate, sink, recorder


def test_manual_changes_gather_in_the_desired_graph_until_commit() -> None:
    rt, feed, _, sink, recorder = pipeline("manual")
    ex = rt.execution
    try:
        before = ex.running_graph()
        tap = Collect("tap")
        ex.add_node(tap)
        ex.connect(("gate", "out"), ("tap", "in"), edge_id="t", capacity=2)
        ex.set_capacity("a", 16)
        assert ex.update_config("gate", {"factor": 3})
        assert ex.running_graph() == before  # nothing applied yet
        assert set(ex.graph.nodes) == {"feed", "gate", "sink", "tap"}
        plan = ex.plan()
        assert [s.id for s in plan.added_nodes] == ["tap"]
        assert [link.id for link in plan.added_links] == ["t"]
        assert [c.id for c in plan.reconfigured] == ["gate"]
        assert [(c.id, c.changes) for c in plan.retuned] == [("a", {"capacity": (4, 16)})]
        assert plan.reconfigured[0].old_checksum != plan.reconfigured[0].new_checksum
        assert str(plan).splitlines() == [
            "+ node tap (" + ex.graph.nodes["tap"].kind + ")",
            "+ link t (gate.out -> tap.in)",
            "~ node gate config factor: 2 -> 3",
            "~ link a capacity 4 -> 16",
        ]
        assert ex.plan() == plan  # a dry run changes nothing
        committed = ex.commit()
        assert committed == plan
        assert same_graph(ex.graph, ex.running_graph())
        assert not ex.plan()
        assert ex.commit() == GraphDelta()  # nothing left: an empty commit, no event
        [event] = recorder.of(GraphCommitted)
        assert event.delta == plan
        assert event.dropped == {}
        feed.allowance = 5
        assert eventually(ex, lambda: tap.payloads == [0, 3, 6, 9, 12])
        assert sink.payloads == [0, 3, 6, 9, 12]
        assert ex.stats().edges["a"].capacity == 16
    finally:
        rt.shutdown(WAIT)


def test_auto_mode_commits_every_change_at_once() -> None:
    rt, feed, _, _, recorder = pipeline("auto")
    ex = rt.execution
    try:
        tap = Collect("tap")
        ex.add_node(tap)
        assert "tap" in ex.wiring.nodes
        ex.connect(("gate", "out"), ("tap", "in"), edge_id="t")
        assert same_graph(ex.graph, ex.running_graph())
        assert not ex.plan()
        assert [len(e.delta) for e in recorder.of(GraphCommitted)] == [1, 1]
        feed.allowance = 3
        assert eventually(ex, lambda: tap.payloads == [0, 2, 4])
    finally:
        rt.shutdown(WAIT)


def test_the_commit_mode_can_change_and_is_checked() -> None:
    rt, _, _, _, _ = pipeline("auto")
    ex = rt.execution
    try:
        ex.commit_mode = "manual"
        ex.add_node(Collect("tap"))
        assert "tap" not in ex.wiring.nodes
        ex.commit_mode = "auto"
        ex.connect(("gate", "out"), ("tap", "in"))  # commits both changes
        assert "tap" in ex.wiring.nodes
        with pytest.raises(ValueError, match="commit_mode must be 'auto' or 'manual'"):
            ex.commit_mode = "later"  # type: ignore[assignment]
        with pytest.raises(ValueError, match="commit_mode must be 'auto' or 'manual'"):
            Runtime(commit_mode="eager")  # type: ignore[arg-type]
    finally:
        rt.shutdown(WAIT)


def edges_of(ex: Any) -> dict[str, tuple[Any, ...]]:
    """Each running edge, as what a commit must not change: object, ends, options, depth."""
    return {
        edge.id: (
            edge,
            edge.source.id,
            edge.target.id,
            edge.capacity,
            edge.overflow,
            edge.priority,
            len(edge),
            edge.stats().offered,
        )
        for edge in ex.wiring.edges.values()
    }


def test_a_commit_failing_in_its_middle_leaves_the_running_graph_intact_and_running() -> None:
    rt, feed, gate, sink, recorder = pipeline("manual")
    ex = rt.execution
    try:
        gate.open.clear()  # messages pile up on "a" and "b" cannot drain past the gate
        feed.allowance = 6
        assert eventually(ex, lambda: ex.stats().edges["a"].depth == 4)
        running, edges = ex.running_graph(), edges_of(ex)
        nodes = dict(ex.wiring.nodes)
        # One commit that removes a link and a node, adds a good node and a failing one,
        # reconfigures the gate and retunes a link.
        ex.disconnect("b")
        ex.remove_node("sink")
        good, bad = Collect("good"), Refuses("bad")
        ex.add_node(good)
        ex.add_node(bad)
        ex.connect(("gate", "out"), ("good", "in"), edge_id="g")
        ex.connect(("gate", "out"), ("bad", "in"), edge_id="x")
        ex.update_config("gate", {"factor": 5})
        ex.set_capacity("a", 2)
        plan = ex.plan()
        with pytest.raises(CommitFailed, match="node 'bad' failed: on_start raised") as failed:
            ex.commit()
        assert failed.value.node_id == "bad"
        assert isinstance(failed.value.__cause__, RuntimeError)
        # The running graph, edge by edge and node by node, is as it was.
        assert ex.running_graph() == running
        assert edges_of(ex) == edges
        assert ex.wiring.nodes == nodes
        assert gate.context.config == {"factor": 2}
        assert gate.configs == []
        assert good.log == ["start good", "stop good"]  # started for the commit, stopped again
        assert bad.log == ["start bad"]  # its on_start failed: no on_stop
        assert not any(e.node_id in ("good", "bad") for e in recorder.of(NodeAdded))
        assert recorder.of(NodeRemoved) == []
        [rolled] = recorder.of(CommitRolledBack)
        assert (rolled.delta, rolled.node_id) == (plan, "bad")
        assert "the disk is full" in rolled.error
        assert recorder.of(GraphCommitted) == []
        # Manual mode: the desired graph keeps the changes, so they can be fixed and retried.
        assert ex.plan() == plan
        # And the graph runs on: every message reaches the sink, in order, times 2.
        gate.open.set()
        assert eventually(ex, lambda: sink.payloads == [0, 2, 4, 6, 8, 10])
        assert ex.state is ExecutionState.RUNNING
        assert gate.context.state["passed"] == 6
    finally:
        rt.shutdown(WAIT)


def test_a_failed_auto_commit_takes_the_desired_graph_back() -> None:
    rt, _, _, _, recorder = pipeline("auto")
    ex = rt.execution
    try:
        desired = ex.graph
        with pytest.raises(CommitFailed, match="the disk is full"):
            ex.add_node(Refuses("bad"))
        assert "bad" not in ex.graph.nodes
        assert "bad" not in ex.wiring.nodes
        assert same_graph(ex.graph, desired)
        assert len(recorder.of(CommitRolledBack)) == 1
    finally:
        rt.shutdown(WAIT)


def test_a_refused_config_puts_back_the_configs_of_the_nodes_changed_before_it() -> None:
    first, second = Gate("first", 2), Gate("second", 3)
    feed, sink = Feed(), Collect("sink")
    graph = Subgraph()
    for unit in (feed, first, second, sink):
        graph.add_node(unit)
    graph.connect(("feed", "out"), ("first", "in"))
    graph.connect(("first", "out"), ("second", "in"))
    graph.connect(("second", "out"), ("sink", "in"))
    rt = Runtime(commit_mode="manual")
    rt.register(graph)
    ex = rt.start()
    try:
        assert eventually(ex, lambda: ex.state is ExecutionState.RUNNING)
        ex.update_config("first", {"factor": 10})
        ex.update_config("second", {"factor": 0})  # refused by its on_config
        with pytest.raises(CommitFailed, match="node 'second' refused its new config"):
            ex.commit()
        # "first" took 10, then its old config back through on_config.
        assert first.configs == [10, 2]
        assert first.context.config == {"factor": 2}
        assert second.context.config == {"factor": 3}
        feed.allowance = 2
        assert eventually(ex, lambda: sink.payloads == [0, 6])
    finally:
        rt.shutdown(WAIT)


def test_a_config_change_reaches_only_its_node() -> None:
    rt, feed, gate, sink, recorder = pipeline("auto")
    ex = rt.execution
    try:
        feed.allowance = 2
        assert eventually(ex, lambda: sink.payloads == [0, 2])
        sink_state = dict(sink.context.state)
        assert ex.update_config("gate", {"factor": 7})
        assert gate.configs == [7]
        assert gate.context.state["passed"] == 2  # its state is kept
        assert sink.context.state == sink_state
        assert [e.node_id for e in recorder.of(NodeReconfigured)] == ["gate"]
        feed.allowance = 3
        assert eventually(ex, lambda: sink.payloads == [0, 2, 14])
    finally:
        rt.shutdown(WAIT)


def test_a_node_replaced_under_its_id_starts_before_the_old_one_stops() -> None:
    rt, feed, gate, sink, recorder = pipeline("manual")
    ex = rt.execution
    try:
        feed.allowance = 2
        assert eventually(ex, lambda: sink.payloads == [0, 2])
        new = Gate("gate", 100)
        ex.disconnect("a")
        ex.disconnect("b")
        ex.remove_node("gate")
        ex.add_node(new)
        ex.connect(("feed", "out"), ("gate", "in"), edge_id="a")
        ex.connect(("gate", "out"), ("sink", "in"), edge_id="b")
        plan = ex.plan()
        assert [s.id for s in plan.removed_nodes] == [s.id for s in plan.added_nodes] == ["gate"]
        ex.commit()
        assert ex.wiring.nodes["gate"].node is new
        assert eventually(ex, lambda: gate.life == ["start", "stop"])
        life = [
            (type(e).__name__, e.node_id)
            for e in recorder.events
            if isinstance(e, NodeStarted | NodeStopped) and e.node_id == "gate"
        ]
        assert life == [("NodeStarted", "gate"), ("NodeStarted", "gate"), ("NodeStopped", "gate")]
        feed.allowance = 3
        assert eventually(ex, lambda: sink.payloads == [0, 2, 200])
    finally:
        rt.shutdown(WAIT)


def test_commits_before_the_start_and_after_the_end_change_the_graphs_alone() -> None:
    feed, sink = Feed(allowance=3), Collect("sink")
    graph = Subgraph()
    graph.add_node(feed)
    graph.add_node(sink)
    graph.connect(("feed", "out"), ("sink", "in"), id="a")
    rt = Runtime(commit_mode="manual")
    rt.register(graph)
    ex = rt.execution
    tap = Collect("tap")
    ex.add_node(tap)
    ex.connect(("feed", "out"), ("tap", "in"), edge_id="t")
    assert "tap" not in ex.wiring.nodes
    assert [s.id for s in ex.commit().added_nodes] == ["tap"]
    assert tap.log == []  # no hook before the run: it starts with the others
    rt.start()
    assert eventually(ex, lambda: tap.payloads == [0, 1, 2])
    assert ex.stop(timeout=WAIT)
    assert tap.log == ["start tap", "finish tap", "stop tap"]
    ex.disconnect("t")
    ex.remove_node("tap")
    assert [s.id for s in ex.commit().removed_nodes] == ["tap"]
    assert same_graph(ex.graph, ex.running_graph())
    assert tap.log == ["start tap", "finish tap", "stop tap"]  # no second on_stop
    rt.shutdown(WAIT)


@pytest.mark.parametrize("mode", ["auto", "manual"])
def test_a_bad_change_raises_in_the_caller_and_changes_nothing(mode: str) -> None:
    rt, _, _, _, _ = pipeline(mode)
    ex = rt.execution
    try:
        desired, running = ex.graph, ex.running_graph()
        with pytest.raises(GraphError, match="edge loop would close a cycle through 'gate'"):
            ex.connect(("gate", "out"), ("gate", "in"), edge_id="loop")
        with pytest.raises(GraphError, match="unknown node 'nope'; known nodes: feed, gate"):
            ex.connect(("nope", "out"), ("sink", "in"))
        with pytest.raises(GraphError, match="node 'gate' has no input 'x'; its inputs: in"):
            ex.connect(("feed", "out"), ("gate", "x"))
        with pytest.raises(GraphError, match=r"node 'gate' is still linked \(a, b\)"):
            ex.remove_node("gate")
        with pytest.raises(GraphError, match="unknown edge 'zz'"):
            ex.set_capacity("zz", 3)
        with pytest.raises(ValueError, match="capacity must be an int >= 1"):
            ex.set_capacity("a", 0)
        assert ex.graph is desired
        assert ex.running_graph() == running
    finally:
        rt.shutdown(WAIT)


# -- found in review: concurrent callers, stops at the end, instances reused -------------------


class SlowRefusal(Collect):
    """A node whose ``on_start`` waits until released, then raises."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.entered = threading.Event()
        self.release = threading.Event()

    async def on_start(self) -> None:
        self.entered.set()
        while not self.release.is_set():
            await asyncio.sleep(0.001)
        raise RuntimeError("the disk is full")


def test_in_auto_mode_a_failed_change_takes_back_only_itself() -> None:
    rt, _, gate, _, _ = pipeline("auto")
    ex = rt.execution
    try:
        slow = SlowRefusal("slow")
        errors: list[Exception] = []

        def add() -> None:
            try:
                ex.add_node(slow)
            except Exception as exc:
                errors.append(exc)

        adder = threading.Thread(target=add)
        adder.start()
        assert slow.entered.wait(WAIT)  # its commit holds the turn
        configured = threading.Thread(target=ex.update_config, args=("gate", {"factor": 3}))
        configured.start()  # queued behind it
        slow.release.set()
        adder.join(WAIT)
        configured.join(WAIT)
        assert [type(e) for e in errors] == [CommitFailed]
        assert gate.configs == [3]  # the other caller's change is kept, in both graphs
        assert ex.graph.nodes["gate"].config == {"factor": 3}
        assert "slow" not in ex.graph.nodes
        assert same_graph(ex.graph, ex.running_graph())
    finally:
        rt.shutdown(WAIT)


class SlowStop(Collect):
    async def on_stop(self) -> None:
        self.log.append(f"stopping {self.name()}")
        await asyncio.sleep(0.01)
        self.log.append(f"stopped {self.name()}")


def test_nodes_removed_just_before_the_end_are_stopped_in_reverse_order() -> None:
    log: list[str] = []
    first, second = SlowStop("first", log), SlowStop("second", log)
    rt, *_ = pipeline("manual")
    ex = rt.execution
    try:
        ex.add_node(first)
        ex.add_node(second)
        ex.connect(("gate", "out"), ("first", "in"), edge_id="f")
        ex.connect(("gate", "out"), ("second", "in"), edge_id="s")
        ex.commit()
        ex.disconnect("f")
        ex.disconnect("s")
        ex.remove_node("first")
        ex.remove_node("second")
        ex.commit()
        assert ex.stop(timeout=WAIT)  # at once: the run's end waits for their on_stop
        assert log == [
            "start first",
            "start second",
            "stopping second",  # reverse topological order, as at the end of a run
            "stopped second",
            "stopping first",
            "stopped first",
        ]
    finally:
        rt.shutdown(WAIT)


def test_an_instance_put_back_at_once_is_stopped_before_it_starts_again() -> None:
    log: list[str] = []
    again = SlowStop("again", log)
    rt, _, _, _, _ = pipeline("auto")
    ex = rt.execution
    try:
        ex.add_node(again)
        ex.remove_node("again")
        ex.add_node(again)
        assert eventually(ex, lambda: log.count("start again") == 2)
        assert log == ["start again", "stopping again", "stopped again", "start again"]
    finally:
        rt.shutdown(WAIT)


def test_a_commit_giving_a_removed_nodes_instance_a_new_id_says_how_to_do_it() -> None:
    rt, _, _, _, _ = pipeline("manual")
    ex = rt.execution
    try:
        moved = Collect("moved")
        ex.add_node(moved)
        ex.commit()
        ex.remove_node("moved")
        ex.add_node(moved, node_id="renamed")
        with pytest.raises(GraphError, match="commit the removal first, or give the new node"):
            ex.commit()
        assert "moved" in ex.wiring.nodes
    finally:
        rt.shutdown(WAIT)


def test_a_change_right_after_start_waits_for_the_run_and_is_live() -> None:
    graph = Subgraph()
    graph.add_node(Collect("sink"))
    rt = Runtime()
    rt.register(graph)
    ex = rt.start()  # the loop may not have begun the run yet
    try:
        refuser = Refuses("refuser")
        with pytest.raises(CommitFailed, match="the disk is full"):
            ex.add_node(refuser)
        assert refuser.log == ["start refuser"]
        assert ex.state is ExecutionState.RUNNING
    finally:
        rt.shutdown(WAIT)


def test_a_live_link_between_ports_of_other_types_is_refused() -> None:
    class Words(Node):
        inp = Input(str, name="in")

    rt, _, _, _, _ = pipeline("auto")
    ex = rt.execution
    try:
        ex.add_node(Words(name="words"))
        with pytest.raises(GraphError, match="emits int but port 'in' of node 'words' expects"):
            ex.connect(("gate", "out"), ("words", "in"))
    finally:
        rt.shutdown(WAIT)


def test_revert_drops_what_was_not_committed() -> None:
    rt, _, _, _, _ = pipeline("manual")
    ex = rt.execution
    try:
        running = ex.running_graph()
        ex.add_node(Collect("tap"))
        ex.set_capacity("a", 9)
        dropped = ex.revert()
        assert [s.id for s in dropped.added_nodes] == ["tap"]
        assert not ex.plan()
        assert ex.graph == running
        assert "tap" not in ex.instances
    finally:
        rt.shutdown(WAIT)


def test_back_to_auto_with_a_change_that_fails_leaves_what_runs() -> None:
    rt, _, _, _, _ = pipeline("manual")
    ex = rt.execution
    try:
        ex.add_node(Refuses("bad"))
        with pytest.raises(CommitFailed, match="the disk is full"):
            ex.commit_mode = "auto"
        assert ex.commit_mode == "auto"
        assert "bad" not in ex.graph.nodes
        assert not ex.plan()
        ex.add_node(Collect("fine"))  # auto mode works on
        assert "fine" in ex.wiring.nodes
    finally:
        rt.shutdown(WAIT)


# -- found in the second review ----------------------------------------------------------------


def test_changes_from_many_threads_commit_in_the_order_they_were_made() -> None:
    rt, _, _, _, _ = pipeline("auto")
    ex = rt.execution
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads swap often: the window between edit and commit opens
    try:
        start = threading.Barrier(5)

        def configure(worker: int) -> None:
            for round_ in range(40):
                start.wait()
                ex.update_config("gate", {"factor": 10 + worker + 100 * round_})
                start.wait()

        workers = [threading.Thread(target=configure, args=(i,)) for i in range(4)]
        for worker in workers:
            worker.start()
        diverged = 0
        for _ in range(40):
            start.wait()
            start.wait()
            desired = ex.graph.nodes["gate"].config
            diverged += desired != ex.running_graph().nodes["gate"].config
        for worker in workers:
            worker.join(WAIT)
        assert diverged == 0
    finally:
        sys.setswitchinterval(switch)
        rt.shutdown(WAIT)


def test_a_failed_change_undone_keeps_a_later_change_to_the_same_node() -> None:
    rt, _, gate, _, _ = pipeline("auto")
    ex = rt.execution
    try:
        slow = SlowRefusal("slow")
        slow_error: list[Exception] = []
        refused: list[Exception] = []

        def run(call: Any, into: list[Exception]) -> threading.Thread:
            def go() -> None:
                try:
                    call()
                except Exception as exc:
                    into.append(exc)

            thread = threading.Thread(target=go)
            thread.start()
            return thread

        first = run(lambda: ex.add_node(slow), slow_error)
        assert slow.entered.wait(WAIT)  # holds the turn: the two below queue behind it
        second = run(lambda: ex.update_config("gate", {"factor": 0}), refused)
        assert eventually(ex, lambda: ex.graph.nodes["gate"].config == {"factor": 0})
        third = run(lambda: ex.update_config("gate", {"factor": 5}), [])
        assert eventually(ex, lambda: ex.graph.nodes["gate"].config == {"factor": 5})
        slow.release.set()
        for thread in (first, second, third):
            thread.join(WAIT)
        assert [type(e) for e in refused] == [CommitFailed]
        assert ex.graph.nodes["gate"].config == {"factor": 5}  # not taken back to 2
        assert same_graph(ex.graph, ex.running_graph())
        assert gate.configs == [5]
    finally:
        rt.shutdown(WAIT)


def test_a_removed_nodes_on_stop_may_commit_and_the_run_still_stops() -> None:
    class HandsOver(Collect):
        ex: Any = None

        async def on_stop(self) -> None:
            self.successor = await asyncio.to_thread(self.ex.add_node, Collect("successor"))

    rt, _, _, _, _ = pipeline("auto")
    ex = rt.execution
    try:
        leaving = HandsOver("leaving")
        leaving.ex = ex
        ex.add_node(leaving)
        ex.remove_node("leaving")
        assert eventually(ex, lambda: "successor" in ex.wiring.nodes)
        ex.set_capacity("a", 7)
        assert eventually(ex, lambda: ex.running_graph().links["a"].capacity == 7)
        assert ex.stop(timeout=WAIT)
    finally:
        rt.shutdown(WAIT)


def test_a_cancel_inside_on_start_fails_the_change_not_the_caller() -> None:
    class CancelledUnderIt(Collect):
        async def on_start(self) -> None:
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(future.cancel)  # a client closed under it
            await future

    rt, _, _, _, _ = pipeline("auto")
    ex = rt.execution
    try:
        with pytest.raises(ExecutionError, match="a hook was cancelled"):
            ex.add_node(CancelledUnderIt("cancelled"))
        assert "cancelled" not in ex.graph.nodes
        assert ex.state is ExecutionState.RUNNING
    finally:
        rt.shutdown(WAIT)


def test_a_fail_inject_edge_tells_every_caller_whose_value_did_not_fit() -> None:
    sink = Collect("sink")
    graph = Subgraph()
    graph.add_node(sink)
    rt = Runtime(max_backpressure_queue=4)
    rt.register(graph)
    ex = rt.start()
    try:
        ex.set_overflow("inject->sink.in", "fail")
        assert eventually(ex, lambda: ex.state is ExecutionState.RUNNING)
        ex.pause()
        told: list[bool] = []

        def inject(value: int) -> None:
            try:
                ex.inject("sink", "in", value)
                told.append(True)
            except EdgeFull:
                told.append(False)

        callers = [threading.Thread(target=inject, args=(i,)) for i in range(16)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(WAIT)
        edge = ex.stats().edges["inject->sink.in"]
        assert told.count(True) == edge.depth == 4
        assert told.count(False) == edge.failed == 12
    finally:
        rt.shutdown(WAIT)
