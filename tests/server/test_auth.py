"""Who may do what: every route and socket event against every kind of caller.

A real server on 127.0.0.1 with API keys and an HS256 JWT secret configured; each route is
called with no credentials, a bad token, an expired token, a token for another audience, and
as each role (by API key and by JWT). Callers below a route's role get 403, unknown ones 401.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from arachne.server import ServerSettings
from arachne.server.app import GRAPH_EXAMPLE
from tests.server.test_api import BOUND, Served

SECRET = "a-test-secret-of-at-least-32-bytes!!"  # noqa: S105 (a test's own key)
KEYS = {
    "viewer": "viewer-key-0123456789",
    "operator": "operator-key-0123456789",
    "admin": "admin-key-0123456789abc",
}
ROLES = ("viewer", "operator", "admin")

# (method, path, body, the least role allowed); {g} and {e} are a real graph and execution.
ROUTES: list[tuple[str, str, Any, str]] = [
    ("GET", "/api/graphs", None, "viewer"),
    ("GET", "/api/graphs/{g}", None, "viewer"),
    ("POST", "/api/graphs", {}, "admin"),
    ("DELETE", "/api/graphs/graph-none", None, "admin"),
    ("POST", "/api/graphs/graph-none/execute", None, "operator"),
    ("GET", "/api/executions", None, "viewer"),
    ("GET", "/api/executions/{e}", None, "viewer"),
    ("GET", "/api/executions/{e}/metrics", None, "viewer"),
    (
        "POST",
        "/api/executions/{e}/inject",
        {"nodeId": "input", "port": "in", "value": 1},
        "operator",
    ),
    ("POST", "/api/executions/exec-none/pause", None, "operator"),
    ("POST", "/api/executions/exec-none/resume", None, "operator"),
    ("POST", "/api/executions/exec-none/stop", None, "operator"),
    ("POST", "/api/executions/exec-none/nodes", {"id": "n", "component": "x"}, "operator"),
    ("PATCH", "/api/executions/exec-none/nodes/n", {"config": {}}, "operator"),
    ("DELETE", "/api/executions/exec-none/nodes/n", None, "operator"),
    (
        "POST",
        "/api/executions/exec-none/edges",
        {"source": {"node": "a", "port": "out"}, "target": {"node": "b", "port": "in"}},
        "operator",
    ),
    ("PATCH", "/api/executions/exec-none/edges/e1", {"capacity": 2}, "operator"),
    ("DELETE", "/api/executions/exec-none/edges/e1", None, "operator"),
    ("PUT", "/api/executions/exec-none/commit-mode", {"mode": "manual"}, "operator"),
    ("POST", "/api/executions/exec-none/commit", None, "operator"),
    ("GET", "/api/executions/{e}/plan", None, "viewer"),
    ("GET", "/api/executions/{e}/graph", None, "viewer"),
    ("GET", "/api/components", None, "viewer"),
    ("GET", "/metrics", None, "viewer"),
]


def token(role: str | None = "viewer", **claims: Any) -> str:
    key = claims.pop("key", SECRET)
    body: dict[str, Any] = {"aud": "arachne", "exp": int(time.time()) + 300, "sub": "tester"}
    if role is not None:
        body["role"] = role
    body.update(claims)
    return jwt.encode(body, key, algorithm="HS256")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Served, dict[str, str]]]:
    settings = ServerSettings(
        api_keys=SecretStr(",".join(f"{key}={role}" for role, key in KEYS.items())),
        jwt_secret=SecretStr(SECRET),
        jwt_audience="arachne",
    )
    running = Served(settings)
    admin = {"X-API-Key": KEYS["admin"]}
    graph_id = running.client.post("/api/graphs", json=GRAPH_EXAMPLE, headers=admin).json()["id"]
    ex = running.client.post(f"/api/graphs/{graph_id}/execute", headers=admin).json()
    try:
        yield running, {"g": graph_id, "e": ex["executionId"]}
    finally:
        running.stop()


def call(
    api: httpx.Client,
    route: tuple[str, str, Any, str],
    ids: dict[str, str],
    headers: dict[str, str],
) -> httpx.Response:
    method, path, body, _ = route
    return api.request(method, path.format(**ids), json=body, headers=headers)


def callers() -> dict[str, dict[str, str]]:
    """Who calls, and with what: made when a test runs, so no token expires on the way.

    (Made at import, the tokens valid for 5 minutes had expired by the time a long suite
    reached these tests.)
    """
    return {
        "nobody": {},
        "bad token": {"Authorization": "Bearer not-a-token"},
        "unknown key": {"X-API-Key": "someone-else-key-0123"},
        "expired": {"Authorization": f"Bearer {token('admin', exp=int(time.time()) - 10)}"},
        "other audience": {"Authorization": f"Bearer {token('admin', aud='someone-else')}"},
        "other secret": {"Authorization": f"Bearer {token('admin', key='x' * 40)}"},
        "no role": {"Authorization": f"Bearer {token(None)}"},
    }


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_every_route_lets_in_only_the_roles_it_should(
    served: tuple[Served, dict[str, str]], route: tuple[str, str, Any, str]
) -> None:
    running, ids = served
    api = running.client
    for who, headers in callers().items():
        answer = call(api, route, ids, headers)
        expected = 403 if who == "no role" else 401
        assert answer.status_code == expected, (who, answer.text)
        assert answer.json()["error"]["code"] in ("unauthenticated", "token_expired", "forbidden")
        if expected == 401:
            assert answer.headers["www-authenticate"].startswith("Bearer")
    assert call(api, route, ids, callers()["expired"]).json()["error"]["code"] == "token_expired"
    needed = ROLES.index(route[3])
    for index, role in enumerate(ROLES):
        for headers in ({"X-API-Key": KEYS[role]}, {"Authorization": f"Bearer {token(role)}"}):
            answer = call(api, route, ids, headers)
            if index < needed:
                assert answer.status_code == 403, (role, answer.text)
                assert f"needs the {route[3]} role" in answer.json()["error"]["message"]
            else:
                assert answer.status_code not in (401, 403), (role, answer.text)


def test_health_and_the_api_document_need_no_credentials(
    served: tuple[Served, dict[str, str]],
) -> None:
    api = served[0].client
    assert api.get("/healthz").status_code == 200
    assert api.get("/readyz").status_code == 200
    assert api.get("/openapi.json").status_code == 200


def test_the_socket_authenticates_and_a_viewer_may_only_watch(
    served: tuple[Served, dict[str, str]],
) -> None:
    running, ids = served
    url = str(running.client.base_url).replace("http://", "ws://") + "/ws"
    for bad in ("", "?token=nope"):
        with pytest.raises(InvalidStatus) as refused:
            connect(url + bad, open_timeout=BOUND)
        assert refused.value.response.status_code == 401  # told as HTTP, with the reason
        assert json.loads(refused.value.response.body)["error"]["code"] == "unauthenticated"
    with connect(f"{url}?token={token('viewer')}", open_timeout=BOUND) as socket:
        socket.send(json.dumps({"event": "execution:pause", "data": {"executionId": ids["e"]}}))
        frame = json.loads(socket.recv(timeout=BOUND))
        assert frame["event"] == "error"
        assert frame["data"]["code"] == "forbidden"
        socket.send(json.dumps({"event": "execution:subscribe", "data": {"executionId": ids["e"]}}))
        assert json.loads(socket.recv(timeout=BOUND))["event"] == "execution:started"
    with connect(url, additional_headers={"X-API-Key": KEYS["operator"]}, open_timeout=BOUND) as op:
        op.send(json.dumps({"event": "execution:subscribe", "data": {"executionId": ids["e"]}}))
        assert json.loads(op.recv(timeout=BOUND))["event"] == "execution:started"


def test_with_credentials_the_service_may_listen_beyond_loopback() -> None:
    settings = ServerSettings(host="0.0.0.0", api_keys=SecretStr(f"{KEYS['admin']}=admin"))  # noqa: S104
    assert settings.host == "0.0.0.0"  # noqa: S104
    with pytest.raises(ValueError, match="KEY=ROLE"):
        ServerSettings(api_keys=SecretStr("short=admin"))
    with pytest.raises(ValueError, match="KEY=ROLE"):
        ServerSettings(api_keys=SecretStr(f"{KEYS['admin']}=root"))


# (client event, its data, the least role allowed): over Socket.IO, on the service's port.
SOCKET_EVENTS: list[tuple[str, dict[str, Any], str]] = [
    ("execution:subscribe", {"executionId": "{e}"}, "viewer"),
    ("execution:unsubscribe", {"executionId": "{e}"}, "viewer"),
    ("execution:start", {"graphId": "graph-none"}, "operator"),
    ("execution:pause", {"executionId": "exec-none"}, "operator"),
    ("execution:resume", {"executionId": "exec-none"}, "operator"),
    ("execution:stop", {"executionId": "exec-none"}, "operator"),
    (
        "execution:inject",
        {"executionId": "exec-none", "nodeId": "a", "port": "in", "value": 1},
        "operator",
    ),
]


def socketio_client(running: Served, refusals: list[Any] | None = None, **connect_with: Any) -> Any:
    """A connected python-socketio client; a refusal's data lands in ``refusals``."""
    import socketio

    client = socketio.Client(reconnection=False)
    if refusals is not None:
        client.on("connect_error", refusals.append)
    client.connect(
        str(running.client.base_url), transports=["websocket"], wait_timeout=BOUND, **connect_with
    )
    return client


@pytest.mark.parametrize("who", list(callers()))
def test_the_socketio_handshake_refuses_every_unknown_caller(
    served: tuple[Served, dict[str, str]], who: str
) -> None:
    import socketio

    running, _ = served
    headers = callers()[who]
    refusals: list[Any] = []
    with pytest.raises(socketio.exceptions.ConnectionError):
        socketio_client(running, refusals, headers=headers)
    expected = {"no role": "forbidden", "expired": "token_expired"}.get(who, "unauthenticated")
    assert [refusal["data"]["code"] for refusal in refusals] == [expected]
    assert refusals[0]["message"]  # says what to send
    if "Authorization" in headers:  # the same token as auth data: refused the same way
        bearer = headers["Authorization"].removeprefix("Bearer ")
        with pytest.raises(socketio.exceptions.ConnectionError):
            socketio_client(running, auth={"token": bearer})


@pytest.mark.parametrize("role", ROLES)
def test_every_socketio_event_lets_in_only_the_roles_it_should(
    served: tuple[Served, dict[str, str]], role: str
) -> None:
    running, ids = served
    for connect_with in ({"auth": {"token": token(role)}}, {"headers": {"X-API-Key": KEYS[role]}}):
        client = socketio_client(running, **connect_with)
        try:
            for event, data, needed in SOCKET_EVENTS:
                sent = {
                    key: value.format(**ids) if isinstance(value, str) else value
                    for key, value in data.items()
                }
                answer = client.call(event, sent, timeout=BOUND)
                if ROLES.index(role) < ROLES.index(needed):
                    assert answer["ok"] is False, (role, event, answer)
                    assert answer["error"]["code"] == "forbidden", (role, event, answer)
                else:  # let in: it succeeds, or fails for another reason (no such thing)
                    assert answer["ok"] or answer["error"]["code"] != "forbidden", (role, event)
        finally:
            client.disconnect()
