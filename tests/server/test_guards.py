"""What the service refuses, and how: found by a review that attacked it (a real server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from arachne.server import ServerSettings
from arachne.server.app import GRAPH_EXAMPLE
from tests.server.test_api import BOUND, Served, eventually


@pytest.fixture
def served() -> Iterator[Served]:
    running = Served(ServerSettings(max_concurrent_executions=2, max_graphs=3))
    try:
        yield running
    finally:
        running.stop()


def test_a_chunked_body_past_the_bound_is_refused_as_it_arrives(served: Served) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * 65_536  # 4 MiB in all, no Content-Length

    for path in ("/api/graphs", "/api/executions/exec-none/inject"):
        refused = served.client.post(path, content=chunks())
        assert refused.status_code == 413, refused.text
        assert refused.json()["error"]["code"] == "body_too_large"


def test_without_authentication_only_local_requests_are_served(served: Served) -> None:
    api = served.client
    rebound = api.post("/api/graphs", json=GRAPH_EXAMPLE, headers={"Host": "attacker.example"})
    assert rebound.status_code == 403
    assert rebound.json()["error"]["code"] == "not_local"
    page = api.post(
        "/api/graphs",
        content=json.dumps(GRAPH_EXAMPLE),
        headers={"Origin": "http://attacker.example", "Content-Type": "text/plain"},
    )
    assert page.status_code == 403
    assert api.get("/api/graphs", headers={"Origin": "http://localhost:3000"}).status_code == 200
    assert api.get("/api/graphs").json() == []  # nothing was loaded


def test_unknown_routes_methods_and_nesting_are_answered_in_json(served: Served) -> None:
    api = served.client
    missing = api.get("/api/nothing")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    wrong = api.put("/api/graphs")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")
    assert wrong.headers["Allow"] == "GET, POST"
    deep = api.post(
        "/api/graphs",
        content=b"[" * 100_000 + b"]" * 100_000,
        headers={"content-type": "application/json"},
    )
    assert deep.status_code == 400
    assert deep.json()["error"]["code"] == "invalid_json"


def test_executions_are_forgotten_and_limits_told(served: Served) -> None:
    api = served.client
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    first = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
    api.post(f"/api/graphs/{graph_id}/execute")
    full = api.get("/readyz")
    assert (full.status_code, full.json()["status"]) == (503, "full")
    running = api.delete(f"/api/executions/{first}")
    assert (running.status_code, running.json()["error"]["code"]) == (409, "execution_running")
    api.post(f"/api/executions/{first}/stop")
    eventually(lambda: api.get(f"/api/executions/{first}").json()["state"] == "completed")
    assert api.delete(f"/api/executions/{first}").status_code == 204
    assert api.get(f"/api/executions/{first}").status_code == 404
    assert api.get("/readyz").status_code == 200
    for _ in range(2):
        api.post("/api/graphs", json=GRAPH_EXAMPLE)
    too_many = api.post("/api/graphs", json=GRAPH_EXAMPLE)
    assert (too_many.status_code, too_many.json()["error"]["code"]) == (429, "too_many_graphs")


def test_executes_at_once_from_many_threads_are_all_answered(served: Served) -> None:
    api = served.client
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    statuses: list[int] = []

    def execute() -> None:
        with httpx.Client(base_url=api.base_url, timeout=BOUND) as client:
            statuses.append(client.post(f"/api/graphs/{graph_id}/execute").status_code)

    threads = [threading.Thread(target=execute) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND)
    assert sorted(set(statuses)) == [201, 429]
    assert statuses.count(201) == 2
    states = [e["state"] for e in api.get("/api/executions").json()]
    assert len(states) == 2
    assert "pending" not in states


def test_live_changes_are_checked_before_anything_changes(served: Served) -> None:
    api = served.client
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    ex = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
    base = f"/api/executions/{ex}"
    eventually(lambda: api.get(base).json()["state"] == "running")
    nothing = api.patch(f"{base}/edges/e1", json={})
    assert (nothing.status_code, "nothing to change" in nothing.text) == (400, True)
    unknown = api.patch(f"{base}/edges/nope", json={"capacity": 3})
    assert "unknown edge 'nope'" in unknown.json()["error"]["message"]
    huge = api.patch(f"{base}/edges/e1", json={"capacity": 10**15})
    assert huge.status_code == 422
    inject_edge = api.patch(
        f"{base}/edges/inject->input.in", json={"overflow": "fail", "capacity": 5}
    )
    assert inject_edge.status_code == 400
    added = api.post(f"{base}/nodes", json={"id": "a/b", "component": "arachne.core.logger"})
    assert added.status_code == 201
    assert api.delete(f"{base}/nodes/a/b").status_code == 200
    api.post(f"{base}/stop")
    eventually(lambda: api.get(base).json()["state"] == "completed")
    late = api.post(f"{base}/nodes", json={"id": "late", "component": "arachne.core.logger"})
    assert (late.status_code, late.json()["error"]["code"]) == (409, "execution_ended")


def test_bad_socket_frames_are_answered_and_the_socket_stays(served: Served) -> None:
    url = str(served.client.base_url).replace("http://", "ws://") + "/ws"
    with connect(url, open_timeout=BOUND) as socket:
        socket.send(b"\x00\x01")
        assert json.loads(socket.recv(timeout=BOUND))["data"]["code"] == "invalid_frame"
        socket.send("[" * 100_000)
        assert json.loads(socket.recv(timeout=BOUND))["data"]["code"] == "invalid_json"
        socket.send(json.dumps({"event": "execution:subscribe", "data": {"executionId": "x"}}))
        assert json.loads(socket.recv(timeout=BOUND))["data"]["code"] == "not_found"
