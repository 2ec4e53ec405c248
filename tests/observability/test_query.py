"""The query plane: stamps that follow the running graph, flow on a blocked graph, node load."""

from __future__ import annotations

import gc
import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from arachne import Input, IterSource, Message, Node, Output, Retry, Runtime, Subgraph
from arachne.model.manifest import manifest_of
from arachne.observability import QueryPlane
from arachne.observability import query as query_module
from arachne.runtime import Execution, FakeClock
from arachne.runtime.events import BackpressureBegan, BackpressureEnded, GraphCommitted
from tests.runtime.nodes import Forever

WAIT = 10.0  # real seconds: a bound on a hang, not a timing claim


class Pass(Node):
    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload)


class Sink(Node):
    inp = Input(int, name="in")

    def __init__(self, name: str = "sink") -> None:
        super().__init__(name=name)
        self.count = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.count += 1


class Settling:
    """Tells when a blocked graph has settled: its sinks are stuck and ``edge`` is held full."""

    def __init__(self, edge: str, sinks: int) -> None:
        self.edge, self.sinks = edge, sinks
        self.stuck: set[str] = set()
        self.full = False
        self.changed = threading.Condition()

    def entered(self, name: str) -> None:
        with self.changed:
            self.stuck.add(name)
            self.changed.notify_all()

    def on_event(self, event: BackpressureBegan | BackpressureEnded) -> None:
        if event.edge_id == self.edge:
            with self.changed:
                self.full = isinstance(event, BackpressureBegan)
                self.changed.notify_all()

    def wait(self) -> bool:
        with self.changed:
            return self.changed.wait_for(
                lambda: len(self.stuck) == self.sinks and self.full, timeout=WAIT
            )


class Stuck(Sink):
    """Takes one message, then waits in a worker thread until released."""

    mode = "thread"

    def __init__(self, release: threading.Event, name: str, settling: Settling) -> None:
        super().__init__(name=name)
        self.release, self.settling = release, settling

    def on_message(self, port: str, msg: Message) -> None:
        self.settling.entered(self.name())
        self.release.wait(WAIT)


class Spin(Pass):
    """Spins ``seconds`` of real time per message, and adds up what it measured itself."""

    def __init__(self, seconds: float, *, name: str = "slow", every: int = 0) -> None:
        super().__init__(name=name)
        self.seconds, self.spent, self.handled = seconds, 0.0, 0
        self.every = every
        self.reached = threading.Event()

    def on_message(self, port: str, msg: Message) -> None:
        began = time.perf_counter()
        while time.perf_counter() - began < self.seconds:
            pass
        self.spent += time.perf_counter() - began
        self.handled += 1
        if self.handled == self.every:
            self.reached.set()
        self.emit("out", msg.payload)


class Tick(Pass):
    """Moves a fake clock on by ``seconds`` per message: busy time that is exact."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__(name="slow")
        self.clock, self.seconds = clock, seconds

    def on_message(self, port: str, msg: Message) -> None:
        self.clock.advance(self.seconds)
        self.emit("out", msg.payload)


def chain(*nodes: Node, capacity: int = 8) -> Subgraph:
    graph = Subgraph()
    for n in nodes:
        graph.add_node(n)
    for upstream, downstream in itertools.pairwise(nodes):
        graph.connect((upstream.name(), "out"), (downstream.name(), "in"), capacity=capacity)
    return graph


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def counted_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the manifests the query plane builds."""
    builds: list[int] = []
    real = query_module.manifest_of

    def counting(*args: Any, **kwargs: Any) -> Any:
        builds.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(query_module, "manifest_of", counting)
    return builds


# -- the stamp --------------------------------------------------------------------------------


def test_the_topology_is_the_running_graph_s_manifest() -> None:
    runtime = Runtime(clock=FakeClock())
    runtime.register(chain(IterSource(range(3), schema=int, name="numbers"), Pass(name="p")))
    execution = runtime.execution
    with QueryPlane(execution) as plane:
        topology = plane.topology()
    expected = manifest_of(execution.graph, instances=execution.instances)
    assert topology.manifest == expected
    assert topology.stamp.digest == expected.digest
    assert topology.stamp.execution_id == execution.id
    assert topology.stamp.state == "pending"
    assert [edge.id for edge in topology.manifest.edges] == ["numbers.out->p.in"]
    data = topology.to_dict()
    assert data["digest"] == expected.digest
    assert data["manifest"] == expected.to_dict()


def test_the_digest_changes_after_a_live_change_and_not_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builds = counted_builds(monkeypatch)
    runtime = Runtime(clock=FakeClock())
    runtime.register(chain(Pass(name="a"), Pass(name="b")))
    execution = runtime.start()  # its input stays open: it runs until stopped
    try:
        plane = QueryPlane(execution)
        first = {
            plane.topology().stamp.digest,
            plane.flow().stamp.digest,
            plane.load().stamp.digest,
            plane.backpressure().stamp.digest,
            plane.flow().stamp.digest,
        }
        assert len(first) == 1
        assert len(builds) == 1  # built once for the graph's version, not per snapshot

        execution.add_node(Sink(name="tap"))  # committed before it returns (auto mode)
        after_add = plane.flow().stamp.digest
        assert after_add not in first
        assert len(builds) == 2
        execution.connect(("b", "out"), ("tap", "in"), capacity=4)
        after_connect = plane.load().stamp.digest
        assert after_connect != after_add
        assert {plane.flow().stamp.digest, plane.topology().stamp.digest} == {after_connect}
        assert len(builds) == 3
        assert "b.out->tap.in" in plane.flow().edges

        # The same digest as the running graph's manifest built afresh.
        running = execution.running_graph()
        instances = {node_id: execution.instances[node_id] for node_id in running.nodes}
        assert after_connect == manifest_of(running, instances=instances).digest
    finally:
        execution.stop(timeout=WAIT)
    assert plane.flow().stamp.digest == after_connect  # the end of the run changes no graph
    assert len(builds) == 3


def test_a_change_before_the_run_changes_the_digest() -> None:
    runtime = Runtime(clock=FakeClock())
    runtime.register(chain(IterSource(range(3), schema=int, name="numbers"), Sink()))
    execution = runtime.execution
    plane = QueryPlane(execution)
    before = plane.flow().stamp.digest
    execution.set_capacity("numbers.out->sink.in", 2)
    after = plane.flow()
    assert after.stamp.digest != before
    assert after.edges["numbers.out->sink.in"].capacity == 2
    assert plane.topology().manifest.edges[0].capacity == 2


def test_the_plane_stops_listening_when_closed_or_collected() -> None:
    runtime = Runtime(clock=FakeClock())
    runtime.register(chain(IterSource(range(3), schema=int, name="numbers"), Sink()))
    execution = runtime.execution
    plane = QueryPlane(execution)
    assert GraphCommitted in execution.events.wanted
    before = plane.flow().stamp.digest
    plane.close()
    assert GraphCommitted not in execution.events.wanted
    assert plane.flow().stamp.digest == before  # snapshots still work, and still follow
    execution.set_capacity("numbers.out->sink.in", 2)
    assert plane.flow().stamp.digest != before

    forgotten = QueryPlane(execution)
    assert GraphCommitted in execution.events.wanted
    del forgotten
    gc.collect()
    assert GraphCommitted not in execution.events.wanted


# -- flow -------------------------------------------------------------------------------------


def blocked_graph(release: threading.Event) -> tuple[FakeClock, Execution]:
    """source -> stuck sink over a ``block`` edge of 4, and -> another over a ``drop`` edge of 2.

    Returns once both sinks are stuck in their first message and the ``block`` edge has filled
    again behind it: from then on nothing moves until ``release`` is set.
    """
    settling = Settling("source.out->sink.in", sinks=2)
    graph = Subgraph()
    graph.add_node(Forever(name="source"))
    graph.add_node(Stuck(release, "sink", settling))
    graph.add_node(Stuck(release, "lossy", settling))
    graph.connect(("source", "out"), ("sink", "in"), capacity=4)
    graph.connect(("source", "out"), ("lossy", "in"), capacity=2, overflow="drop")
    clock = FakeClock()
    runtime = Runtime(clock=clock)
    runtime.register(graph)
    runtime.subscribe(settling.on_event, BackpressureBegan, BackpressureEnded)
    execution = runtime.start()
    assert settling.wait(), "the graph never settled"
    return clock, execution


def test_flow_of_a_graph_whose_sink_is_blocked(release: threading.Event) -> None:
    clock, execution = blocked_graph(release)
    try:
        plane = QueryPlane(execution)
        first = plane.flow()
        second = plane.flow()
        stats = execution.stats()  # nothing moves: the source is held back, the sinks stuck
    finally:
        release.set()
        execution.stop(drain=False, timeout=WAIT)

    held, lossy = "source.out->sink.in", "source.out->lossy.in"
    assert list(second.edges) == [held, lossy]
    edge = second.edges[held]
    assert (edge.depth, edge.capacity, edge.backpressured) == (4, 4, True)
    assert (edge.source, edge.target, edge.kind) == ("source", "sink", "link")
    assert edge.dropped == 0
    # Held back for the whole of the second interval (from the first snapshot on): 1000 ms/s.
    assert second.interval > 0
    assert edge.blocked_ms_per_s == pytest.approx(1000.0)
    # The first is since the run's start, which it was held back for part of.
    assert 0 < first.edges[held].blocked_ms_per_s <= 1000.0
    assert first.interval > second.interval

    dropping = second.edges[lossy]
    assert dropping.depth == stats.edges[lossy].depth == 2
    assert dropping.dropped == stats.edges[lossy].dropped >= 1
    assert dropping.blocked_ms_per_s == 0.0
    assert dropping.backpressured is False  # full, but it drops instead of holding back

    assert second.stamp.monotonic <= clock.now()
    assert second.stamp.state == "running"
    data = json.loads(json.dumps(second.to_dict()))
    assert data["edges"][0] == {
        "id": held,
        "source": "source",
        "target": "sink",
        "kind": "link",
        "depth": 4,
        "capacity": 4,
        "blockedMsPerSecond": pytest.approx(1000.0),
        "dropped": 0,
        "backpressured": True,
    }
    assert data["intervalSeconds"] == second.interval


def test_backpressure_names_the_stalled_sink(release: threading.Event) -> None:
    _, execution = blocked_graph(release)
    try:
        snapshot = QueryPlane(execution).backpressure()
        expected = execution.stats().backpressure
    finally:
        release.set()
        execution.stop(drain=False, timeout=WAIT)
    assert list(snapshot.causes) == expected
    assert snapshot.cause_of("source.out->sink.in") == "sink"
    assert snapshot.cause_of("source.out->lossy.in") is None
    assert snapshot.to_dict()["causes"] == [
        {"edge": "source.out->sink.in", "cause": "sink", "path": ["sink"]}
    ]


def test_a_snapshot_before_the_run_has_no_interval() -> None:
    runtime = Runtime(clock=FakeClock())
    runtime.register(chain(IterSource(range(3), schema=int, name="numbers"), Sink()))
    plane = QueryPlane(runtime.execution)
    flow, load = plane.flow(), plane.load()
    assert (flow.interval, load.interval) == (0, 0)
    assert flow.edges["numbers.out->sink.in"].blocked_ms_per_s == 0.0
    assert {n.state for n in load.nodes.values()} == {"pending"}
    assert all(n.busy_ms_per_s == 0.0 for n in load.nodes.values())


# -- load -------------------------------------------------------------------------------------


def test_load_on_a_fake_clock_is_exact() -> None:
    clock = FakeClock()
    slow = Tick(clock, 0.005)
    runtime = Runtime(clock=clock)
    runtime.register(chain(IterSource(range(200), schema=int, name="numbers"), slow, Sink()))
    plane = QueryPlane(runtime.execution)
    runtime.run()
    load = plane.load()
    assert load.interval == pytest.approx(1.0)  # 200 x 5 ms of fake time, all of it the node's
    assert load.nodes["slow"].busy_ms_per_s == pytest.approx(1000.0)
    assert load.nodes["slow"].idle_ms_per_s == pytest.approx(0.0, abs=1e-6)
    assert load.nodes["numbers"].busy_ms_per_s == pytest.approx(0.0, abs=1e-6)
    assert load.stamp.monotonic == pytest.approx(1.0)
    again = plane.load()  # nothing happened since
    assert again.interval == 0.0
    assert again.nodes["slow"].busy_ms_per_s == 0.0
    data = load.to_dict()
    assert data["nodes"][1] == {
        "id": "slow",
        "state": "stopped",
        "busyMsPerSecond": pytest.approx(1000.0),
        "backpressuredMsPerSecond": 0.0,
        "idleMsPerSecond": pytest.approx(0.0, abs=1e-3),
    }


def test_the_load_of_a_slow_middle_node_matches_its_measured_busy_time() -> None:
    # 2 ms of spinning a message, 300 messages: 0.6 s of work, measured by the node itself.
    slow = Spin(0.002, every=100)
    runtime = Runtime()
    runtime.register(chain(IterSource(range(300), schema=int, name="numbers"), slow, Sink()))
    execution = runtime.execution
    plane = QueryPlane(execution)
    runtime.launch(execution)
    assert slow.reached.wait(WAIT)
    spent_before = slow.spent
    mid = plane.load()  # read between two of the node's turns, somewhere in here
    spent_after = slow.spent
    assert execution.wait(WAIT)
    execution.raise_if_failed()
    last = plane.load()

    busy_mid = mid.nodes["slow"].busy_ms_per_s / 1000 * mid.interval
    assert spent_before * 0.9 <= busy_mid <= spent_after * 1.1
    busy_last = last.nodes["slow"].busy_ms_per_s / 1000 * last.interval
    assert busy_mid + busy_last == pytest.approx(slow.spent, rel=0.10)
    assert mid.nodes["slow"].busy_ms_per_s > mid.nodes["numbers"].busy_ms_per_s
    for node in mid.nodes.values():  # each lived through the whole interval
        total = node.busy_ms_per_s + node.backpressured_ms_per_s + node.idle_ms_per_s
        assert total == pytest.approx(1000.0, rel=0.01)


class FailsOnce(Node):
    """Retries each value once: what it emits carries ``retried``."""

    inp = Input(int, name="in")
    out = Output(int)
    error_policy = Retry(max_attempts=2, backoff=0.01)

    def __init__(self, name: str = "flaky") -> None:
        super().__init__(name=name)
        self.seen: set[int] = set()

    def on_message(self, port: str, msg: Message) -> None:
        if msg.payload not in self.seen:
            self.seen.add(msg.payload)
            raise ValueError("first try fails")
        self.emit("out", msg.payload)


def traced_run(**options: Any) -> Execution:
    g = Subgraph()
    g.add_node(IterSource([1, 2, 3], name="src"))
    g.add_node(FailsOnce())
    g.add_node(Pass(name="pass"))
    g.add_node(Sink())
    g.connect(("src", "out"), ("flaky", "in"))
    g.connect(("flaky", "out"), ("pass", "in"))
    g.connect(("pass", "out"), ("sink", "in"))
    runtime = Runtime(clock=FakeClock(), **options)
    runtime.register(g)
    runtime.run()
    return runtime.execution


def test_lineage_names_the_inputs_and_nodes_of_a_sink_s_latest_outputs() -> None:
    ex = traced_run(lineage=1.0)
    plane = QueryPlane(ex)
    snapshot = plane.lineage("sink", last=2)
    assert snapshot.stamp.digest == plane.topology().stamp.digest
    assert snapshot.rate == 1.0
    assert [o.origins[0].position for o in snapshot.outputs] == [2, 3]
    data = json.loads(json.dumps(snapshot.to_dict()))
    assert data["node"] == "sink"
    assert data["outputs"][0]["nodes"] == ["src", "flaky", "pass", "sink"]
    assert data["outputs"][0]["origins"][0]["kind"] == "source"
    with pytest.raises(ValueError, match=r"no node 'nope' .*flaky, pass, sink, src"):
        plane.lineage("nope")
    with pytest.raises(ValueError, match="last"):
        plane.lineage("sink", last=0)


def test_lineage_off_says_how_to_turn_it_on() -> None:
    plane = QueryPlane(traced_run())
    with pytest.raises(query_module.LineageOff, match=r"Runtime\(lineage=1.0\)"):
        plane.lineage("sink")


def test_taints_are_counted_per_route() -> None:
    snapshot = QueryPlane(traced_run()).taints()
    assert snapshot.count("pass", "in", "retried") == 3
    assert snapshot.count("sink", "in", "retried") == 3
    assert snapshot.count("flaky", "in", "retried") == 0
    assert snapshot.to_dict()["routes"] == [
        {"node": "pass", "port": "in", "label": "retried", "count": 3},
        {"node": "sink", "port": "in", "label": "retried", "count": 3},
    ]
