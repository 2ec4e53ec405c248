"""The same partitioned pipeline on a small local Ray cluster (the ``ray`` extra)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arachne import IterSource, Runtime, Subgraph
from arachne.cli.main import app
from arachne.distributed.channels import LinkOptions
from arachne.distributed.documents import OutputTap
from arachne.distributed.host import DEGRADED
from arachne.distributed.partition_map import GroupRange
from arachne.distributed.placement import KEY_GROUPS, key_group
from arachne.distributed.processes import ClusterError
from arachne.distributed.ray_cluster import RayCluster
from arachne.distributed.runtime_cluster import Cluster
from arachne.durable.sqlite import SqliteStore
from tests.distributed.conftest import Kept
from tests.distributed.lazy_pipelines import (
    PLACED,
    SOURCE,
    fetched_only_what_was_read,
    scanner_parts,
)
from tests.distributed.pipelines import KEYS, durable_totals, keyed, paced_totals, tapped_totals
from tests.distributed.remote_moves import check_moved, move_past_a_crashed_controller

ROOT = str(Path(__file__).resolve().parents[2])
NOTIONAL = Path(ROOT) / "examples" / "documents" / "notional.yaml"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One small local Ray cluster for the module (starting one takes seconds).

    Ray's import replaces the log record factory; the one before it is put back after, so
    the tests that follow log as they would without Ray.
    """
    before = logging.getLogRecordFactory()
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        namespace="arachne-tests",
        runtime_env={"env_vars": {"PYTHONPATH": ROOT, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}},
    )
    try:
        yield
    finally:
        ray.shutdown()
        logging.setLogRecordFactory(before)


def durable_reference(tmp_path: Path, count: int) -> Path:
    """Run ``durable_totals`` in this process; return the file it wrote."""
    reference = tmp_path / "reference.jsonl"
    rt = Runtime()
    rt.register(durable_totals(count, 0.0, str(reference)))
    rt.run()
    return reference


def durable_source(count: int, out: Path) -> dict[str, Any]:
    """The actors' source of the same pipeline, paced so a kill lands mid-run."""
    return {
        "builder": "tests.distributed.pipelines:durable_totals",
        "kwargs": {"count": count, "pause": 0.005, "path": str(out)},
    }


def test_two_actors_output_what_one_process_does(tmp_path: Path, local_ray: None) -> None:
    """Split across two actors, the keyed pipeline writes the single-process run's file."""
    count = 20_000
    single = tmp_path / "single.jsonl"
    rt = Runtime()
    rt.register(keyed(count, str(single)))
    rt.run()
    out = tmp_path / "ray.jsonl"
    cluster = RayCluster(
        {
            "builder": "tests.distributed.pipelines:keyed",
            "kwargs": {"count": count, "path": str(out)},
        },
        {"a": ["source"], "b": ["sum", "sink"]},
    )
    reports = cluster.run(timeout=120)
    assert out.read_text(encoding="utf-8") == single.read_text(encoding="utf-8")
    sent = [row for row in reports["a"]["links"] if row["role"] == "send"]
    assert sent
    assert all(row["closed"] for row in sent)
    assert cluster.actors == {}  # closed: no detached actor outlives the run


def test_a_killed_actor_is_reported_unavailable_within_one_heartbeat(
    tmp_path: Path, local_ray: None
) -> None:
    """Kill one partition's actor: its peer reports it unavailable within a heartbeat."""
    heartbeat = 1.0
    source = {
        "builder": "tests.distributed.pipelines:paced",
        "kwargs": {"count": 100_000, "pause": 0.001, "path": str(tmp_path / "o.jsonl")},
    }
    with RayCluster(
        source, {"a": ["source"], "b": ["paced", "sink"]}, options=LinkOptions(heartbeat=heartbeat)
    ) as cluster:
        cluster.start()
        view = cluster.query(timeout=10)
        assert {h["state"] for h in view["hosts"].values()} == {"available"}
        assert view["manifest"] == cluster.manifest
        killed = time.time()
        cluster.kill("b")
        peer = None
        while time.time() < killed + 10 * heartbeat:
            view = cluster.query(timeout=heartbeat)
            if view["peers"]["a"]["b"]["state"] == "unavailable":
                peer = view["peers"]["a"]["b"]
                break
        assert peer is not None, view
        # Found within a heartbeat of its last frame (a beat's lateness allowed on a busy box).
        assert peer["detected"] - peer["since"] <= heartbeat + heartbeat / 4
        assert peer["since"] >= killed - heartbeat
        assert view["hosts"]["b"]["state"] == "unavailable"
        links = [row for row in view["links"] if row["host"] == "a"]
        assert links
        assert all(row["taints"] == ["not-durable", "no-replay", DEGRADED] for row in links)


def test_a_stalled_consumer_on_ray_holds_its_producer_within_the_credits(
    tmp_path: Path, local_ray: None
) -> None:
    """A consumer that barely takes: frames in flight stay within the credits, nothing piles up."""
    options = LinkOptions(credits=2, frame_items=16)
    source = {
        "builder": "tests.distributed.pipelines:paced",
        "kwargs": {"count": 100_000, "pause": 0.5, "path": str(tmp_path / "o.jsonl")},
    }
    with RayCluster(source, {"a": ["source"], "b": ["paced", "sink"]}, options=options) as cluster:
        cluster.start()
        time.sleep(3.0)  # (real processes: the consumer takes about 6 items meanwhile)
        view = cluster.query(timeout=10)
    (sent,) = [row for row in view["links"] if row["host"] == "a" and row["role"] == "send"]
    (received,) = [row for row in view["links"] if row["host"] == "b"]
    # Sent, and not yet taken by the consumer, at most the credits' frames.
    assert sent["sent"] - received["consumed"] <= options.credits
    assert sent["sent"] <= options.credits + 2  # (16 items a frame: 6 taken is 1 frame at most)
    assert sent["backlog"] <= 2 * options.frame_items + 16  # the sender's own buffer, bounded


def test_a_killed_actor_restarts_from_its_checkpoint_and_the_output_is_whole(
    tmp_path: Path, local_ray: None
) -> None:
    """Kill the consumer's actor mid-run, restart it: the exactly-once file equals one
    process's; the new actor runs as incarnation 1 and the links carry no durability taint."""
    count = 400
    reference, out = durable_reference(tmp_path, count), tmp_path / "out.jsonl"
    cluster = RayCluster(
        durable_source(count, out),
        {"a": ["source", "paced"], "b": ["totals", "sink"]},
        options=LinkOptions(heartbeat=0.5),
        store=tmp_path / "stores",
        checkpoint_every=0.1,
    )
    with cluster:
        cluster.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # (killed once some items are checkpointed)
            rows = [r for r in cluster.query(timeout=5)["links"] if r["role"] == "receive"]
            if rows and rows[0].get("durable", 0) >= 100:
                break
            time.sleep(0.05)
        assert rows, "no link"
        assert 100 <= rows[0]["durable"] < count, rows
        cluster.kill("b")
        cluster.restart("b")
        reports = cluster.wait(timeout=120)
    assert out.read_text() == reference.read_text()
    assert cluster.incarnations["b"] == 1
    assert reports["b"]["resumed"] is not None
    links = [link for report in reports.values() for link in report["links"]]
    assert all("not-durable" not in link["taints"] for link in links), links


def test_lazy_payloads_go_through_the_object_store(tmp_path: Path, local_ray: None) -> None:
    """Large payloads cross as object references; only those read are opened; same digests."""
    g, digest, _ = scanner_parts(5, 90, 3)
    rt = Runtime()
    rt.register(g)
    rt.run()
    out = tmp_path / "digests.jsonl"
    source = {**SOURCE, "kwargs": {**SOURCE["kwargs"], "path": str(out)}}
    cluster = RayCluster(source, PLACED, options=LinkOptions(lazy_bytes=100_000))
    reports = cluster.run(timeout=120)
    assert fetched_only_what_was_read(reports, out) == digest.rows
    (sent,) = [row for row in reports["a"]["links"] if row["role"] == "send"]
    assert sent["served"] == 0  # (the store served them, not a)


def test_runtime_nodes_host_several_partitions_and_restart_whole(
    tmp_path: Path, local_ray: None
) -> None:
    """Four partitions on two runtime nodes (links inside and between actors): killed and
    restarted, the node resumes both its partitions; the file equals one process's."""
    count = 400
    reference, out = durable_reference(tmp_path, count), tmp_path / "out.jsonl"
    cluster = RayCluster(
        durable_source(count, out),
        {"a": ["source"], "b": ["paced"], "c": ["totals"], "d": ["sink"]},
        nodes={"n1": ["a", "c"], "n2": ["b", "d"]},
        options=LinkOptions(heartbeat=0.5),
        store=tmp_path / "stores",
        checkpoint_every=0.1,
    )
    with cluster:
        cluster.start()
        assert set(cluster.actors) == {"n1", "n2"}
        deadline = time.monotonic() + 60
        durable = 0
        while time.monotonic() < deadline and durable < 100:
            rows = cluster.query(timeout=5)["links"]
            durable = min((r.get("durable", 0) for r in rows if r["role"] == "receive"), default=0)
            time.sleep(0.05)
        assert 100 <= durable < count
        cluster.kill("d")  # (the node hosting d: b goes with it)
        view = cluster.query(timeout=5)
        assert {h: view["hosts"][h]["state"] for h in "abcd"} == {
            "a": "available",
            "b": "unavailable",
            "c": "available",
            "d": "unavailable",
        }
        cluster.restart("n2")
        reports = cluster.wait(timeout=120)
    assert out.read_text() == reference.read_text()
    assert set(reports) == {"a", "b", "c", "d"}
    assert {p: cluster.incarnations[p] for p in "abcd"} == {"a": 0, "b": 1, "c": 0, "d": 1}
    assert reports["b"]["resumed"] is not None
    assert reports["d"]["resumed"] is not None
    assert cluster.actors == {}


def test_runtime_nodes_are_checked_against_the_placement(local_ray: None) -> None:
    source = {"builder": "tests.distributed.pipelines:keyed", "kwargs": {"count": 1, "path": "x"}}
    placed = {"a": ["source"], "b": ["sum", "sink"]}
    with pytest.raises(ValueError, match="no partition 'c'"):
        RayCluster(source, placed, nodes={"n1": ["a", "c"]})
    with pytest.raises(ValueError, match="partition 'a' is in both 'n1' and 'n2'"):
        RayCluster(source, placed, nodes={"n1": ["a", "b"], "n2": ["a"]})
    with pytest.raises(ValueError, match=r"partition\(s\) b are in no runtime node"):
        RayCluster(source, placed, nodes={"n1": ["a"]})
    with pytest.raises(ValueError, match="non-empty list"):
        RayCluster(source, placed, nodes={"n1": "ab"})


def test_arachne_run_hosts_on_ray_prints_what_one_process_prints(
    tmp_path: Path, local_ray: None
) -> None:
    """`arachne run DOC --hosts 2 --ray`: the same lines as one process, in the same order."""
    runner = CliRunner()
    single = runner.invoke(app, ["run", str(NOTIONAL), "-q"])
    assert single.exit_code == 0, single.output
    split = runner.invoke(app, ["run", str(NOTIONAL), "--hosts", "2", "--ray"])
    assert split.exit_code == 0, split.output
    assert split.stdout == single.stdout
    assert "ran on 2 Ray actors" in split.stderr
    assert "h0: trades" in split.stderr


def test_output_taps_wait_for_the_driver_past_their_bound() -> None:
    """At the bound the buffer says it is full; the taps waiting are woken by the take."""
    from arachne.distributed.ray_cluster import _Outputs

    outputs = _Outputs(bound=3)
    woken: list[str] = []
    assert outputs.put("n", "out", 1) is False
    assert outputs.put("n", "out", 2) is False
    assert outputs.put("n", "out", 3) is True
    outputs.when_room(lambda: woken.append("tap"))
    assert outputs.unsent("n", "out") == [1, 2, 3]
    assert woken == []
    assert [row[2] for row in outputs.take()] == [1, 2, 3]
    assert woken == ["tap"]
    assert outputs.put("n", "out", 4) is False
    assert outputs.take() == [("n", "out", 4)]
    assert woken == ["tap"]  # (woken once)


def test_a_tap_on_a_full_buffer_holds_its_producer_until_the_reader_takes() -> None:
    """A tap whose buffer is full holds its input: the source stops within the edge's room,
    and goes on once the rows are taken; every row arrives, in order."""
    from arachne.distributed.ray_cluster import _Outputs

    outputs = _Outputs(bound=10)
    g = Subgraph("held")
    g.add_node(IterSource(range(200)), name="source")
    tap = OutputTap(("source", "out"))
    tap.buffer = outputs
    g.add_node(tap, name="tap")
    g.connect(("source", "out"), ("tap", "in"), capacity=4)
    taken: list[Any] = []

    async def scenario() -> int:
        rt = Runtime()
        rt.register(g)
        run = asyncio.ensure_future(rt.run_async())
        most = 0
        while not run.done():
            for _ in range(20):
                await asyncio.sleep(0)
            most = max(most, len(outputs.rows))
            taken.extend(row[2] for row in outputs.take())
        await run
        taken.extend(row[2] for row in outputs.take())
        return most

    most = asyncio.run(scenario())
    assert taken == list(range(200))
    assert most <= 10 + 4  # (the bound, and at most a batch in hand: the edge's room)


def test_a_key_range_moves_between_actors_with_its_controller_crashed(
    tmp_path: Path, local_ray: None
) -> None:
    """Move one key's group from a to b mid-run on Ray; the first controller dies after
    loading b, a second one reading the journal finishes: every total equals one process's."""
    count = 400
    reference = tmp_path / "reference.jsonl"
    rt = Runtime()
    rt.register(paced_totals(count, 0.0, str(reference)))
    rt.run()
    out = tmp_path / "out.jsonl"
    source = {
        "builder": "tests.distributed.pipelines:paced_totals",
        "kwargs": {"count": count, "pause": 0.004, "path": str(out)},
    }
    groups = sorted(key_group(key, KEY_GROUPS) for key in KEYS)
    span = GroupRange(groups[0], groups[0] + 1)  # (a key of a's: a holds groups 0 to 63)
    with (
        SqliteStore(tmp_path / "routes.db") as store,
        RayCluster(
            source,
            {"src": ["source", "paced", "sink"], "a": [], "b": []},
            shards={"totals": {"key": 1, "owners": ["a", "b"]}},
            nodes={"n1": ["src", "a"], "n2": ["b"]},
        ) as cluster,
    ):
        cluster.start()
        deadline = time.monotonic() + 60
        taken = 0
        while taken < 40:
            assert time.monotonic() < deadline, "a took nothing"
            rows = cluster.query(timeout=5)["links"]
            taken = sum(r["delivered"] for r in rows if r["host"] == "a" and r["role"] == "receive")
            time.sleep(0.02)
        second = move_past_a_crashed_controller(cluster, store, span)
        reports = cluster.wait(timeout=120)
    check_moved(out, reference, second, reports)
    assert cluster.audits["totals"] is second.audit
    with pytest.raises(ValueError, match="not sharded"):
        cluster.move("paced", span, "b")


def test_a_runtime_with_a_ray_cluster_sends_its_registered_graph(
    tmp_path: Path, local_ray: None
) -> None:
    """Runtime(cluster=Cluster(on='ray')): no builder; Ray carries the graph to the actors."""
    single, out = tmp_path / "one.jsonl", tmp_path / "ray.jsonl"
    rt = Runtime()
    rt.register(keyed(5_000, str(single)))
    rt.run()
    placed = {"a": ["source"], "b": ["sum"], "c": ["sink"]}
    rt = Runtime(cluster=Cluster(placed, on="ray", nodes={"n1": ["a"], "n2": ["b", "c"]}))
    rt.register(keyed(5_000, str(out)))
    rt.run()
    assert out.read_text() == single.read_text()
    assert sorted(rt.reports) == ["a", "b", "c"]
    assert rt.reports["c"]["nodes"]["sink"] == 0  # (a sink emits nothing; it ran there)
    assert "sink" in rt.reports["c"]["nodes"]


def test_a_graph_ray_cannot_carry_is_refused_by_name(tmp_path: Path, local_ray: None) -> None:
    g = keyed(10, str(tmp_path / "o.jsonl"))
    sink = g.instances()["sink"]
    sink.lock = threading.Lock()  # type: ignore[attr-defined]  (no serialized form)
    rt = Runtime(cluster=Cluster({"a": ["source"], "b": ["sum", "sink"]}, on="ray"))
    rt.register(g)
    with pytest.raises(ClusterError, match="could not be sent to Ray"):
        rt.run()


def test_tapped_rows_kept_in_a_killed_actor_come_again_after_its_restart(
    tmp_path: Path, local_ray: None
) -> None:
    """Rows the driver had not taken when the node died are in its checkpoint: after the
    restart every row arrives, at least once (the taps are not transactional)."""
    count = 400
    g = tapped_totals(count, 0.0)
    reference: list[list[Any]] = []
    for node in g.instances().values():
        if isinstance(node, OutputTap):
            node.sink = lambda _n, _p, value: reference.append(value)
    rt = Runtime()
    rt.register(g)
    rt.run()
    rows: list[list[Any]] = []
    cluster = RayCluster(
        {
            "builder": "tests.distributed.pipelines:tapped_totals",
            "kwargs": {"count": count, "pause": 0.005},
        },
        {"a": ["source", "paced"], "b": ["totals", "tap"]},
        options=LinkOptions(heartbeat=0.5),
        store=tmp_path / "stores",
        checkpoint_every=0.1,
        on_output=lambda _n, _p, value: rows.append(value),
    )
    with cluster:
        cluster.start()
        deadline = time.monotonic() + 60
        durable = 0
        while durable < 100:  # (the driver takes no row meanwhile: they wait in b's actor)
            assert time.monotonic() < deadline, "nothing became durable"
            links = cluster.query(timeout=5)["links"]
            durable = min((r.get("durable", 0) for r in links if r["role"] == "receive"), default=0)
            time.sleep(0.05)
        assert durable < count
        cluster.kill("b")
        cluster.restart("b")
        cluster.wait(timeout=120)
    assert len(rows) >= count
    assert sorted({tuple(row) for row in rows}) == sorted(tuple(row) for row in reference)


def test_a_cluster_is_started_once_and_asked_only_while_it_runs(local_ray: None) -> None:
    source = {
        "builder": "tests.distributed.pipelines:keyed",
        "kwargs": {"count": 1, "path": "/dev/null"},
    }
    cluster = RayCluster(source, {"a": ["source"], "b": ["sum", "sink"]})
    with pytest.raises(ClusterError, match="not started"):
        cluster.wait()
    with pytest.raises(ClusterError, match="not running"):
        cluster.query()
    with cluster:
        cluster.start()
        with pytest.raises(ClusterError, match="started already"):
            cluster.start()
        cluster.wait(timeout=60)


def test_a_node_restarts_while_another_stays_killed(tmp_path: Path, local_ray: None) -> None:
    """Restart b while c is still down: b's peers that run are told, c is left alone."""
    source = {
        "builder": "tests.distributed.pipelines:paced",
        "kwargs": {"count": 100_000, "pause": 0.001, "path": str(tmp_path / "o.jsonl")},
    }
    with RayCluster(
        source, {"a": ["source"], "b": ["paced"], "c": ["sink"]}, store=tmp_path / "s"
    ) as cluster:
        cluster.start()
        cluster.kill("b")
        cluster.kill("c")
        cluster.restart("b")
        assert sorted(cluster.killed) == ["c"]
        view = cluster.query(timeout=10)
        assert view["hosts"]["b"]["state"] == "available"
        assert view["hosts"]["c"]["state"] == "unavailable"


def test_actors_log_through_the_driver(local_ray: None, kept: Kept) -> None:
    """What a node in an actor logs at INFO is logged again in the driver, led by its
    partition (both partitions share one actor here)."""
    RayCluster(
        {"builder": "tests.distributed.pipelines:logged", "kwargs": {"count": 5}},
        {"a": ["source"], "b": ["chatty", "sink"]},
        nodes={"n": ["a", "b"]},
        log_level="INFO",
    ).run(timeout=60)
    said = [r.getMessage() for r in kept.records if r.name == "arachne.node.chatty"]
    assert said == [f"b: saw {n}" for n in range(5)]
