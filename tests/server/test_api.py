"""The Runtime Service's REST API, served by a real uvicorn server on 127.0.0.1.

Every test talks HTTP to the server through httpx, as a client of the service would.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from arachne.server import ServerSettings, create_app
from arachne.server.app import GRAPH_EXAMPLE

BOUND = 10.0  # seconds: a bound on a hang, not a timing claim


class Served:
    """A uvicorn server running ``create_app(settings)`` in a thread, on a free port."""

    def __init__(self, settings: ServerSettings) -> None:
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + BOUND
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=BOUND)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(BOUND)


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    served = Served(ServerSettings(max_concurrent_executions=3))
    try:
        yield served.client
    finally:
        served.stop()


def eventually(check: Any) -> Any:
    """Poll ``check`` until it returns something true (or fail after ``BOUND``)."""
    deadline = time.monotonic() + BOUND
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "never became true"
        time.sleep(0.01)


def test_the_quick_reference_flow(api: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="arachne.node")
    loaded = api.post("/api/graphs", json=GRAPH_EXAMPLE)
    assert loaded.status_code == 201, loaded.text
    graph = loaded.json()
    assert graph["id"].startswith("graph-")
    assert (graph["nodeCount"], graph["edgeCount"]) == (3, 2)
    assert graph["topology"]["order"] == ["input", "double", "output"]
    assert graph["topology"]["inputs"] == ["input"]

    started = api.post(f"/api/graphs/{graph['id']}/execute")
    assert started.status_code == 201, started.text
    execution = started.json()
    assert execution["state"] == "running"
    assert execution["graphId"] == graph["id"]

    injected = api.post(
        f"/api/executions/{execution['executionId']}/inject",
        json={"nodeId": "input", "port": "in", "value": 21},
    )
    assert injected.status_code == 202, injected.text
    eventually(
        lambda: "42" in [r.getMessage() for r in caplog.records if r.name.endswith("output")]
    )

    def processed() -> dict[str, Any] | None:
        metrics = api.get(f"/api/executions/{execution['executionId']}/metrics").json()
        return metrics if metrics["messagesProcessed"] == 3 else None

    metrics = eventually(processed)
    assert {"avgLatencyMs", "maxLatencyMs", "errorCount", "backpressureEvents"} <= set(metrics)


def test_graphs_are_listed_read_and_deleted(api: httpx.Client) -> None:
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    assert [g["id"] for g in api.get("/api/graphs").json()] == [graph_id]
    one = api.get(f"/api/graphs/{graph_id}").json()
    assert one["definition"] == GRAPH_EXAMPLE
    assert api.delete(f"/api/graphs/{graph_id}").status_code == 204
    missing = api.get(f"/api/graphs/{graph_id}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert "GET /api/graphs lists" in missing.json()["error"]["message"]


def test_an_execution_is_paused_resumed_stopped_and_recorded(api: httpx.Client) -> None:
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    ex = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
    base = f"/api/executions/{ex}"
    eventually(lambda: api.get(base).json()["state"] == "running")
    assert api.post(f"{base}/pause").status_code == 202  # asked: it takes effect at once
    eventually(lambda: api.get(base).json()["state"] == "paused")
    assert api.post(f"{base}/pause").status_code == 202  # idempotent
    for value in (1, 2, 3):
        api.post(f"{base}/inject", json={"nodeId": "input", "port": "in", "value": value})
    assert api.get(f"{base}/metrics").json()["messagesProcessed"] == 0  # held while paused
    assert api.post(f"{base}/resume").status_code == 202
    eventually(lambda: api.get(f"{base}/metrics").json()["messagesProcessed"] == 9)
    assert api.post(f"{base}/stop").status_code == 202
    record = eventually(lambda: (r := api.get(base).json())["state"] == "completed" and r)
    assert record["graphId"] == graph_id
    assert record["graphName"] == "Simple Pipeline"
    assert record["startedAt"] <= record["completedAt"]
    assert record["error"] is None
    ended = api.post(f"{base}/pause")
    assert ended.status_code == 409
    assert "has ended (completed)" in ended.json()["error"]["message"]
    assert [e["id"] for e in api.get("/api/executions").json()] == [ex]


def test_two_executions_of_a_graph_run_apart(api: httpx.Client) -> None:
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    first = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
    second = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
    assert first != second
    api.post(f"/api/executions/{first}/inject", json={"nodeId": "input", "port": "in", "value": 1})
    eventually(lambda: api.get(f"/api/executions/{first}/metrics").json()["messagesProcessed"] == 3)
    assert api.get(f"/api/executions/{second}/metrics").json()["messagesProcessed"] == 0


def test_bad_input_is_answered_in_json_naming_the_field(api: httpx.Client) -> None:
    cyclic = {
        "arachne": "1.0",
        "name": "loop",
        "nodes": [
            {"id": "a", "component": "arachne.core.passthrough"},
            {"id": "b", "component": "arachne.core.passthrough"},
        ],
        "edges": [
            {"source": {"node": "a", "port": "out"}, "target": {"node": "b", "port": "in"}},
            {"source": {"node": "b", "port": "out"}, "target": {"node": "a", "port": "in"}},
        ],
    }
    refused = api.post("/api/graphs", json=cyclic)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_graph"
    assert "cycle" in refused.json()["error"]["message"]

    unknown = api.post(
        "/api/graphs",
        json={**GRAPH_EXAMPLE, "nodes": [{"id": "x", "component": "nope"}], "edges": []},
    )
    assert unknown.status_code == 400
    assert "nope" in unknown.json()["error"]["message"]

    not_json = api.post(
        "/api/graphs", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "invalid_json")

    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    ex = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
    missing_field = api.post(f"/api/executions/{ex}/inject", json={"port": "in", "value": 1})
    assert missing_field.status_code == 422
    assert missing_field.json()["error"]["fields"][0]["field"] == "nodeId"
    wrong_node = api.post(
        f"/api/executions/{ex}/inject", json={"nodeId": "ghost", "port": "in", "value": 1}
    )
    assert wrong_node.status_code == 400
    assert "unknown node 'ghost'" in wrong_node.json()["error"]["message"]

    too_big = api.post(
        "/api/graphs", content=b"x" * (2 << 20), headers={"content-type": "application/json"}
    )
    assert (too_big.status_code, too_big.json()["error"]["code"]) == (413, "body_too_large")
    assert api.get("/api/executions/exec-none").status_code == 404


def test_the_concurrency_limit_refuses_the_next_execution(api: httpx.Client) -> None:
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    for _ in range(3):
        assert api.post(f"/api/graphs/{graph_id}/execute").status_code == 201
    refused = api.post(f"/api/graphs/{graph_id}/execute")
    assert refused.status_code == 429
    assert "max_concurrent_executions=3" in refused.json()["error"]["message"]


def test_components_health_metrics_and_the_openapi_document(api: httpx.Client) -> None:
    ids = {c["id"] for c in api.get("/api/components").json()}
    assert {"arachne.core.map", "arachne.core.logger"} <= ids
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json()["limit"] == 3
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    api.post(f"/api/graphs/{graph_id}/execute")
    scraped = api.get("/metrics")
    assert scraped.headers["content-type"].startswith("text/plain")
    assert 'arachne_edge_capacity{edge="e1"' in scraped.text
    spec = api.get("/openapi.json").json()
    assert "/api/graphs/{graph_id}/execute" in spec["paths"]
    body = spec["paths"]["/api/graphs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["example"]["name"] == "Simple Pipeline"


def test_the_service_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        ServerSettings(host="0.0.0.0")  # noqa: S104 (the refusal is what is tested)
    assert ServerSettings(host="::1").host == "::1"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "6001")
    monkeypatch.setenv("MAX_CONCURRENT_EXECUTIONS", "7")
    monkeypatch.setenv("DEFAULT_EXECUTION_TIMEOUT", "1500")
    monkeypatch.setenv("ENABLE_METRICS", "false")
    settings = ServerSettings()
    assert (settings.port, settings.max_concurrent_executions) == (6001, 7)
    assert settings.execution_timeout_seconds == 1.5
    assert settings.enable_metrics is False
    monkeypatch.setenv("PORT", "seventy")
    with pytest.raises(ValueError, match="port"):
        ServerSettings()


def test_the_address_comes_from_arachne_host_never_from_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOST", "build-box.example.org")  # what tcsh exports
    assert ServerSettings().host == "127.0.0.1"
    monkeypatch.setenv("ARACHNE_HOST", "127.0.0.2")
    assert ServerSettings().host == "127.0.0.2"
    assert ServerSettings(host="::1").host == "::1"  # an option still wins
    monkeypatch.setenv("ARACHNE_HOST", "0.0.0.0")  # noqa: S104
    with pytest.raises(ValueError, match="not a loopback address"):
        ServerSettings()


def test_an_injected_value_is_bounded_and_must_be_json() -> None:
    served = Served(ServerSettings(max_inject_bytes=64))
    try:
        api = served.client
        graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
        ex = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
        url = f"/api/executions/{ex}/inject"
        big = api.post(url, json={"nodeId": "input", "port": "in", "value": "x" * 100})
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "payload_too_large"
        assert "MAX_INJECT_BYTES (64)" in big.json()["error"]["message"]
        nan = api.post(
            url,
            content=b'{"nodeId": "input", "port": "in", "value": NaN}',
            headers={"content-type": "application/json"},
        )
        assert nan.status_code == 400
        assert "NaN" in nan.json()["error"]["message"]
        fits = api.post(url, json={"nodeId": "input", "port": "in", "value": 21})
        assert fits.status_code == 202
        eventually(
            lambda: api.get(f"/api/executions/{ex}/metrics").json()["messagesProcessed"] == 3
        )  # only the value that fits went in
    finally:
        served.stop()


def test_injects_into_a_paused_execution_stop_at_its_queue_bound() -> None:
    served = Served(ServerSettings(max_backpressure_queue=3))
    try:
        api = served.client
        graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
        ex = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
        assert api.post(f"/api/executions/{ex}/pause").status_code == 202
        answers = [
            api.post(
                f"/api/executions/{ex}/inject", json={"nodeId": "input", "port": "in", "value": n}
            ).status_code
            for n in range(300)
        ]
        accepted = answers.count(202)
        assert 3 <= accepted <= 4  # the bound, and one look's worth at most
        assert answers[accepted:] == [429] * (300 - accepted)  # full stays full
        api.post(f"/api/executions/{ex}/resume")
        eventually(
            lambda: (
                api.get(f"/api/executions/{ex}/metrics").json()["messagesProcessed"] == 3 * accepted
            )
        )
    finally:
        served.stop()


def test_a_body_without_content_type_is_json_and_broken_json_is_told(api: httpx.Client) -> None:
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    ex = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
    url = f"/api/executions/{ex}/inject"
    body = b'{"nodeId": "input", "port": "in", "value": 21}'
    form = {"content-type": "application/x-www-form-urlencoded"}  # what curl -d sends
    assert api.post(url, content=body, headers=form).status_code == 202
    broken = api.post(url, content=body[:-1], headers={"content-type": "application/json"})
    assert broken.status_code == 400
    assert broken.json()["error"] == {
        "code": "invalid_json",
        "message": "the body is not JSON at character 45: Expecting ',' delimiter",
    }


def test_validate_names_each_problem_at_its_path_and_stores_nothing() -> None:
    served = Served(ServerSettings())
    try:
        api = served.client
        broken = {
            "arachne": "1.0",
            "name": "broken",
            "nodes": [
                {"id": "a", "component": "arachne.core.map", "config": {"expresion": "v"}},
                {"id": "b", "component": "arachne.core.passthrough"},
            ],
            "edges": [{"id": "e", "source": "b:out", "target": "nowhere:in"}],
        }
        answer = api.post("/api/validate", json=broken).json()
        assert answer["valid"] is False
        assert [p["path"] for p in answer["problems"]] == ["edges[0].target.node"]
        fixed_edge = {**broken, "edges": []}
        answer = api.post("/api/validate", json=fixed_edge).json()
        (problem,) = answer["problems"]
        assert problem["path"] == "nodes[0]"  # a component's config check, placed
        assert problem["message"].startswith("nodes[0].config: ")  # (its path said once)
        loaded = api.post("/api/graphs", json=fixed_edge)
        assert loaded.status_code == 400
        assert loaded.json()["error"]["problems"] == answer["problems"]
        assert api.get("/api/graphs").json() == []
        good = api.post("/api/validate", json=GRAPH_EXAMPLE).json()
        assert (good["valid"], good["problems"]) == (True, [])
    finally:
        served.stop()
