"""The query plane through the service's API: four read-only snapshots (a real server)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from arachne.server import ServerSettings
from arachne.server.app import GRAPH_EXAMPLE
from tests.server.test_api import Served, eventually

KINDS = ("topology", "flow", "load", "backpressure")

KEYS = {
    "viewer": "viewer-key-0123456789",
    "operator": "operator-key-0123456789",
    "admin": "admin-key-0123456789abc",
}


def serve(settings: ServerSettings) -> Iterator[httpx.Client]:
    served = Served(settings)
    try:
        yield served.client
    finally:
        served.stop()


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    yield from serve(ServerSettings())


@pytest.fixture
def keyed() -> Iterator[httpx.Client]:
    keys = ",".join(f"{key}={role}" for role, key in KEYS.items())
    yield from serve(ServerSettings(api_keys=SecretStr(keys)))


def started(api: httpx.Client, headers: dict[str, str] | None = None) -> str:
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE, headers=headers).json()["id"]
    ex = api.post(f"/api/graphs/{graph_id}/execute", headers=headers).json()["executionId"]
    base = f"/api/executions/{ex}"
    eventually(lambda: api.get(base, headers=headers).json()["state"] == "running")
    return base


def query(api: httpx.Client, base: str, kind: str) -> dict[str, Any]:
    answer = api.get(f"{base}/query/{kind}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_every_snapshot_is_stamped_and_shaped(
    api: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="arachne.node")
    base = started(api)
    execution_id = base.rsplit("/", 1)[1]
    api.post(f"{base}/inject", json={"nodeId": "input", "port": "in", "value": 21})
    eventually(lambda: any(r.name == "arachne.node.output" for r in caplog.records))

    answers = {kind: query(api, base, kind) for kind in KINDS}
    for body in answers.values():
        assert body["executionId"] == execution_id
        assert body["state"] == "running"
        assert isinstance(body["observedAt"], float)
        assert isinstance(body["monotonic"], float)
    assert len({body["digest"] for body in answers.values()}) == 1
    digest = answers["topology"]["digest"]
    assert len(digest) == 64

    manifest = answers["topology"]["manifest"]
    assert [node["id"] for node in manifest["nodes"]] == ["double", "input", "output"]
    assert [(e["id"], e["source"], e["capacity"]) for e in manifest["edges"]] == [
        ("e1", "input.out", 1024),
        ("e2", "double.out", 1024),
    ]
    # Components as the service's registry names them, with their contract versions.
    assert {node["component"] for node in manifest["nodes"]} >= {"arachne.core.map"}
    assert all(node["contract"] for node in manifest["nodes"])

    flow = answers["flow"]
    assert flow["intervalSeconds"] > 0
    edges = {edge["id"]: edge for edge in flow["edges"]}
    assert {"e1", "e2"} <= set(edges)
    assert edges["e1"] == {
        "id": "e1",
        "source": "input",
        "target": "double",
        "kind": "link",
        "depth": 0,
        "capacity": 1024,
        "blockedMsPerSecond": 0.0,
        "dropped": 0,
        "backpressured": False,
    }
    assert "inject->input.in" in edges  # made for the injection, counted like the others

    load = answers["load"]
    assert load["intervalSeconds"] > 0
    nodes = {node["id"]: node for node in load["nodes"]}
    assert set(nodes) == {"input", "double", "output"}
    for node in nodes.values():
        assert node["state"] == "running"
        assert set(node) == {
            "id",
            "state",
            "busyMsPerSecond",
            "backpressuredMsPerSecond",
            "idleMsPerSecond",
        }
        assert 0 <= node["busyMsPerSecond"] <= 1000.5
    assert answers["backpressure"]["causes"] == []

    # Rates are since the previous request for the same snapshot (the run's start, first).
    again = query(api, base, "flow")
    elapsed = again["observedAt"] - flow["observedAt"]
    assert again["intervalSeconds"] == pytest.approx(elapsed, abs=0.02)
    assert again["digest"] == digest


def test_the_digest_changes_with_a_live_change_and_not_otherwise(api: httpx.Client) -> None:
    base = started(api)
    before = {query(api, base, kind)["digest"] for kind in KINDS for _ in range(2)}
    assert len(before) == 1
    added = api.post(f"{base}/nodes", json={"id": "tap", "component": "arachne.core.logger"})
    assert added.status_code == 201, added.text
    after = query(api, base, "topology")
    assert after["digest"] not in before
    assert "tap" in [node["id"] for node in after["manifest"]["nodes"]]
    assert {query(api, base, kind)["digest"] for kind in KINDS} == {after["digest"]}

    assert api.patch(f"{base}/edges/e1", json={"capacity": 8}).status_code == 200
    retuned = eventually(
        lambda: (flow := query(api, base, "flow"))["digest"] != after["digest"] and flow
    )
    assert {e["id"]: e["capacity"] for e in retuned["edges"]}["e1"] == 8


def test_viewers_may_read_and_strangers_may_not(keyed: httpx.Client) -> None:
    admin = {"Authorization": f"Bearer {KEYS['admin']}"}
    operator = {"Authorization": f"Bearer {KEYS['operator']}"}
    viewer = {"Authorization": f"Bearer {KEYS['viewer']}"}
    base = started(keyed, headers=admin)
    for kind in KINDS:
        assert keyed.get(f"{base}/query/{kind}", headers=viewer).status_code == 200
        denied = keyed.get(f"{base}/query/{kind}", headers={"Authorization": "Bearer nope"})
        assert denied.status_code == 401
        written = keyed.post(f"{base}/query/{kind}", headers=operator)
        assert written.status_code == 405  # read-only
        assert written.headers["Allow"] == "GET"  # (a route of an included router)
        assert written.json()["error"]["message"] == "POST is not served here; use GET"


def test_an_unknown_or_forgotten_execution_is_not_found(api: httpx.Client) -> None:
    missing = api.get("/api/executions/exec-nowhere/query/flow")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert "GET /api/executions" in missing.json()["error"]["message"]

    base = started(api)
    assert query(api, base, "flow")["state"] == "running"
    assert api.post(f"{base}/stop").status_code == 202
    eventually(lambda: api.get(base).json()["state"] == "completed")
    ended = query(api, base, "load")
    assert ended["state"] == "completed"
    assert {node["state"] for node in ended["nodes"]} == {"stopped"}
    assert api.delete(base).status_code == 204
    assert api.get(f"{base}/query/topology").status_code == 404


def test_lineage_of_the_service_s_outputs_names_each_injected_value(api: httpx.Client) -> None:
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    refused = api.post(f"/api/graphs/{graph_id}/execute", params={"lineage": 2})
    assert refused.status_code == 422
    assert "lineage" in refused.text
    answer = api.post(f"/api/graphs/{graph_id}/execute", params={"lineage": 1})
    assert answer.status_code == 201, answer.text
    base = f"/api/executions/{answer.json()['executionId']}"
    for value in (5, 7):
        api.post(f"{base}/inject", json={"nodeId": "input", "port": "in", "value": value})
    body = eventually(
        lambda: len((got := query(api, base, "lineage?node=output"))["outputs"]) == 2 and got
    )
    assert body["node"] == "output"
    assert body["rate"] == 1.0
    assert [[o["value"] for o in out["origins"]] for out in body["outputs"]] == [["5"], ["7"]]
    assert {tuple(out["nodes"]) for out in body["outputs"]} == {("input", "double", "output")}
    assert query(api, base, "lineage?node=output&last=1")["outputs"] == body["outputs"][1:]

    unknown = api.get(f"{base}/query/lineage", params={"node": "nope"})
    assert unknown.status_code == 404
    assert "double, input, output" in unknown.json()["error"]["message"]
    assert api.get(f"{base}/query/lineage").status_code == 422  # node is required

    off = started(api)
    refused_off = api.get(f"{off}/query/lineage", params={"node": "output"})
    assert refused_off.status_code == 409
    assert refused_off.json()["error"]["code"] == "lineage_off"


def test_taints_of_a_fresh_execution_are_empty_and_stamped(api: httpx.Client) -> None:
    base = started(api)
    body = query(api, base, "taints")
    assert body["routes"] == []
    assert len(body["digest"]) == 64


LIMITED: dict[str, Any] = {
    "arachne": "1.0",
    "name": "limited",
    "nodes": [
        {"id": "intake", "component": "arachne.core.passthrough"},
        {"id": "limit", "component": "arachne.core.rate_limiter", "config": {"rate": 1000}},
        {"id": "log", "component": "arachne.core.logger"},
    ],
    "edges": [
        {"source": "intake:out", "target": "limit:in"},
        {"source": "limit:out", "target": "log:in"},
    ],
}


def test_primitives_lists_each_installed_one_with_its_health(api: httpx.Client) -> None:
    graph_id = api.post("/api/graphs", json=LIMITED).json()["id"]
    ex = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
    base = f"/api/executions/{ex}"
    eventually(lambda: api.get(base).json()["state"] == "running")
    for value in range(3):
        api.post(f"{base}/inject", json={"nodeId": "intake", "port": "in", "value": value})
    body = eventually(
        lambda: (
            (got := query(api, base, "primitives"))["primitives"][0]["health"]["passed"] == 3
            and got
        )
    )
    (limit,) = body["primitives"]
    assert (limit["id"], limit["contract"], limit["maturity"]) == (
        "limit",
        "RateLimiter",
        "fault-tested",
    )
    assert limit["health"]["state"] == "healthy"
    assert len(body["digest"]) == 64


WINDOWED: dict[str, Any] = {
    "arachne": "1.0",
    "name": "windowed",
    "nodes": [
        {"id": "intake", "component": "arachne.core.passthrough"},
        {"id": "clock", "component": "arachne.core.event_clock", "config": {"timestamp": "t"}},
        {
            "id": "win",
            "component": "arachne.core.window",
            "config": {"window": {"tumbling": 10}, "timestamp": "t"},
        },
        {"id": "log", "component": "arachne.core.logger"},
    ],
    "edges": [
        {"source": "intake:out", "target": "clock:in"},
        {"source": "clock:out", "target": "win:in"},
        {"source": "win:out", "target": "log:in"},
        {"source": "win:late", "target": "log:in"},
    ],
}


def test_watermarks_show_each_node_its_watermark_and_what_holds_it(api: httpx.Client) -> None:
    graph_id = api.post("/api/graphs", json=WINDOWED).json()["id"]
    ex = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
    base = f"/api/executions/{ex}"
    eventually(lambda: api.get(base).json()["state"] == "running")
    assert query(api, base, "watermarks")["watermarks"] == []  # (none said yet)
    for t in (3, 12, 25):
        api.post(f"{base}/inject", json={"nodeId": "intake", "port": "in", "value": {"t": t}})
    body = eventually(
        lambda: (
            (got := query(api, base, "watermarks"))["watermarks"]
            and {w["node"]: w for w in got["watermarks"]}.get("win/window", {}).get("value") == 25
            and got
        )
    )
    marks = {w["node"]: w for w in body["watermarks"]}
    assert marks["win/window"]["holder"] == "e2"  # (the document's second edge: clock -> win)
    assert marks["clock/stamper"]["value"] is None  # (it says its own: no input watermark)
    assert marks["clock/stamper"]["sent"] == 25
    assert marks["log"]["value"] == 25
    assert len(body["digest"]) == 64
