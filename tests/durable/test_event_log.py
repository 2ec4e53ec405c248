"""The event log: retention, gaps, cuts, what a run records, and replay from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arachne import Input, IterSource, Node, Output, Runtime, Subgraph, node
from arachne.components.builtins.accumulator import Accumulator
from arachne.durable import SqliteStore
from arachne.durable.event_log import EventLog, ReplayGap
from arachne.durable.replay import replay_into
from arachne.runtime.edge import Edge
from tests.runtime.nodes import Collect


@node
def double(x: int) -> int:
    return x * 2


class Relay(Node):
    """Passes each value on; behind a full edge of 1 it stops, giving its chunk's rest back."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Any) -> None:
        self.emit("out", msg.payload)


def test_retention_keeps_the_newest_entries_and_a_pruned_edge_reports_its_gap(
    tmp_path: Path,
) -> None:
    with SqliteStore(tmp_path / "log.db") as store:
        log = EventLog(store, "run", keep=5)
        log.append([("message", "e", n, str(n)) for n in range(1, 5)])
        log.append([("event", "NodeStarted", None, '{"node_id": "a"}')])
        log.append([("message", "e", n, str(n)) for n in range(5, 7)])
        with pytest.raises(ReplayGap, match=r"replay gap: edge 'e' lacks messages 1 to 2"):
            log.messages("e")
        assert [event.kind for event in log.events()] == ["NodeStarted"]
        log.cut(["e"], {"e": 4})
        with pytest.raises(ReplayGap):
            log.messages("e")  # (still missing 1 and 2; 5 and 6 are gone now)
        whole = EventLog(store, "other")
        whole.append([("message", "e", n, str(n * 10)) for n in range(1, 4)])
        whole.cut(["e"], {"e": 2})
        assert whole.messages("e") == [10, 20]
        assert whole.recorded_edges() == ["e"]
    with pytest.raises(ValueError, match="keep must be an int >= 1"):
        EventLog(store, "run", keep=0)


def test_a_recorded_edge_logs_each_message_once_even_when_the_consumer_gives_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = Subgraph()
    g.add_node(IterSource(range(500), name="src"))
    g.add_node(Relay())
    g.add_node(Collect("out"))
    g.connect(("src", "out"), ("relay", "in"), capacity=64)
    g.connect(("relay", "out"), ("out", "in"), capacity=1)
    gave_back = 0
    original = Edge.give_back

    def counting(edge: Edge, items: list[Any]) -> None:
        nonlocal gave_back
        gave_back += len(items)
        original(edge, items)

    monkeypatch.setattr(Edge, "give_back", counting)
    with SqliteStore(tmp_path / "run.db") as store:
        runtime = Runtime(store=store, record=["src.out->relay.in"], run_name="flaky")
        runtime.register(g)
        runtime.run()
        assert gave_back > 100  # the consumer gave back, often
        log = EventLog(store, "flaky")
        assert log.messages("src.out->relay.in") == list(range(500))
        kinds = {event.kind for event in log.events(limit=10_000)}
        assert {"ExecutionStateChanged", "NodeStarted", "NodeFinished"} <= kinds
        states = [e.fields["new"] for e in log.events(["ExecutionStateChanged"])]
        assert states[-1] == "completed"


def test_replay_feeds_the_recorded_messages_to_the_rest_of_the_graph(tmp_path: Path) -> None:
    def graph() -> Subgraph:
        g = Subgraph()
        g.add_node(IterSource(range(1, 101), name="src"))
        g.add_node(double())
        g.add_node(Accumulator(count=9, name="batch"))
        g.add_node(Collect("out"))
        g.connect(("src", "out"), ("double", "in"))
        g.connect(("double", "out"), ("batch", "in"))
        g.connect(("batch", "out"), ("out", "in"))
        return g

    with SqliteStore(tmp_path / "run.db") as store:
        recorded = Runtime(store=store, record=["double.out->batch.in"], run_name="r")
        recorded.register(graph())
        recorded.run()
        first = recorded.execution.instances["out"].payloads
        again = Runtime()
        again.register(graph())
        counts = replay_into(again.execution, EventLog(store, "r"))
        assert counts == {"double.out->batch.in": 100}
        assert set(again.execution.graph.nodes) == {"replay-1", "batch", "out"}  # src, double gone
        again.run()
        assert again.execution.instances["out"].payloads == first
        # Replayed data says so, all the way down: every batch, the last one (sent at the
        # end of the stream) too, comes from replayed messages.
        got = again.execution.instances["out"].messages
        assert [msg.headers.get("taints") for msg in got] == [("replayed",)] * 12
        assert again.execution.taint_counts() == {
            ("batch", "in", "replayed"): 100,
            ("out", "in", "replayed"): 12,
        }
        with pytest.raises(ValueError, match="recorded no edge"):
            replay_into(Runtime().execution, EventLog(store, "nothing-here"))


def test_recording_is_refused_without_a_store_or_for_an_unknown_edge(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="record= needs a store"):
        Runtime(record=["a.out->b.in"])
    g = Subgraph()
    g.add_node(IterSource(range(3), name="src"))
    g.add_node(Collect("out"))
    g.connect(("src", "out"), ("out", "in"))
    with SqliteStore(tmp_path / "run.db") as store:
        runtime = Runtime(store=store, record=["nope"])
        runtime.register(g)
        with pytest.raises(ValueError, match="cannot record edge 'nope'.*src.out->out.in"):
            runtime.run()


def test_a_run_resumes_only_recording_the_edges_it_recorded(tmp_path: Path) -> None:
    class Fails(Node):
        """Fails the run at its fifth value (the run does not complete: it may resume)."""

        inp = Input(int, name="in")

        def on_message(self, port: str, msg: Any) -> None:
            if msg.payload == 5:
                raise RuntimeError("the fifth")

    g = Subgraph()
    g.add_node(IterSource(range(10), name="src"))
    g.add_node(Fails(name="out"))
    g.connect(("src", "out"), ("out", "in"))
    with SqliteStore(tmp_path / "run.db") as store:
        first = Runtime(store=store, record=["src.out->out.in"], run_name="r")
        first.register(g)
        with pytest.raises(Exception, match="the fifth"):
            first.run()
        again = Runtime(store=store, run_name="r")  # recording nothing now
        again.register(g)
        with pytest.raises(Exception, match=r"recorded src.out->out.in.*--record src.out->out.in"):
            again.run()
