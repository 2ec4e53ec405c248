"""Watching messages: every batch a node takes from an edge, in order, numbered, fusion aside."""

from __future__ import annotations

import logging

import pytest

from arachne import IterSource, Message, Runtime, Subgraph, node
from arachne.runtime import ExecutionState, Taken
from tests.runtime.nodes import Collect
from tests.runtime.test_wiring import eventually


def chain(n: int) -> tuple[Subgraph, Collect]:
    """src -> double -> inc -> sink: a chain fusion would run as one call."""
    graph = Subgraph()
    graph.add_node(IterSource(range(n), name="src", schema=int))
    double = node(lambda x: x * 2, name="double", inputs={"in": int}, outputs={"out": int})
    inc = node(lambda x: x + 1, name="inc", inputs={"in": int}, outputs={"out": int})
    graph.add_node(double(name="double"))
    graph.add_node(inc(name="inc"))
    sink = Collect("sink")
    graph.add_node(sink)
    graph.connect(("src", "out"), ("double", "in"), capacity=4, id="a")
    graph.connect(("double", "out"), ("inc", "in"), capacity=4, id="b")
    graph.connect(("inc", "out"), ("sink", "in"), capacity=4, id="c")
    return graph, sink


def payloads(items: list[object]) -> list[object]:
    return [item.payload if isinstance(item, Message) else item for item in items]


def test_a_watcher_sees_every_message_on_every_edge_in_order_with_its_number() -> None:
    graph, sink = chain(50)
    runtime = Runtime()
    runtime.register(graph)
    seen: list[Taken] = []
    watch = runtime.execution.watch(seen.append)
    runtime.run()
    assert watch.active
    assert runtime.execution.chains == []  # fusion stays off while watched
    by_edge: dict[str, list[object]] = {"a": [], "b": [], "c": []}
    for taken in seen:
        first = taken.sequence - len(taken.items) + 1
        assert first == len(by_edge[taken.edge_id]) + 1  # numbered from 1, no gap, no repeat
        by_edge[taken.edge_id].extend(payloads(taken.items))
    assert by_edge == {
        "a": list(range(50)),
        "b": [x * 2 for x in range(50)],
        "c": [x * 2 + 1 for x in range(50)],
    }
    ends = {t.edge_id: (t.source, t.source_port, t.target, t.target_port) for t in seen}
    assert ends == {
        "a": ("src", "out", "double", "in"),
        "b": ("double", "out", "inc", "in"),
        "c": ("inc", "out", "sink", "in"),
    }
    assert sink.payloads == by_edge["c"]


def test_an_unwatched_run_is_fused_and_a_closed_watch_sees_nothing_more() -> None:
    graph, _ = chain(10)
    runtime = Runtime()
    runtime.register(graph)
    seen: list[Taken] = []
    watch = runtime.execution.watch(seen.append)
    watch.close()
    watch.close()  # idempotent
    assert not watch.active
    runtime.run()
    assert seen == []
    assert runtime.execution.chains  # fused again: nobody watches


def test_watching_a_running_execution_unfuses_it_and_closing_fuses_it_again() -> None:
    graph = Subgraph()
    double = node(lambda x: x * 2, name="double", inputs={"in": int}, outputs={"out": int})
    inc = node(lambda x: x + 1, name="inc", inputs={"in": int}, outputs={"out": int})
    graph.add_node(double(name="double"))
    graph.add_node(inc(name="inc"))
    sink = Collect("sink")
    graph.add_node(sink)
    graph.connect(("double", "out"), ("inc", "in"), id="b")
    graph.connect(("inc", "out"), ("sink", "in"), id="c")
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.start()
    try:
        assert eventually(ex, lambda: ex.state is ExecutionState.RUNNING)
        assert eventually(ex, lambda: bool(ex.chains))  # double -> inc, fused
        seen: list[Taken] = []
        with ex.watch(seen.append):
            assert eventually(ex, lambda: not ex.chains)
            ex.inject("double", "in", 20)
            assert eventually(ex, lambda: sink.payloads == [41])
            assert [(t.edge_id, payloads(t.items), t.sequence, t.injected) for t in seen] == [
                ("inject->double.in", [20], 1, True),
                ("b", [40], 1, False),
                ("c", [41], 1, False),
            ]
        assert eventually(ex, lambda: bool(ex.chains))
        ex.inject("double", "in", 1)
        assert eventually(ex, lambda: sink.payloads == [41, 3])
        assert len(seen) == 3  # the watch was closed
    finally:
        ex.stop()


def test_a_raising_watcher_is_removed_and_logged_and_the_run_completes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    graph, sink = chain(20)
    runtime = Runtime()
    runtime.register(graph)
    calls: list[str] = []

    def broken(taken: Taken) -> None:
        calls.append(taken.edge_id)
        raise RuntimeError("the watcher broke")

    kept: list[Taken] = []
    watch = runtime.execution.watch(broken)
    runtime.execution.watch(kept.append)
    with caplog.at_level(logging.ERROR, logger="arachne.runtime"):
        runtime.run()
    assert len(calls) == 1
    assert not watch.active
    assert "message watcher" in caplog.text
    assert "the watcher broke" in caplog.text
    assert sink.payloads == [x * 2 + 1 for x in range(20)]
    assert sum(len(t.items) for t in kept) == 60  # the other watcher saw everything


def test_two_registrations_of_one_callback_close_apart() -> None:
    graph, _ = chain(5)
    runtime = Runtime()
    runtime.register(graph)
    seen: list[Taken] = []
    first = runtime.execution.watch(seen.append)
    second = runtime.execution.watch(seen.append)  # (bound methods that compare equal)
    first.close()
    assert not first.active
    assert second.active
    first.close()  # closing it again closes nothing else
    assert second.active
    runtime.run()
    assert sum(len(t.items) for t in seen) == 15  # the second one alone saw everything
