"""``Execution.dead_letters`` and ``remove_dead_letters``: what the sinks keep, read and removed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from arachne import DeadLetters, GraphError, Input, Message, Node, Output, Runtime, Subgraph
from arachne.runtime import Execution
from tests.runtime.nodes import Collect

BOUND = 10.0  # seconds: a bound on a hang, not a timing claim


class Picky(Node):
    """Fails on negative values until ``fixed``; dead-letters them."""

    inp = Input(int, name="in")
    out = Output(int)
    error_policy = "dead_letter"

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.fixed = False

    def on_message(self, port: str, msg: Message) -> None:
        if msg.payload < 0 and not self.fixed:
            raise ValueError(f"negative: {msg.payload}")
        self.emit("out", msg.payload)


def until(check: Callable[[], object]) -> None:
    deadline = time.monotonic() + BOUND
    while not check():
        assert time.monotonic() < deadline, "never became true"
        time.sleep(0.001)


@pytest.fixture
def running() -> Iterator[tuple[Execution, Picky, Collect]]:
    """``a`` dead-letters into ``dead_a``; ``b`` into ``dead_b``, which keeps two records."""
    a, b, sink = Picky("a"), Picky("b"), Collect()
    graph = Subgraph()
    for unit in (a, b, sink, DeadLetters(name="dead_a"), DeadLetters(name="dead_b", limit=2)):
        graph.add_node(unit)
    graph.connect(("a", "out"), ("collect", "in"))
    graph.connect(("a", "error"), ("dead_a", "in"))
    graph.connect(("b", "error"), ("dead_b", "in"))
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.start()
    try:
        yield ex, a, sink
    finally:
        runtime.stop(timeout=BOUND)
        runtime.shutdown()


def kept_payloads(ex: Execution, sink: str) -> list[tuple[int, int]]:
    kept = ex.dead_letters()[sink]
    return [(seq, record.payload) for seq, record in zip(kept.seqs, kept.records, strict=True)]


def test_every_sink_s_records_are_read_with_their_numbers_and_overflow(
    running: tuple[Execution, Picky, Collect],
) -> None:
    ex, _, sink = running
    for value in (-1, -2, 3):
        ex.inject("a", "in", value)
    for value in (-1, -2, -3):
        ex.inject("b", "in", value)
    until(lambda: ex.dead_letters()["dead_b"].seqs[-1:] == (3,))
    until(lambda: len(ex.dead_letters()["dead_a"]) == 2)
    sinks = ex.dead_letters()
    assert set(sinks) == {"dead_a", "dead_b"}
    assert kept_payloads(ex, "dead_a") == [(1, -1), (2, -2)]
    assert kept_payloads(ex, "dead_b") == [(2, -2), (3, -3)]  # the first went past the limit
    assert (sinks["dead_a"].overflowed, sinks["dead_b"].overflowed) == (0, 1)
    assert [(r.node_id, r.port, r.error_type) for r in sinks["dead_a"].records] == [
        ("a", "in", "ValueError"),
        ("a", "in", "ValueError"),
    ]
    until(lambda: sink.payloads == [3])

    held = ex.dead_letters()["dead_a"]
    ex.inject("a", "in", -4)
    until(lambda: len(ex.dead_letters()["dead_a"]) == 3)
    assert held.seqs == (1, 2)  # a snapshot: later arrivals do not change it


def test_a_replay_removes_exactly_the_records_replayed(
    running: tuple[Execution, Picky, Collect],
) -> None:
    ex, a, sink = running
    for value in (-1, -2):
        ex.inject("a", "in", value)
    until(lambda: len(ex.dead_letters()["dead_a"]) == 2)
    chosen = ex.dead_letters()["dead_a"]
    ex.inject("a", "in", -3)  # arrives between the read and the removal
    until(lambda: len(ex.dead_letters()["dead_a"]) == 3)
    a.fixed = True
    assert ex.replay(chosen.records) == 2
    assert ex.remove_dead_letters("dead_a", chosen.seqs) == 2
    assert kept_payloads(ex, "dead_a") == [(3, -3)]
    until(lambda: sorted(sink.payloads) == [-2, -1])
    assert ex.remove_dead_letters("dead_a", [1, 2, 99]) == 0  # gone already, or never kept


def test_removing_from_a_node_that_is_not_a_sink_names_the_sinks(
    running: tuple[Execution, Picky, Collect],
) -> None:
    ex, _, _ = running
    for node_id in ("a", "ghost"):
        with pytest.raises(GraphError, match=f"node '{node_id}' is not a DeadLetters node"):
            ex.remove_dead_letters(node_id, [1])
    with pytest.raises(GraphError, match="those are: dead_a, dead_b"):
        ex.remove_dead_letters("ghost", [1])


def test_an_ended_execution_s_sinks_are_still_read_and_removed_from() -> None:
    graph = Subgraph()
    graph.add_node(Picky("a"))
    graph.add_node(DeadLetters(name="dead"))
    graph.connect(("a", "error"), ("dead", "in"))
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.start()
    ex.inject("a", "in", -1)
    ex.inject("a", "in", -2)
    until(lambda: len(ex.dead_letters()["dead"]) == 2)
    runtime.stop(timeout=BOUND)
    assert ex.done
    assert ex.dead_letters()["dead"].seqs == (1, 2)
    assert ex.remove_dead_letters("dead", {2}) == 1
    assert kept_payloads(ex, "dead") == [(1, -1)]
    runtime.shutdown()


def test_a_graph_without_sinks_has_none() -> None:
    graph = Subgraph()
    graph.add_node(Collect())
    runtime = Runtime()
    runtime.register(graph)
    assert runtime.execution.dead_letters() == {}
