"""An event client's streams end cleanly: watches go with the client or with the execution,
a client that sends without reading is let go, and browser origins are checked."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from arachne.server import ServerSettings
from arachne.server.app import GRAPH_EXAMPLE
from tests.server.raw_client import RawClient
from tests.server.test_api import BOUND, Served, eventually
from tests.server.test_socketio import Listener


@pytest.fixture
def served() -> Iterator[Served]:
    running = Served(ServerSettings(max_ended_executions=1))
    try:
        yield running
    finally:
        running.stop()


def test_a_client_gone_during_a_start_leaves_no_watch_behind(served: Served) -> None:
    graph_id = served.client.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    service = served.app.state.service
    for _ in range(5):
        client = RawClient(served.client.base_url.port or 0)
        client.send("42" + json.dumps(["execution:start", {"graphId": graph_id}]))
        client.close()  # at once: the start may still be under way
    eventually(lambda: len(service.executions()) == 5)
    eventually(lambda: not served.app.state.sockets.streams)
    for ex in service.executions():
        eventually(lambda ex=ex: ex._watchers.watches == ())  # nobody watches: fused again


def test_an_ended_execution_is_let_go_by_the_client_that_followed_it(served: Served) -> None:
    graph_id = served.client.post("/api/graphs", json=GRAPH_EXAMPLE).json()["id"]
    listener = Listener(served)
    try:
        for _ in range(5):
            ex = listener.call("execution:start", graphId=graph_id)["executionId"]
            listener.call("execution:stop", executionId=ex)
            assert listener.next("execution:completed")["executionId"] == ex
        ((stream, _),) = served.app.state.sockets.streams.values()
        eventually(lambda: not stream.subscriptions and not stream.watches)
        assert len(served.app.state.service.executions()) == 1  # (MAX_ENDED_EXECUTIONS)
        answer = listener.call("execution:unsubscribe", executionId=ex)  # forgotten or not
        assert answer == {"ok": True, "executionId": ex}
    finally:
        listener.close()


def test_a_client_that_sends_without_reading_is_let_go(served: Served) -> None:
    sockets = served.app.state.sockets
    client = RawClient(served.client.base_url.port or 0)
    try:
        request = "42" + json.dumps(["execution:subscribe", {"executionId": "x" * 200}])
        deadline = time.monotonic() + 60
        sent = 0
        while sockets.streams or sent == 0:  # each answer is an error event, never read
            assert time.monotonic() < deadline, "the client was never let go"
            try:
                client.send(request)
            except OSError:
                break  # (the server closed the connection)
            sent += 1
        assert not sockets.streams
    finally:
        client.close()


def test_socket_origins_are_checked_with_authentication_on() -> None:
    key = "operator-key-0123456789"
    settings = ServerSettings(
        api_keys=SecretStr(f"{key}=operator"), allowed_origins="https://dash.example.com"
    )
    running = Served(settings)
    try:
        base = str(running.client.base_url).replace("http://", "ws://")
        url = f"{base}/socket.io/?EIO=4&transport=websocket"
        headers = {"X-API-Key": key}
        for origin in ("https://evil.example", "null"):
            with pytest.raises(InvalidStatus):
                connect(url, origin=origin, additional_headers=headers, open_timeout=BOUND)
        for origin in (
            "https://dash.example.com",
            f"http://127.0.0.1:{running.client.base_url.port}",
        ):
            with connect(
                url, origin=origin, additional_headers=headers, open_timeout=BOUND
            ) as sock:
                assert str(sock.recv(timeout=BOUND)).startswith("0")
                sock.send("40")
                assert str(sock.recv(timeout=BOUND)).startswith("40")  # let in
        with pytest.raises(InvalidStatus):  # the plain WebSocket too
            connect(
                f"{base}/ws",
                origin="https://evil.example",
                additional_headers=headers,
                open_timeout=BOUND,
            )
    finally:
        running.stop()
