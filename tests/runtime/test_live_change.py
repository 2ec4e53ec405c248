"""Changing the graph of an execution through its API: before, during and after the run.

``add_node``, ``remove_node``, ``connect`` and ``disconnect`` are safe from any thread: before
the start and after the end they apply at once, while it runs they are handed to the loop and
the call returns once the change is live, and from inside a hook they are applied after the
current turn. The nodes and helpers come from ``test_wiring``, which tests the running graph
underneath.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from arachne import ExecutionError, GraphError, Input, Message, Node, Output
from arachne.runtime import Execution, ExecutionState
from arachne.runtime.events import (
    EdgeAdded,
    EdgeRemoved,
    NodeAdded,
    NodeRemoved,
    NodeStarted,
    NodeStopped,
)
from tests.runtime.nodes import Collect, Count, Relay
from tests.runtime.test_wiring import (
    Ints,
    Quiet,
    Recorder,
    Stall,
    eventually,
    run_of,
    same_graph,
    stopped,
)

GRAPH_EVENTS = (NodeAdded, NodeRemoved, EdgeAdded, EdgeRemoved)


def test_changes_before_the_start_apply_at_once_and_take_part_in_the_run() -> None:
    log: list[str] = []
    sink, late = Collect("sink", log), Collect("late", log)
    rt = run_of(Count(5, name="src", log=log), sink, links=[("src", "out", "sink", "in", 8)])
    events = Recorder()
    rt.subscribe(events, *GRAPH_EVENTS)
    ex = rt.execution
    assert ex.add_node(late) == "late"
    assert "late" in ex.graph.nodes
    assert "late" in ex.wiring.nodes
    assert ex.connect(("src", "out"), ("late", "in"), capacity=2) == "src.out->late.in"
    assert ex.graph.links["src.out->late.in"].capacity == 2
    assert ex.graph == ex.running_graph()
    assert [type(e) for e in events.events] == [NodeAdded, EdgeAdded]
    assert log == []  # nothing starts before the run
    rt.run()
    assert sink.payloads == late.payloads == [0, 1, 2, 3, 4]
    assert log.count("start late") == log.count("stop late") == 1


def test_a_source_added_while_running_starts_then_feeds_its_new_edge() -> None:
    sink = Collect("sink")
    rt = run_of(Quiet(name="q"), sink, links=[("q", "out", "sink", "in", 8)])
    events = Recorder()
    rt.subscribe(events, *GRAPH_EVENTS, NodeStarted)
    ex = rt.start()
    assert eventually(ex, lambda: ex.state is ExecutionState.RUNNING)
    source = Ints("late", allowance=0)  # a source ticks at once: it sends once linked
    assert ex.add_node(source) == "late"
    # Returned once the node runs: in both graphs and announced (on_start comes next).
    assert "late" in ex.wiring.nodes
    assert "late" in ex.graph.nodes
    assert events.of(NodeAdded) == [NodeAdded(execution_id=ex.id, node_id="late")]
    assert eventually(ex, lambda: NodeStarted(execution_id=ex.id, node_id="late") in events.events)
    edge = ex.connect(("late", "out"), ("sink", "in"), capacity=2)
    assert edge in ex.wiring.edges
    assert edge in ex.graph.links
    assert events.of(EdgeAdded) == [EdgeAdded(execution_id=ex.id, edge_id=edge)]
    source.allowance = 5
    assert eventually(ex, lambda: sink.payloads == [0, 1, 2, 3, 4])
    assert same_graph(ex.graph, ex.running_graph())
    assert stopped(rt).state is ExecutionState.COMPLETED


def test_a_consumer_added_while_running_takes_part_from_its_first_edge() -> None:
    log: list[str] = []
    late = Collect("late", log)
    rt = run_of(Quiet(name="q"), Collect("sink"), links=[("q", "out", "sink", "in", 8)])
    started = threading.Event()
    rt.subscribe(lambda event: event.node_id == "late" and started.set(), NodeStarted)
    ex = rt.start()
    try:
        assert eventually(ex, lambda: ex.state is ExecutionState.RUNNING)
        ex.add_node(late)
        assert started.wait(10)
        # Read after the scheduler's next turns, which would finish the node if it could.
        assert ex.stats().nodes["late"].state == "running"
        ex.connect(("q", "out"), ("late", "in"))
        ex.inject("late", "in", "hello")
        assert eventually(ex, lambda: late.payloads == ["hello"])
    finally:
        stopped(rt)
    assert log == ["start late", "finish late", "stop late"]


def test_a_consumer_added_and_linked_while_paused_takes_part() -> None:
    log: list[str] = []
    late, src = Collect("late", log), Ints("src", allowance=50)
    rt = run_of(src, Collect("sink"), links=[("src", "out", "sink", "in", 4)])
    ex = rt.start()
    assert eventually(ex, lambda: ex.stats().nodes["sink"].received == 50)
    ex.pause()
    ex.add_node(late)
    ex.connect(("src", "out"), ("late", "in"), capacity=4)
    ex.resume()
    assert eventually(ex, lambda: log == ["start late"])
    src.allowance = 80
    assert eventually(ex, lambda: late.payloads == list(range(50, 80)))
    # Added downstream of every node it links to, so even the orders agree.
    assert ex.graph == ex.running_graph()
    assert stopped(rt).state is ExecutionState.COMPLETED
    assert log == ["start late", "finish late", "stop late"]


def test_a_node_removed_while_running_is_stopped_and_its_counts_kept() -> None:
    log: list[str] = []
    sink, gone = Collect("sink", log), Collect("gone", log)
    rt = run_of(
        Ints("src", allowance=30),
        Quiet(name="q"),
        sink,
        gone,
        links=[("src", "out", "sink", "in", 4), ("src", "out", "gone", "in", 4)],
    )
    events = Recorder()
    rt.subscribe(events, *GRAPH_EVENTS)
    ex = rt.start()
    assert eventually(ex, lambda: len(gone.payloads) == 30)
    # Keep it an input, so it waits for its removal instead of finishing (see test_wiring).
    ex.connect(("q", "out"), ("gone", "in"), edge_id="keep")
    assert ex.disconnect("src.out->gone.in") == 0
    assert ex.disconnect("keep") == 0
    ex.remove_node("gone")
    assert "gone" not in ex.wiring.nodes
    assert "gone" not in ex.graph.nodes
    assert events.of(NodeRemoved) == [NodeRemoved(execution_id=ex.id, node_id="gone")]
    assert eventually(ex, lambda: log[-1:] == ["stop gone"])
    assert "finish gone" not in log  # stopped, not finished: its input never ended
    assert ex.wiring.retired_nodes["gone"].received == 30
    assert ex.wiring.retired_edges["src.out->gone.in"].dequeued == 30
    assert same_graph(ex.graph, ex.running_graph())
    assert stopped(rt).state is ExecutionState.COMPLETED
    assert log.count("stop gone") == 1


@pytest.mark.parametrize("change", ["add", "remove"])
def test_the_scheduler_keeps_polling_idle_sources_after_a_node_is_added_or_removed(
    change: str,
) -> None:
    source, sink = Ints("src", allowance=3), Collect("sink")
    rt = run_of(
        source,
        sink,
        Collect("gone"),
        links=[("src", "out", "sink", "in", 4), ("src", "out", "gone", "in", 4)],
    )
    done = threading.Event()
    rt.subscribe(lambda event: done.set(), NodeStarted if change == "add" else NodeStopped)
    ex = rt.start()
    try:
        assert eventually(ex, lambda: len(sink.payloads) == 3)  # the source is idle now
        done.clear()
        if change == "add":
            ex.add_node(Collect("late"))
        else:
            ex.disconnect("src.out->gone.in")
            ex.remove_node("gone")
        assert done.wait(10)
        source.allowance = 6
        # Progress takes microseconds; the bound only limits how long a failure takes.
        assert eventually(ex, lambda: len(sink.payloads) == 6, timeout=2.0)
    finally:
        stopped(rt)


def test_disconnect_returns_what_it_dropped_and_edge_removed_says_the_same() -> None:
    stall = Stall("stall")
    rt = run_of(
        Ints("src", allowance=100),
        Quiet(name="q"),
        stall,
        links=[("src", "out", "stall", "in", 6), ("q", "out", "stall", "in", 6)],
    )
    events = Recorder()
    rt.subscribe(events, *GRAPH_EVENTS)
    ex = rt.start()
    assert stall.entered.wait(10)
    edge = "src.out->stall.in"
    assert eventually(ex, lambda: ex.stats().edges[edge].depth == 6)
    dropped = ex.disconnect(edge)
    assert dropped == 6
    assert events.of(EdgeRemoved) == [EdgeRemoved(execution_id=ex.id, edge_id=edge, dropped=6)]
    assert ex.wiring.retired_edges[edge].dropped == 6
    assert edge not in ex.graph.links
    assert same_graph(ex.graph, ex.running_graph())
    stall.release()
    assert stopped(rt).state is ExecutionState.COMPLETED


class Rewirer(Node):
    """On its first message, asks for changes from inside the hook and notes what it saw."""

    in0 = Input(None, name="in0")
    in1 = Input(None, name="in1")

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.ex: Execution | None = None
        self.payloads: list[tuple[str, Any]] = []
        self.seen: dict[str, Any] = {}

    def on_message(self, port: str, msg: Message) -> None:
        self.payloads.append((port, msg.payload))
        ex = self.ex
        if ex is None or self.seen:
            return
        self.seen["added"] = ex.add_node(Ints("late", allowance=5))
        self.seen["connected"] = ex.connect(("late", "out"), ("rewirer", "in1"))
        self.seen["dropped"] = ex.disconnect("src.out->rewirer.in0")
        # The desired graph has it at once; the running graph after the turn.
        self.seen["during"] = (
            "late" in ex.wiring.nodes,
            "late.out->rewirer.in1" in ex.wiring.edges,
            "src.out->rewirer.in0" in ex.wiring.edges,
            "late" in ex.graph.nodes,
        )


def test_changes_asked_for_inside_a_hook_are_applied_after_the_turn() -> None:
    rewirer = Rewirer("rewirer")
    rt = run_of(
        Ints("src", allowance=3),
        Quiet(name="q"),
        rewirer,
        links=[("src", "out", "rewirer", "in0", 8), ("q", "out", "rewirer", "in0", 8)],
    )
    events = Recorder()
    rt.subscribe(events, *GRAPH_EVENTS)
    rewirer.ex = ex = rt.execution
    rt.start()
    assert eventually(ex, lambda: ("in1", 4) in rewirer.payloads)
    assert rewirer.seen == {
        "added": "late",
        "connected": "late.out->rewirer.in1",
        "dropped": 0,  # not known inside the hook
        "during": (False, False, True, True),
    }
    # Committed one by one (auto mode), in the order asked for.
    assert [type(e) for e in events.events] == [NodeAdded, EdgeAdded, EdgeRemoved]
    (removed,) = events.of(EdgeRemoved)
    assert removed.dropped == ex.wiring.retired_edges["src.out->rewirer.in0"].dropped
    assert [p for port, p in rewirer.payloads if port == "in1"] == [0, 1, 2, 3, 4]
    assert same_graph(ex.graph, ex.running_graph())
    assert stopped(rt).state is ExecutionState.COMPLETED


class BadRewirer(Collect):
    """On its first message, asks for a link from a node that does not exist."""

    ex: Execution | None = None
    refused: Exception | None = None

    def on_message(self, port: str, msg: Message) -> None:
        super().on_message(port, msg)
        if self.ex is not None and len(self.payloads) == 1:
            try:
                self.ex.connect(("nowhere", "out"), ("bad", "in"))
            except GraphError as exc:
                self.refused = exc


def test_a_bad_change_asked_for_inside_a_hook_raises_there() -> None:
    bad = BadRewirer("bad")
    rt = run_of(
        Ints("src", allowance=3), Quiet(name="q"), bad, links=[("src", "out", "bad", "in", 4)]
    )
    bad.ex = ex = rt.execution
    rt.start()
    assert eventually(ex, lambda: bad.payloads == [0, 1, 2])
    assert "unknown node 'nowhere'" in str(bad.refused)
    assert ex.state is ExecutionState.RUNNING  # the run goes on
    assert stopped(rt).state is ExecutionState.COMPLETED


class Refuses(Collect):
    """A node whose ``on_start`` raises."""

    def on_start(self) -> None:
        raise RuntimeError("no room for me")


class AddsARefuser(Collect):
    """On its first message, adds a node whose ``on_start`` raises (a commit that fails)."""

    ex: Execution | None = None

    def on_message(self, port: str, msg: Message) -> None:
        super().on_message(port, msg)
        if self.ex is not None and len(self.payloads) == 1:
            self.ex.add_node(Refuses("refuser"))


def test_a_commit_failing_after_a_hook_asked_for_it_is_logged_and_undone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    adder = AddsARefuser("adder")
    rt = run_of(
        Ints("src", allowance=3), Quiet(name="q"), adder, links=[("src", "out", "adder", "in", 4)]
    )
    adder.ex = ex = rt.execution
    with caplog.at_level(logging.ERROR, logger="arachne.runtime"):
        rt.start()
        assert eventually(ex, lambda: adder.payloads == [0, 1, 2])
        assert eventually(ex, lambda: "nobody waited for" in caplog.text)
    assert "no room for me" in caplog.text
    assert "refuser" not in ex.graph.nodes  # auto mode: the desired graph is taken back too
    assert same_graph(ex.graph, ex.running_graph())
    assert ex.state is ExecutionState.RUNNING  # the run goes on
    assert stopped(rt).state is ExecutionState.COMPLETED


def test_changes_after_the_end_apply_at_once() -> None:
    log: list[str] = []
    rt = run_of(Count(3, name="src"), Collect("sink"), links=[("src", "out", "sink", "in", 4)])
    rt.run()
    ex = rt.execution
    late = Collect("late", log)
    ex.add_node(late)
    edge = ex.connect(("src", "out"), ("late", "in"))
    assert edge in ex.wiring.edges
    assert ex.wiring.edges[edge].closed
    assert same_graph(ex.graph, ex.running_graph())
    assert ex.disconnect(edge) == 0
    ex.remove_node("late")
    assert "late" not in ex.graph.nodes
    assert "late" not in ex.wiring.nodes
    assert log == []  # never started, so never stopped
    # Every node has finished; the graphs change alone (for a restart, say).
    ex.connect(("src", "out"), ("sink", "in"), edge_id="again")
    assert "again" in ex.wiring.edges
    assert same_graph(ex.graph, ex.running_graph())


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            lambda ex: ex.connect(("zz", "out"), ("sink", "in")),
            GraphError,
            r"unknown node 'zz'; known nodes: q, ",
        ),
        (
            lambda ex: ex.connect(("q", "nope"), ("sink", "in")),
            GraphError,
            r"node 'q' has no output 'nope'",
        ),
        (
            lambda ex: ex.connect(("q", "out"), ("sink", "in"), edge_id="q.out->sink.in"),
            GraphError,
            r"edge 'q.out->sink.in' exists already; give the new edge another id",
        ),
        (
            lambda ex: ex.connect(("q", "out"), ("sink", "in"), capacity=0),
            ValueError,
            r"capacity must be an int >= 1, got 0",
        ),
        (
            lambda ex: ex.connect(("relay", "out"), ("relay", "in")),
            GraphError,
            r"would close a cycle through 'relay'; a graph must be acyclic",
        ),
        (
            lambda ex: ex.add_node(Quiet(name="q")),
            GraphError,
            r"node 'q' exists already; give the new node another id",
        ),
        (
            lambda ex: ex.remove_node("sink"),
            GraphError,
            r"node 'sink' is still linked \(q.out->sink.in\); remove those links first",
        ),
        (lambda ex: ex.remove_node("zz"), GraphError, r"unknown node 'zz'; known nodes: q,"),
        (lambda ex: ex.disconnect("zz"), GraphError, r"unknown link 'zz'; known links: q.out"),
        (
            lambda ex: ex.connect(("q", "out"), ("done", "in")),
            ExecutionError,
            r"node 'done' has finished; it takes no more input \(connect a new node\)",
        ),
    ],
)
def test_a_bad_change_raises_in_the_caller_names_the_fix_and_changes_nothing(
    change: Any, error: type[Exception], message: str
) -> None:
    rt = run_of(
        Quiet(name="q"),
        Collect("sink"),
        Relay("relay"),
        Count(1, name="once"),
        Collect("done"),
        links=[("q", "out", "sink", "in", 4), ("once", "out", "done", "in", 4)],
    )
    ex = rt.start()
    assert eventually(ex, lambda: ex.stats().nodes["done"].state == "finished")
    desired, running = ex.graph, ex.running_graph()
    with pytest.raises(error, match=message):
        change(ex)
    assert ex.graph == desired
    assert ex.running_graph() == running
    assert ex.state is ExecutionState.RUNNING
    assert stopped(rt).state is ExecutionState.COMPLETED


# -- nodes with an input but no edge ----------------------------------------------------------


def test_a_node_with_an_unlinked_input_waits_for_a_link_made_while_running() -> None:
    log: list[str] = []
    late = Collect("late", log)
    rt = run_of(Ints("src", allowance=5), Quiet(name="q"), late, links=[])
    ex = rt.start()
    assert eventually(ex, lambda: ex.state is ExecutionState.RUNNING)
    assert eventually(ex, lambda: rt.execution.wiring.nodes["src"].counts.unrouted == 5)
    assert "finish late" not in log  # it waits: no input has ended
    ex.connect(("q", "out"), ("late", "in"))
    ex.connect(("src", "out"), ("late", "in"))
    ex.inject("late", "in", -1)
    assert eventually(ex, lambda: late.payloads == [-1])
    assert stopped(rt).state is ExecutionState.COMPLETED
    assert log == ["start late", "finish late", "stop late"]


def test_a_node_with_an_unlinked_input_finishes_at_the_end_of_a_run() -> None:
    log: list[str] = []
    rt = run_of(
        Count(3, name="src"),
        Collect("sink", log),
        Collect("alone", log),
        links=[("src", "out", "sink", "in", 4)],
    )
    rt.run()
    assert rt.execution.state is ExecutionState.COMPLETED
    assert sorted(log) == [
        "finish alone",
        "finish sink",
        "start alone",
        "start sink",
        "stop alone",
        "stop sink",
    ]


# -- changes that can no longer apply when their turn comes ---------------------------------------


class OnFirst(Collect):
    """Calls ``then`` from its first message's hook (the changes it asks for queue)."""

    then: Any = None

    def on_message(self, port: str, msg: Message) -> None:
        super().on_message(port, msg)
        if len(self.payloads) == 1 and self.then is not None:
            self.then()


def test_a_retune_of_an_edge_disconnected_first_raises_even_inside_a_hook() -> None:
    sink = OnFirst("sink")
    rt = run_of(Count(5, name="src"), sink, links=[("src", "out", "sink", "in", 4)])
    ex = rt.execution
    refused: list[Exception] = []

    def then() -> None:
        ex.disconnect("src.out->sink.in")  # gone from the desired graph at once
        try:
            ex.set_capacity("src.out->sink.in", 8)
        except GraphError as exc:
            refused.append(exc)

    sink.then = then
    rt.run()
    assert ex.state is ExecutionState.COMPLETED
    assert "unknown edge 'src.out->sink.in'" in str(refused[0])
    assert "src.out->sink.in" not in ex.graph.links


def test_an_injection_into_a_node_removed_first_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    sink = OnFirst("sink")
    rt = run_of(
        Count(3, name="src"), sink, Collect("gone"), links=[("src", "out", "sink", "in", 4)]
    )
    ex = rt.execution

    def then() -> None:
        ex.remove_node("gone")  # applied after the turn
        ex.inject("gone", "in", 1)  # checked now, while the node is there

    sink.then = then
    with caplog.at_level(logging.WARNING, logger="arachne.runtime"):
        rt.run()
    assert ex.state is ExecutionState.COMPLETED
    assert "node 'gone' was removed before a message injected into it arrived" in caplog.text
    assert sink.payloads == [0, 1, 2]


class Optional(Node):
    """An input never linked here; flushes -1 when it finishes."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_finish(self) -> None:
        self.emit("out", -1)


class Reporter(Node):
    """Counts what arrives; emits the count on every tick (it is never idle)."""

    cadence = 0.01
    inp = Input(int, name="in")
    out = Output(int)

    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.seen.append(msg.payload)

    def on_tick(self) -> None:
        self.emit("out", len(self.seen))


def test_a_node_with_an_unlinked_input_finishes_once_the_sources_have_beside_a_ticker() -> None:
    # The ticker is never idle, so the run never goes quiet: the wait ends with the sources.
    reporter = Reporter()
    rt = run_of(
        Count(3, name="src"),
        Optional(name="optional"),
        reporter,
        Collect("sink"),
        links=[
            ("src", "out", "reporter", "in", 4),
            ("optional", "out", "reporter", "in", 4),
            ("reporter", "out", "sink", "in", 4),
        ],
    )
    rt.run()
    assert rt.execution.state is ExecutionState.COMPLETED
    assert sorted(reporter.seen) == [-1, 0, 1, 2]


def test_an_injection_into_a_waiting_node_leaves_it_waiting_for_a_link() -> None:
    late = Collect("late")
    rt = run_of(Quiet(name="q"), late, links=[])
    ex = rt.start()
    ex.inject("late", "in", 1)
    assert eventually(ex, lambda: late.payloads == [1])
    assert ex.stats().nodes["late"].state == "running"
    ex.connect(("q", "out"), ("late", "in"))
    ex.inject("late", "in", 2)
    assert eventually(ex, lambda: late.payloads == [1, 2])
    assert stopped(rt).state is ExecutionState.COMPLETED


class Manual(Collect):
    """docs/runtime.md's keep-alive node fed only by ``inject``."""

    keep_alive = True


def test_a_keep_alive_node_fed_only_by_inject_takes_every_injection() -> None:
    manual = Manual("manual")
    rt = run_of(manual, links=[])
    ex = rt.start()
    for value in range(3):
        ex.inject("manual", "in", value)
        assert eventually(ex, lambda n=value: manual.payloads == list(range(n + 1)))
    assert ex.stats().nodes["manual"].state == "running"
    assert stopped(rt).state is ExecutionState.COMPLETED
