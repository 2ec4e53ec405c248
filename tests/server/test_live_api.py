"""Live change of a running execution through the service's API (a real server on loopback)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arachne.server import ServerSettings
from arachne.server.app import GRAPH_EXAMPLE
from tests.server.test_api import Served, eventually


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    served = Served(ServerSettings())
    try:
        yield served.client
    finally:
        served.stop()


def started(api: httpx.Client) -> str:
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    ex = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
    eventually(lambda: api.get(f"/api/executions/{ex}").json()["state"] == "running")
    return f"/api/executions/{ex}"


def logged_by(caplog: pytest.LogCaptureFixture, node: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == f"arachne.node.{node}"]


def test_a_node_and_an_edge_added_and_a_config_changed_show_in_the_running_graph(
    api: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="arachne.node")
    base = started(api)
    added = api.post(f"{base}/nodes", json={"id": "tap", "component": "arachne.core.logger"})
    assert added.status_code == 201, added.text
    assert added.json()["delta"]["added_nodes"] == ["tap"]  # what this request committed
    assert added.json()["text"] == "+ node tap (arachne.core.logger)"
    linked = api.post(
        f"{base}/edges",
        json={
            "id": "t",
            "source": {"node": "double", "port": "out"},
            "target": {"node": "tap", "port": "in"},
        },
    )
    assert linked.status_code == 201, linked.text
    assert linked.json()["edgeId"] == "t"
    assert linked.json()["delta"]["added_links"] == ["t"]
    graphs = api.get(f"{base}/graph").json()
    assert {n["id"] for n in graphs["running"]["nodes"]} == {"input", "double", "output", "tap"}
    api.post(f"{base}/inject", json={"nodeId": "input", "port": "in", "value": 21})
    eventually(lambda: "42" in logged_by(caplog, "tap"))

    changed = api.patch(f"{base}/nodes/double", json={"config": {"expression": "value * 10"}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["changed"] is True
    assert [c["id"] for c in changed.json()["delta"]["reconfigured"]] == ["double"]
    api.post(f"{base}/inject", json={"nodeId": "input", "port": "in", "value": 2})
    eventually(lambda: "20" in logged_by(caplog, "output"))


def test_manual_mode_gathers_changes_for_a_plan_and_a_commit(api: httpx.Client) -> None:
    base = started(api)
    assert api.put(f"{base}/commit-mode", json={"mode": "manual"}).json()["commitMode"] == "manual"
    api.patch(f"{base}/edges/e1", json={"capacity": 8})
    assert api.delete(f"{base}/edges/e2").status_code == 200
    plan = api.get(f"{base}/plan").json()
    assert plan["delta"]["removed_links"] == ["e2"]
    assert plan["delta"]["retuned"][0]["changes"] == {"capacity": [1024, 8]}
    assert "- link e2 (double.out -> output.in)" in plan["text"]
    running = {e["id"] for e in api.get(f"{base}/graph").json()["running"]["edges"]}
    assert running == {"e1", "e2"}  # nothing applied yet
    committed = api.post(f"{base}/commit").json()
    assert committed["delta"]["removed_links"] == ["e2"]
    graphs = api.get(f"{base}/graph").json()
    assert graphs["desired"] == graphs["running"]
    assert api.get(f"{base}/plan").json()["text"] == "no changes"


@pytest.fixture
def rooted(tmp_path: Path) -> Iterator[httpx.Client]:
    served = Served(ServerSettings(data_root=str(tmp_path)))
    try:
        yield served.client
    finally:
        served.stop()


def test_bad_changes_are_answered_naming_the_fix(rooted: httpx.Client) -> None:
    api = rooted
    base = started(api)
    unknown = api.post(
        f"{base}/edges",
        json={
            "source": {"node": "ghost", "port": "out"},
            "target": {"node": "output", "port": "in"},
        },
    )
    assert unknown.status_code == 400
    assert "unknown node 'ghost'" in unknown.json()["error"]["message"]
    bad_config = api.patch(f"{base}/nodes/double", json={"config": {"expresion": "value"}})
    assert bad_config.status_code == 400
    assert "config" in bad_config.json()["error"]["message"]
    linked = api.delete(f"{base}/nodes/double")
    assert linked.status_code == 400
    assert "still linked" in linked.json()["error"]["message"]
    outside = api.post(
        f"{base}/nodes",
        json={"id": "sink", "component": "arachne.io.jsonl-sink", "config": {"path": "../x"}},
    )
    assert outside.status_code == 400
    assert "body.config.path: '../x' climbs out" in outside.json()["error"]["message"]
    nowhere = "missing/out.jsonl"  # inside the root, but its directory does not exist
    failed = api.post(
        f"{base}/nodes",
        json={"id": "sink", "component": "arachne.io.jsonl-sink", "config": {"path": nowhere}},
    )
    assert failed.status_code == 409, failed.text
    assert failed.json()["error"]["code"] == "commit_failed"
    assert failed.json()["error"]["nodeId"] == "sink"
    nodes = {n["id"] for n in api.get(f"{base}/graph").json()["running"]["nodes"]}
    assert nodes == {"input", "double", "output"}
    assert api.get(base).json()["state"] == "running"


def test_a_misspelt_field_is_named_not_ignored(api: httpx.Client) -> None:
    base = started(api)
    typo = api.patch(f"{base}/edges/e1", json={"capacty": 5})
    assert typo.status_code == 422
    assert typo.json()["error"]["message"].startswith("capacty: Extra inputs are not permitted")
    extra = api.post(f"{base}/inject", json={"nodeId": "input", "port": "in", "value": 1, "x": 1})
    assert extra.status_code == 422
    assert extra.json()["error"]["fields"][0]["field"] == "x"


def test_a_dry_run_shows_the_change_and_makes_none(api: httpx.Client) -> None:
    base = started(api)
    edge = api.patch(f"{base}/edges/e2?dryRun=true", json={"capacity": 4, "overflow": "drop"})
    assert edge.status_code == 200
    assert edge.json()["dryRun"] is True
    assert edge.json()["text"] == "~ link e2 capacity 1024 -> 4, overflow block -> drop"
    node = api.patch(f"{base}/nodes/double?dryRun=true", json={"config": {"expression": "v"}})
    assert node.json()["text"] == "~ node double config expression: 'value * 2' -> 'v'"
    running = api.get(f"{base}/graph").json()["running"]
    assert running["edges"][1]["capacity"] == 1024
    assert running["edges"][1]["overflow"] == "block"
    assert running["nodes"][1]["config"] == {"expression": "value * 2"}

    # Checked as the change itself would be.
    wrong = api.patch(f"{base}/nodes/double?dryRun=true", json={"config": {"expresion": "v"}})
    assert wrong.status_code == 400
    assert "expresion" in wrong.json()["error"]["message"]
    unknown = api.patch(f"{base}/nodes/nowhere?dryRun=true", json={"config": {}})
    assert unknown.status_code == 400
    assert "unknown node 'nowhere'" in unknown.json()["error"]["message"]

    # Of an execution that has ended: nothing to preview.
    api.post(f"{base}/stop")
    eventually(lambda: api.get(base).json()["state"] == "completed")
    ended = api.patch(f"{base}/edges/e2?dryRun=true", json={"capacity": 4})
    assert ended.status_code == 409
    assert ended.json()["error"]["code"] == "execution_ended"
