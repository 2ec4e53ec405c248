"""Executions' events over Socket.IO on the service's port, driven by the python-socketio client.

Covers every event of the service document's two tables, the per-message events' numbers and
coalescing, the handshake's authentication and Origin check, and what a viewer may do.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import pytest
import socketio

from arachne.server import ServerSettings
from arachne.server.app import GRAPH_EXAMPLE
from tests.server.test_api import BOUND, Served

SERVER_EVENTS = (
    "execution:started",
    "execution:paused",
    "execution:resumed",
    "execution:completed",
    "execution:failed",
    "execution:cancelled",
    "port:emit",
    "component:invoked",
    "metrics:update",
    "stream:dropped",
    "error",
)


class Listener:
    """A connected python-socketio client; its server events wait in a queue per name."""

    def __init__(self, served: Served, **connect: Any) -> None:
        self.client = socketio.Client(reconnection=False)
        self.queues: dict[str, queue.Queue[Any]] = {name: queue.Queue() for name in SERVER_EVENTS}
        for name in SERVER_EVENTS:
            self.client.on(name, self.queues[name].put)
        self.client.connect(
            str(served.client.base_url), transports=["websocket"], wait_timeout=BOUND, **connect
        )

    def call(self, event: str, **data: Any) -> dict[str, Any]:
        """Emit ``event`` and return its acknowledgement."""
        answer: dict[str, Any] = self.client.call(event, data, timeout=BOUND)
        return answer

    def next(self, name: str) -> Any:
        """Return the data of the next event named ``name`` not yet taken."""
        try:
            return self.queues[name].get(timeout=BOUND)
        except queue.Empty:
            raise AssertionError(f"no {name} within {BOUND} s") from None

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def served() -> Iterator[Served]:
    running = Served(ServerSettings(max_events_per_second=1000))
    try:
        yield running
    finally:
        running.stop()


def test_the_quick_reference_socket_flow_sees_each_hop_and_the_end(served: Served) -> None:
    graph_id = served.client.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    ex = served.client.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
    listener = Listener(served)
    try:
        assert listener.call("execution:subscribe", executionId=ex) == {
            "ok": True,
            "executionId": ex,
        }
        assert listener.next("execution:started")["executionId"] == ex
        injected = served.client.post(
            f"/api/executions/{ex}/inject", json={"nodeId": "input", "port": "in", "value": 21}
        )
        assert injected.status_code == 202
        hops = {}
        while len(hops) < 2:
            msg = listener.next("port:emit")
            hops[msg["edgeId"]] = msg
        first, second = hops["e1"], hops["e2"]
        assert (first["sourceNode"], first["sourcePort"]) == ("input", "out")
        assert (first["targetNode"], first["targetPort"], first["value"]) == ("double", "in", 21)
        assert (second["sourceNode"], second["targetNode"], second["value"]) == (
            "double",
            "output",
            42,
        )
        assert (first["sequence"], first["coalesced"], first["executionId"]) == (1, 0, ex)
        invoked: dict[str, int] = {}
        while sum(invoked.values()) < 3:  # one message handed to each node
            call = listener.next("component:invoked")
            assert (call["executionId"], call["port"]) == (ex, "in")
            invoked[call["nodeId"]] = invoked.get(call["nodeId"], 0) + call["count"]
        assert invoked == {"input": 1, "double": 1, "output": 1}
        metrics = listener.next("metrics:update")
        assert metrics["executionId"] == ex
        assert metrics["metrics"]["messagesProcessed"] == 3
        assert listener.call("execution:stop", executionId=ex)["ok"]
        done = listener.next("execution:completed")
        assert done["metrics"]["messagesProcessed"] == 3
    finally:
        listener.close()


def test_every_client_event_over_socketio(served: Served) -> None:
    graph_id = served.client.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    listener = Listener(served)
    try:
        started = listener.call("execution:start", graphId=graph_id)
        assert started["ok"]
        ex = started["executionId"]
        assert listener.next("execution:started") == {
            "executionId": ex,
            "graphId": graph_id,
            "state": "running",
        }
        assert listener.call("execution:pause", executionId=ex)["ok"]
        assert listener.next("execution:paused") == {"executionId": ex, "state": "paused"}
        for value in (1, 2, 3):
            listener.call(
                "execution:inject", executionId=ex, nodeId="input", port="in", value=value
            )
        assert listener.call("execution:resume", executionId=ex)["ok"]
        assert listener.next("execution:resumed") == {"executionId": ex, "state": "running"}
        seen, last = 0, None
        while seen < 3:  # each event stands for itself and the messages folded into it
            msg = listener.next("port:emit")
            if msg["edgeId"] == "e2":
                seen += 1 + msg["coalesced"]
                last = msg
        assert last is not None
        assert (last["value"], last["sequence"]) == (6, 3)
        assert listener.call("execution:unsubscribe", executionId=ex)["ok"]
        listener.call("execution:inject", executionId=ex, nodeId="input", port="in", value=9)
        assert listener.call("execution:subscribe", executionId=ex)["ok"]
        assert listener.call("execution:stop", executionId=ex)["ok"]
        assert listener.next("execution:completed")["executionId"] == ex
    finally:
        listener.close()


def test_a_failed_execution_is_told(served: Served) -> None:
    failing = {
        **GRAPH_EXAMPLE,
        "nodes": [
            {"id": "input", "component": "symbia.core.passthrough"},
            {
                "id": "double",
                "component": "symbia.core.map",
                "config": {"expression": "value.nothing.here"},
                "errors": "fail",
            },
            {"id": "output", "component": "symbia.core.logger"},
        ],
    }
    loaded = served.client.post("/api/graphs", json=failing)
    assert loaded.status_code == 201, loaded.text
    listener = Listener(served)
    try:
        ex = listener.call("execution:start", graphId=loaded.json()["id"])["executionId"]
        listener.call("execution:inject", executionId=ex, nodeId="input", port="in", value=1)
        failed = listener.next("execution:failed")
        assert failed["executionId"] == ex
        assert "double" in failed["error"]["message"]
    finally:
        listener.close()


def test_bad_requests_are_answered_and_the_connection_stays(served: Served) -> None:
    listener = Listener(served)
    try:
        answer = listener.call("execution:subscribe", executionId="exec-nope")
        assert answer["error"]["code"] == "not_found"
        assert listener.next("error")["code"] == "not_found"
        answer = listener.call("execution:inject", executionId=7)
        assert answer["error"]["code"] == "invalid_request"
        assert "executionId" in answer["error"]["message"]
        answer = listener.call("execution:explode")
        assert "unknown event" in answer["error"]["message"]
        answer = listener.call("execution:subscribe", executionid="exec-1")  # (lower-case id)
        assert answer["error"]["message"] == (
            "execution:subscribe: data.executionId is missing (given: executionid); add it"
        )
        assert listener.client.connected
    finally:
        listener.close()


def test_the_handshake_authenticates_and_a_viewer_only_watches() -> None:
    keys = "viewer-key-0123456789=viewer,operator-key-012345=operator"
    served = Served(ServerSettings(api_keys=keys))
    try:
        graph_id = served.client.post(
            "/api/graphs", json=GRAPH_EXAMPLE, headers={"X-API-Key": "operator-key-012345"}
        )
        assert graph_id.status_code == 403  # admin only: the operator may not load graphs
        with pytest.raises(socketio.exceptions.ConnectionError):
            Listener(served)  # no credentials
        with pytest.raises(socketio.exceptions.ConnectionError):
            Listener(served, auth={"token": "not-a-key-at-all-000"})
        viewer = Listener(served, auth={"token": "viewer-key-0123456789"})
        try:
            answer = viewer.call("execution:start", graphId="graph-x")
            assert answer["error"]["code"] == "forbidden"
        finally:
            viewer.close()
        operator = Listener(served, headers={"X-API-Key": "operator-key-012345"})
        try:
            answer = operator.call("execution:start", graphId="graph-x")
            assert answer["error"]["code"] == "not_found"  # allowed; no such graph
        finally:
            operator.close()
    finally:
        served.stop()
