"""Executions' events over the service's plain WebSocket, both ways (a real server on loopback)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from arachne.server import ServerSettings
from arachne.server.app import GRAPH_EXAMPLE
from tests.server.test_api import BOUND, Served


@pytest.fixture
def served() -> Iterator[Served]:
    running = Served(ServerSettings())
    try:
        yield running
    finally:
        running.stop()


def ws_url(served: Served) -> str:
    return str(served.client.base_url).replace("http://", "ws://") + "/ws"


def send(socket: ClientConnection, event: str, **data: Any) -> None:
    socket.send(json.dumps({"event": event, "data": data}))


def next_event(socket: ClientConnection, name: str) -> dict[str, Any]:
    """Return the data of the next frame named ``name`` (others are skipped)."""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        frame = json.loads(socket.recv(timeout=max(0.01, deadline - time.monotonic())))
        if frame["event"] == name:
            data: dict[str, Any] = frame["data"]
            return data
    raise AssertionError(f"no {name} within {BOUND} s")


def test_every_client_event_is_served_and_the_lifecycle_is_told(served: Served) -> None:
    api: httpx.Client = served.client
    graph_id = api.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    with connect(ws_url(served), open_timeout=BOUND) as socket:
        send(socket, "execution:start", graphId=graph_id)
        started = next_event(socket, "execution:started")
        assert (started["graphId"], started["state"]) == (graph_id, "running")
        ex = started["executionId"]
        send(socket, "execution:pause", executionId=ex)
        assert next_event(socket, "execution:paused") == {"executionId": ex, "state": "paused"}
        send(socket, "execution:inject", executionId=ex, nodeId="input", port="in", value=21)
        send(socket, "execution:resume", executionId=ex)
        assert next_event(socket, "execution:resumed")["state"] == "running"
        update = next_event(socket, "metrics:update")
        assert update["executionId"] == ex
        assert "messagesProcessed" in update["metrics"]
        send(socket, "execution:stop", executionId=ex)
        completed = next_event(socket, "execution:completed")
        assert completed["metrics"]["messagesProcessed"] == 3

        # A second execution, subscribed to by id; then unsubscribed: nothing more is told.
        other = api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
        send(socket, "execution:subscribe", executionId=other)
        assert next_event(socket, "execution:started")["executionId"] == other
        send(socket, "execution:unsubscribe", executionId=other)
        api.post(f"/api/executions/{other}/pause")
        send(socket, "execution:subscribe", executionId="exec-nope")
        error = next_event(socket, "error")  # the next frame told is the error, not a pause
        assert error["code"] == "not_found"


def test_bad_frames_are_answered_and_the_connection_stays(served: Served) -> None:
    with connect(ws_url(served), open_timeout=BOUND) as socket:
        socket.send("{not json")
        assert next_event(socket, "error")["code"] == "invalid_json"
        send(socket, "execution:explode")
        assert "unknown event 'execution:explode'" in next_event(socket, "error")["message"]
        send(socket, "execution:inject", executionId="x")
        assert next_event(socket, "error")["code"] == "not_found"
        socket.send(json.dumps({"event": "execution:pause", "data": []}))
        assert "data must be a JSON object" in next_event(socket, "error")["message"]


def test_a_page_from_elsewhere_may_not_connect(served: Served) -> None:
    with pytest.raises(InvalidStatus):
        connect(ws_url(served), origin="https://evil.example", open_timeout=BOUND)  # type: ignore[arg-type]
    with connect(ws_url(served), origin="http://127.0.0.1:3000", open_timeout=BOUND) as ok:  # type: ignore[arg-type]
        send(ok, "execution:explode")
        assert next_event(ok, "error")["code"] == "invalid_request"
