"""A config value marked secret is never shown back: not in responses, events, logs or metrics.

A sentinel travels as a request header of an http-request node (its ``headers`` are secret)
through everything the service does with a graph, and is looked for in all it says.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from arachne.components.config import SECRET
from arachne.server import ServerSettings
from tests.server.test_api import Served, eventually
from tests.server.test_socketio import Listener

SENTINEL = "SENTINEL-7f3a9c-do-not-show"


def graph(base_url: str, token: str) -> dict[str, Any]:
    return {
        "arachne": "1.0",
        "name": "calls",
        "nodes": [
            {"id": "input", "component": "arachne.core.passthrough"},
            {
                "id": "call",
                "component": "arachne.io.http-request",
                "config": {
                    "url": f"{base_url}/healthz",
                    "headers": {"Authorization": f"Bearer {token}"},
                },
            },
            {"id": "output", "component": "arachne.core.logger"},
        ],
        "edges": [
            {"source": {"node": "input", "port": "out"}, "target": {"node": "call", "port": "in"}},
            {"source": {"node": "call", "port": "out"}, "target": {"node": "output", "port": "in"}},
        ],
    }


def test_a_sentinel_secret_appears_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    served = Served(ServerSettings())
    said: list[str] = []  # every response and event the service sent

    def seen(response: Any) -> Any:
        said.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response

    try:
        api = served.client
        base = str(api.base_url)
        bad = graph(base, SENTINEL)
        bad["nodes"][1]["config"]["headers"] = {"Authorization": [SENTINEL]}  # not a string
        refused = seen(api.post("/api/graphs", json=bad))
        assert refused.status_code == 400
        assert "config.headers.Authorization" in refused.text
        pasted = graph(base, SENTINEL + "\n")  # a token pasted with its line break
        refused = seen(api.post("/api/graphs", json=pasted))
        assert refused.status_code == 400
        assert "config.headers.Authorization" in refused.text
        loaded = seen(api.post("/api/graphs", json=graph(base, SENTINEL)))
        assert loaded.status_code == 201, loaded.text
        graph_id = loaded.json()["id"]
        shown = seen(api.get(f"/api/graphs/{graph_id}")).json()
        assert shown["definition"]["nodes"][1]["config"]["headers"] == SECRET
        assert shown["definition"]["nodes"][1]["config"]["url"].endswith("/healthz")
        seen(api.get("/api/graphs"))
        ex = seen(api.post(f"/api/graphs/{graph_id}/execute")).json()["executionId"]
        listener = Listener(served)
        try:
            listener.call("execution:subscribe", executionId=ex)
            seen(
                api.post(
                    f"/api/executions/{ex}/inject",
                    json={"nodeId": "input", "port": "in", "value": 1},
                )
            )
            out = listener.next("port:emit")
            while out["sourceNode"] != "call":
                out = listener.next("port:emit")
            assert out["value"] == {"status": "ok"}  # the call was made, with its header
            base_ex = f"/api/executions/{ex}"
            seen(api.put(f"{base_ex}/commit-mode", json={"mode": "manual"}))
            new = {"url": f"{base}/healthz", "headers": {"Authorization": f"{SENTINEL}-2"}}
            seen(api.patch(f"{base_ex}/nodes/call", json={"config": new}))
            plan = seen(api.get(f"{base_ex}/plan")).json()
            assert "~ node call config headers: '[secret]' -> '[new secret]'" in plan["text"]
            graphs = seen(api.get(f"{base_ex}/graph")).json()
            assert graphs["desired"]["nodes"][1]["config"]["headers"] == SECRET
            seen(api.post(f"{base_ex}/commit"))
            wrong = seen(
                api.patch(
                    f"{base_ex}/nodes/call", json={"config": {**new, "headers": {"A": [SENTINEL]}}}
                )
            )
            assert wrong.status_code == 400
            for path in ("", "/metrics"):
                seen(api.get(f"{base_ex}{path}"))
            seen(api.get("/api/executions"))
            seen(api.get("/metrics"))
            seen(api.post(f"{base_ex}/stop"))
            eventually(lambda: api.get(base_ex).json()["state"] == "completed")
            listener.next("execution:completed")
        finally:
            listener.close()
        for name, waiting in listener.queues.items():
            while not waiting.empty():
                said.append(f"{name} {json.dumps(waiting.get())}")
    finally:
        served.stop()
    assert said
    for text in said:
        assert SENTINEL not in text
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert "calls" in logged or ex in logged  # the run was logged at all
    assert SENTINEL not in logged
