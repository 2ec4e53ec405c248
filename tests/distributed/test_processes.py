"""A keyed pipeline split across two worker processes, joined by a TCP mesh link."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from arachne import Runtime, Subgraph
from arachne.distributed.channels import LinkOptions
from arachne.distributed.host import DEGRADED
from arachne.distributed.partition_map import GroupRange
from arachne.distributed.placement import KEY_GROUPS, key_group
from arachne.distributed.processes import ClusterError, ProcessCluster
from arachne.durable import SqliteStore
from tests.distributed.pipelines import KEYS, durable_totals, keyed, paced_totals
from tests.distributed.remote_moves import check_moved, move_past_a_crashed_controller

ROOT = str(Path(__file__).resolve().parents[2])
ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}


def single_process(count: int, path: Path) -> str:
    rt = Runtime()
    rt.register(keyed(count, str(path)))
    rt.run()
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "placement",
    [
        {"a": ["source"], "b": ["sum", "sink"]},
        {"a": ["source", "sum"], "b": ["sink"]},
        {"a": ["source", "sink"], "b": ["sum"]},  # there and back again
    ],
)
def test_two_processes_output_what_one_does(
    tmp_path: Path, placement: dict[str, list[str]]
) -> None:
    """The partitioned run's file equals the single-process run's, line for line."""
    count = 20_000
    expected = single_process(count, tmp_path / "single.jsonl")
    out = tmp_path / "multi.jsonl"
    cluster = ProcessCluster(
        {
            "builder": "tests.distributed.pipelines:keyed",
            "kwargs": {"count": count, "path": str(out)},
        },
        placement,
        options=LinkOptions(credits=4, frame_items=64),
        env=ENV,
    )
    reports = cluster.run(timeout=120)
    assert out.read_text(encoding="utf-8") == expected
    assert set(reports) == {"a", "b"}
    sent = [row for report in reports.values() for row in report["links"] if row["role"] == "send"]
    assert sent
    assert all(row["closed"] for row in sent)
    received = [r for report in reports.values() for r in report["links"] if r["role"] == "receive"]
    assert received
    assert all(row["ended"] for row in received), received


def test_a_worker_that_fails_or_dies_is_reported(tmp_path: Path) -> None:
    """A builder refused up front; a worker's failure, or its death, fails the run, named."""
    with pytest.raises(ValueError, match="builder must be"):
        ProcessCluster({"builder": "no colon"}, {"a": ["x"]}, env=ENV)
    source = {
        "builder": "tests.distributed.pipelines:broken_in_workers",
        "kwargs": {"path": str(tmp_path / "o")},
    }
    placement = {"a": ["source"], "b": ["sum", "sink"]}
    failing = ProcessCluster(source, placement, env={**ENV, "ARACHNE_TEST_WORKER": "1"})
    with pytest.raises(ClusterError, match="cannot build its graph"):
        failing.run(timeout=60)
    dead = ProcessCluster(source, placement, env=ENV, python="/bin/false")
    with pytest.raises(ClusterError, match="ended before"):
        dead.run(timeout=30)


def test_a_killed_worker_is_reported_unavailable_within_one_heartbeat(tmp_path: Path) -> None:
    """SIGKILL one worker: the federated query shows it unavailable and its peer's links taint."""
    heartbeat = 1.0
    source = {
        "builder": "tests.distributed.pipelines:paced",
        "kwargs": {"count": 100_000, "pause": 0.001, "path": str(tmp_path / "o.jsonl")},
    }
    placement = {"a": ["source"], "b": ["paced", "sink"]}
    with ProcessCluster(
        source, placement, options=LinkOptions(heartbeat=heartbeat), env=ENV
    ) as cluster:
        cluster.start()
        view = cluster.query(timeout=10)
        assert view["hosts"] == {
            "a": {"state": "available", "epoch": 0},
            "b": {"state": "available", "epoch": 0},
        }
        assert view["manifest"] == cluster.manifest
        assert DEGRADED not in view["taints"]
        killed = time.time()
        cluster.kill("b")
        peer = None
        while time.time() < killed + 10 * heartbeat:
            view = cluster.query(timeout=heartbeat)
            if view["peers"]["a"]["b"]["state"] == "unavailable":
                peer = view["peers"]["a"]["b"]
                break
        assert peer is not None, view
        # The broken connection is seen at once: well within one heartbeat of the kill.
        assert killed <= peer["detected"] <= killed + heartbeat
        assert view["hosts"]["b"]["state"] == "unavailable"
        assert view["hosts"]["b"]["since"] >= killed
        assert "exit -9" in view["hosts"]["b"]["reason"]
        links = [row for row in view["links"] if row["host"] == "a"]
        assert links
        assert all(row["taints"] == ["not-durable", "no-replay", DEGRADED] for row in links)


def test_a_worker_failing_mid_run_fails_the_run_at_once_naming_it() -> None:
    """b's sink raises: wait() says so at once, though a still waits on its link."""
    source = {
        "builder": "tests.distributed.pipelines:failing_sink",
        "kwargs": {"count": 10**6, "at": 50},
    }
    cluster = ProcessCluster(source, {"a": ["source"], "b": ["sink"]}, env=ENV)
    began = time.monotonic()
    with pytest.raises(ClusterError, match=r"worker 'b' failed: .*the sink failed at item 50"):
        cluster.run(timeout=60)
    assert time.monotonic() - began < 30  # (not the timeout: the failure itself)


def test_a_keyed_node_sharded_over_two_workers_keeps_each_key_s_totals(tmp_path: Path) -> None:
    """Source and sink on s, the keyed sum as replicas on a and b: per key, one process's."""
    count = 20_000
    expected = single_process(count, tmp_path / "single.jsonl")
    out = tmp_path / "sharded.jsonl"
    source = {
        "builder": "tests.distributed.pipelines:keyed",
        "kwargs": {"count": count, "path": str(out)},
    }
    cluster = ProcessCluster(
        source,
        {"s": ["source", "sink"], "a": [], "b": []},
        shards={"sum": {"key": 0, "owners": ["a", "b"]}},
        env=ENV,
    )
    reports = cluster.run(timeout=120)

    def by_key(text: str) -> dict[str, list[int]]:
        rows: dict[str, list[int]] = {}
        for line in text.splitlines():
            key, total = json.loads(line)
            rows.setdefault(key, []).append(total)
        return rows

    assert by_key(out.read_text(encoding="utf-8")) == by_key(expected)
    assert set(reports) == {"s", "a", "b"}
    assert reports["a"]["nodes"]["sum~a"] > 0
    assert reports["b"]["nodes"]["sum~b"] > 0


def test_a_builder_that_cannot_be_found_is_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"builder 'tradez:trades': No module named 'tradez'.*PYTHONPATH"
    ):
        ProcessCluster({"builder": "tradez:trades"}, {"a": ["x"]}, env=ENV)
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'buildr'"):
        ProcessCluster({"buildr": "trades:trades"}, {"a": ["x"]}, env=ENV)
    with pytest.raises(ValueError, match="refused its kwargs"):
        ProcessCluster(
            {"builder": "tests.distributed.pipelines:keyed", "kwargs": {"nope": 1}}, {"a": ["x"]}
        )


def test_workers_import_what_the_coordinator_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A builder module beside the coordinator's script, no PYTHONPATH given: it runs."""
    (tmp_path / "my_graphs.py").write_text(
        "from tests.distributed.pipelines import keyed\n\n"
        "def build(path):\n    return keyed(50, path)\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out.jsonl"
    cluster = ProcessCluster(
        {"builder": "my_graphs:build", "kwargs": {"path": str(out)}},
        {"a": ["source"], "b": ["sum", "sink"]},
        env={"PYTHONPATH": ""},
    )
    cluster.run(timeout=60)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 50


def test_workers_do_not_outlive_their_coordinator(tmp_path: Path) -> None:
    """The coordinator's pipes close (it died): each worker cancels its run and exits."""
    source = {
        "builder": "tests.distributed.pipelines:paced",
        "kwargs": {"count": 10**6, "pause": 0.01, "path": str(tmp_path / "o.jsonl")},
    }
    with ProcessCluster(source, {"a": ["source"], "b": ["paced", "sink"]}, env=ENV) as cluster:
        cluster.start()
        for worker in cluster.workers.values():
            assert worker.proc.stdin is not None
            worker.proc.stdin.close()  # (what a coordinator's death does to the pipe)
        for worker in cluster.workers.values():
            assert worker.proc.wait(timeout=30) is not None


def paced_case(
    tmp_path: Path, builder: Callable[[int, float, str], Subgraph], count: int, pause: float
) -> tuple[Path, Path, dict[str, Any]]:
    """Run ``builder``'s graph in one process (unpaced) into a reference file; return it,
    the file the cluster is to write, and the source its workers build it from."""
    reference = tmp_path / "reference.jsonl"
    rt = Runtime()
    rt.register(builder(count, 0.0, str(reference)))
    rt.run()
    out = tmp_path / "out.jsonl"
    target = f"tests.distributed.pipelines:{builder.__name__}"
    return (
        reference,
        out,
        {"builder": target, "kwargs": {"count": count, "pause": pause, "path": str(out)}},
    )


def _receiving(view: dict[str, object], host: str) -> dict[str, int]:
    rows = [r for r in view["links"] if r["host"] == host and r["role"] == "receive"]  # type: ignore[attr-defined,index]
    return rows[0] if rows else {}


@pytest.mark.parametrize("victim", ["a", "b"])
def test_a_killed_worker_restarts_from_its_checkpoint_and_the_output_is_whole(
    tmp_path: Path, victim: str
) -> None:
    """SIGKILL a checkpointed worker mid-run, restart it: the file equals one process's, once.

    ``a`` holds the source and a paced stage; ``b`` a stateful running total and an
    exactly-once JSON-lines file. Whichever dies, the restarted incarnation resumes from its
    last checkpoint; the link replays what the consumer's checkpoint did not cover, and
    drops what the producer makes again but the consumer already had.
    """
    count = 600
    reference, out, source = paced_case(tmp_path, durable_totals, count, 0.003)
    placement = {"a": ["source", "paced"], "b": ["totals", "sink"]}
    with ProcessCluster(
        source,
        placement,
        options=LinkOptions(heartbeat=0.5),
        env=ENV,
        store=tmp_path / "stores",
        checkpoint_every=0.1,
    ) as cluster:
        cluster.start()
        deadline = time.monotonic() + 60
        row: dict[str, int] = {}
        while time.monotonic() < deadline:  # (killed once some items are checkpointed)
            row = _receiving(cluster.query(timeout=5), "b")
            if row.get("durable", 0) >= 100:
                break
            time.sleep(0.05)
        assert row.get("durable", 0) >= 100, row
        assert row["delivered"] < count  # (still running)
        cluster.kill(victim)
        cluster.restart(victim)
        reports = cluster.wait(timeout=120)
        view = cluster.query()
    assert out.read_text(encoding="utf-8") == reference.read_text(encoding="utf-8")
    assert cluster.incarnations[victim] == 1
    assert reports[victim]["health"]["epoch"] == 1
    links = [link for rows in (r["links"] for r in reports.values()) for link in rows]
    assert all("not-durable" not in link["taints"] for link in links), links
    assert view["hosts"][victim]["state"] == "available"


def test_a_key_range_moves_between_worker_processes_with_its_controller_crashed(
    tmp_path: Path,
) -> None:
    """Move one key's group from a to b mid-run; the first controller dies after loading b;
    a second one, reading the journal, finishes: every total equals one process's."""
    reference, out, source = paced_case(tmp_path, paced_totals, 400, 0.004)
    groups = sorted(key_group(key, KEY_GROUPS) for key in KEYS)
    span = GroupRange(groups[0], groups[0] + 1)  # (a key of a's: a holds groups 0 to 63)
    with (
        SqliteStore(tmp_path / "routes.db") as store,
        ProcessCluster(
            source,
            {"src": ["source", "paced", "sink"], "a": [], "b": []},
            shards={"totals": {"key": 1, "owners": ["a", "b"]}},
            env=ENV,
        ) as cluster,
    ):
        cluster.start()
        deadline = time.monotonic() + 60
        while _receiving(cluster.query(timeout=5), "a").get("delivered", 0) < 40:
            assert time.monotonic() < deadline, "a took nothing"
            time.sleep(0.02)
        second = move_past_a_crashed_controller(cluster, store, span)
        reports = cluster.wait(timeout=120)
    check_moved(out, reference, second, reports)
