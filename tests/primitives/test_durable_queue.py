"""DurableQueue in real executions: through the store, its refusals, resumes, health and rows."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import arachne.durable
from arachne import GraphError, IterSource, Runtime, Subgraph
from arachne.durable import DurableQueue as StoredQueue
from arachne.durable import SqliteStore
from arachne.observability.query import QueryPlane
from arachne.primitives import (
    MAX_QUEUE_CAPACITY,
    QUEUE_ATTEMPT,
    QUEUE_ID,
    Contract,
    DurableQueue,
    Maturity,
    PrimitiveError,
    QueueEgress,
    QueueIngress,
    contracts,
)
from arachne.runtime import FakeClock
from tests.runtime.nodes import Collect


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "queue.db", synchronous="normal") as opened:
        yield opened


def queued(
    store: SqliteStore, values: list[object] | None, **options: object
) -> tuple[Subgraph, Collect]:
    """``values`` through a queue ``jobs`` into a sink (``None``: nothing feeds the queue)."""
    g = Subgraph()
    jobs = DurableQueue.install(g, "jobs", store=store, **{"capacity": 100, **options})
    if values is not None:
        g.add_node(IterSource(values, name="src"))
        g.connect(("src", "out"), jobs["in"], capacity=4)
    sink = Collect("sink")
    g.add_node(sink)
    g.connect(jobs["out"], ("sink", "in"), capacity=4)
    return g, sink


def ran(graph: Subgraph, **options: object) -> Runtime:
    runtime = Runtime(clock=FakeClock(), **options)  # type: ignore[arg-type]
    runtime.register(graph)
    runtime.run()
    return runtime


def stats_of(store: SqliteStore, queue: str = "jobs") -> tuple[int, int, int]:
    stats = StoredQueue(store, queue, capacity=1, clock=lambda: 0.0).stats()
    return (stats.ready, stats.leased, stats.dead)


def test_items_pass_through_the_store_in_order_each_with_its_id_and_are_acked(
    store: SqliteStore,
) -> None:
    graph, sink = queued(store, list(range(20)), batch=3)
    runtime = ran(graph)
    assert sink.payloads == list(range(20))
    ids = [msg.headers[QUEUE_ID] for msg in sink.messages]
    assert ids == sorted(ids)
    assert len(set(ids)) == 20
    assert {msg.headers[QUEUE_ATTEMPT] for msg in sink.messages} == {1}
    assert all("taints" not in msg.headers for msg in sink.messages)
    assert stats_of(store) == (0, 0, 0)  # (acked as they left: no checkpoints)
    assert runtime.execution.state.value == "completed"


def test_the_contract_is_the_primitive_and_the_store_class_stays_in_durable() -> None:
    assert isinstance(DurableQueue, Contract)
    assert DurableQueue.name == "DurableQueue"
    assert arachne.durable.DurableQueue is StoredQueue
    assert StoredQueue is not DurableQueue
    assert DurableQueue.maturity is Maturity.FAULT_TESTED
    assert DurableQueue.layer == "durable"
    assert "DurableQueue" in [contract.name for contract in contracts()]


@pytest.mark.parametrize("capacity", [None, 0, -1, MAX_QUEUE_CAPACITY + 1, 10**18, True, 2.5, "10"])
def test_an_unbounded_queue_is_refused_naming_it_the_option_and_the_fix(
    store: SqliteStore, capacity: object
) -> None:
    g = Subgraph()
    with pytest.raises(PrimitiveError) as refused:
        DurableQueue.install(g, "jobs", store=store, capacity=capacity)
    message = str(refused.value)
    assert message.startswith(f"DurableQueue 'jobs': capacity {capacity!r}: ")
    assert "the queue must be bounded" in message
    assert "give the most items it may hold, a whole number from 1 to 10,000,000" in message
    assert g.instances() == {}  # (nothing added)


def test_the_largest_capacity_is_taken_and_a_missing_one_is_asked_for(store: SqliteStore) -> None:
    DurableQueue.install(Subgraph(), "jobs", store=store, capacity=MAX_QUEUE_CAPACITY)
    with pytest.raises(PrimitiveError, match="DurableQueue needs capacity: capacity: the most"):
        DurableQueue.install(Subgraph(), "jobs", store=store)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"store": "queue.db"}, "store 'queue.db': give a store that holds the queue"),
        ({"queue": ""}, "queue '': give the queue's name in the store"),
        ({"visibility": 0}, "visibility 0: give the seconds a lease lasts"),
        ({"visibility": 50_000}, "visibility 50000: .* at most 43200"),
        ({"visibility": True}, "visibility True: give the seconds"),
        ({"max_attempts": 0}, "max_attempts 0: give the most deliveries of an item"),
        ({"batch": 1.5}, "batch 1.5: give the most items leased at a time"),
        ({"poll": float("inf")}, "poll inf: give the seconds between looks"),
        ({"size": 3}, "DurableQueue has no option 'size'"),
    ],
)
def test_bad_options_are_refused_naming_the_fix(
    store: SqliteStore, options: dict[str, object], message: str
) -> None:
    with pytest.raises(PrimitiveError, match=message):
        DurableQueue.install(Subgraph(), "jobs", **{"store": store, "capacity": 10, **options})


def test_a_queue_whose_out_leads_nowhere_is_refused_before_the_run(store: SqliteStore) -> None:
    g = Subgraph()
    g.add_node(IterSource([1], name="src"))
    jobs = DurableQueue.install(g, "jobs", store=store, capacity=10)
    g.connect(("src", "out"), jobs["in"])
    with pytest.raises(GraphError) as refused:
        Runtime().open_execution(g)
    message = str(refused.value)
    assert "DurableQueue 'jobs': its items leave by its 'out' port, which leads nowhere" in message
    assert "connect its 'out' port to the node that takes them (or expose it)" in message
    outer = Subgraph("outer")
    DurableQueue.install(outer, "jobs", store=store, capacity=10)
    outer.expose_output("out", ("jobs", "out"))
    assert [i for i in outer.validate() if i.level == "error"] == []


def test_a_queue_nothing_in_the_graph_feeds_drains_the_store_and_ends(store: SqliteStore) -> None:
    other = StoredQueue(store, "jobs", capacity=10)  # (another process's producer, say)
    ids = [other.enqueue({"n": n}) for n in range(5)]
    graph, sink = queued(store, None)
    ran(graph)
    assert sink.payloads == [{"n": n} for n in range(5)]
    assert [msg.headers[QUEUE_ID] for msg in sink.messages] == ids
    assert stats_of(store) == (0, 0, 0)


def test_the_queue_name_in_the_store_may_differ_from_the_part_s(store: SqliteStore) -> None:
    graph, sink = queued(store, ["a", "b"], queue="shared")
    ran(graph)
    assert sink.payloads == ["a", "b"]
    ingress = graph.instances()["jobs/ingress"]
    assert isinstance(ingress, QueueIngress)
    assert ingress.where.queue == "shared"
    assert graph.to_graph().nodes["jobs/egress"].config["queue"] == "shared"


def test_a_value_that_is_not_json_data_fails_the_run_naming_why(store: SqliteStore) -> None:
    graph, _ = queued(store, [object()])
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    with pytest.raises(Exception, match="a queued message must be JSON data"):
        runtime.run()


def test_a_checkpointed_run_acks_at_the_commit_and_a_resume_removes_what_it_covered(
    store: SqliteStore, tmp_path: Path
) -> None:
    ids = [StoredQueue(store, "jobs", capacity=10).enqueue(n) for n in range(4)]
    graph, sink = queued(store, None)
    egress = graph.instances()["jobs/egress"]
    assert isinstance(egress, QueueEgress)
    egress.restore({"handled": ids[:2]})  # (handled before a crash, by the checkpoint)
    with SqliteStore(tmp_path / "run.db") as run_store:
        ran(graph, store=run_store, checkpoint_every=0.01)
    assert sink.payloads == [2, 3]
    assert egress.acked == 4  # (two removed at the start, two acked at a commit)
    assert stats_of(store) == (0, 0, 0)
    with pytest.raises(ValueError, match="a saved queue egress state is"):
        egress.restore({"handled": "all"})


def test_the_query_plane_reports_the_queue_its_depth_and_its_dead_letters(
    store: SqliteStore,
) -> None:
    given_up = StoredQueue(store, "jobs", capacity=10, max_attempts=1, clock=lambda: 0.0)
    given_up.enqueue("poison")
    (lease,) = given_up.lease()
    given_up.nack(lease.token, error="it failed")  # (its one attempt: a dead letter)
    graph, _ = queued(store, ["a", "b", "c"])
    runtime = ran(graph)
    with QueryPlane(runtime.execution) as plane:
        snapshot = plane.primitives()
        topology = plane.topology()
    jobs = snapshot.of("jobs")
    assert (jobs.contract, jobs.version, jobs.maturity) == ("DurableQueue", 1, "fault-tested")
    assert jobs.health == {
        "state": "dead-letters",
        "enqueued": 3,
        "held_back": 0,
        "delivered": 3,
        "redelivered": 0,
        "acked": 3,
        "late_acks": 0,
        "depth": 0,
        "leased": 0,
        "dead": 1,
        "capacity": 100,
    }
    record = topology.manifest.primitive("jobs")
    assert sorted(record.nodes) == ["jobs/egress", "jobs/ingress"]
    assert "Durable" in record.provides


def test_every_failure_row_names_a_scenario_that_exists() -> None:
    cases = [row.case for row in DurableQueue.failure_semantics]
    assert cases == ["crash", "duplicate", "overload"]
    for row in DurableQueue.failure_semantics:
        path, name = row.scenario.split("::")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert callable(getattr(module, name, None)), f"{row.case}: no scenario {row.scenario}"
