"""POST /api/components: the Runtime Service's example registers and runs (a real server)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from arachne.server import ServerSettings
from arachne.server.app import COMPONENT_EXAMPLE
from tests.server.test_api import Served, eventually


def squares_graph() -> dict[str, object]:
    return {
        "symbia": "1.0",
        "name": "Squares",
        "nodes": [
            {"id": "input", "component": "symbia.core.passthrough"},
            {"id": "square", "component": "custom.math.square"},
            {"id": "output", "component": "symbia.core.logger"},
        ],
        "edges": [
            {
                "source": {"node": "input", "port": "out"},
                "target": {"node": "square", "port": "in"},
            },
            {
                "source": {"node": "square", "port": "out"},
                "target": {"node": "output", "port": "in"},
            },
        ],
    }


def test_the_documents_example_registers_and_squares_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="arachne.node")
    served = Served(ServerSettings(allow_code=True))
    try:
        api = served.client
        added = api.post("/api/components", json=COMPONENT_EXAMPLE)
        assert added.status_code == 201, added.text
        body = added.json()
        assert body["id"] == "custom.math.square"
        assert body["execution"]["type"] == "javascript"
        assert "source" not in body["execution"]  # listed without its code
        listed = {c["id"] for c in api.get("/api/components").json()}
        assert "custom.math.square" in listed
        again = api.post("/api/components", json=COMPONENT_EXAMPLE)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "component_exists"

        graph = api.post("/api/graphs", json=squares_graph())
        assert graph.status_code == 201, graph.text
        ex = api.post(f"/api/graphs/{graph.json()['id']}/execute").json()["executionId"]
        for value in (21, 3):
            sent = api.post(
                f"/api/executions/{ex}/inject",
                json={"nodeId": "input", "port": "in", "value": value},
            )
            assert sent.status_code == 202, sent.text

        def logged() -> list[str]:
            out = [r.getMessage() for r in caplog.records if r.name.endswith("output")]
            return out if len(out) >= 2 else []

        assert eventually(logged) == ["441", "9"]
    finally:
        served.stop()


def test_code_components_are_refused_unless_the_service_takes_code() -> None:
    served = Served(ServerSettings())
    try:
        refused = served.client.post("/api/components", json=COMPONENT_EXAMPLE)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "code_disabled"
        assert "ARACHNE_ALLOW_CODE" in refused.json()["error"]["message"]
        graph = dict(squares_graph(), components=[COMPONENT_EXAMPLE])
        inline = served.client.post("/api/graphs", json=graph)
        assert inline.status_code == 400
        assert "components[0]" in inline.json()["error"]["message"]
    finally:
        served.stop()


def test_a_bad_definition_is_refused_naming_the_field() -> None:
    served = Served(ServerSettings(allow_code=True, code_ceilings='{"timeMs": 500}'))
    try:
        api = served.client
        cases = [
            ({**COMPONENT_EXAMPLE, "execution": {"type": "python", "source": "x"}}, "type"),
            (
                {**COMPONENT_EXAMPLE, "execution": {"type": "javascript", "source": "return {"}},
                "execution.source",
            ),
            (
                {
                    **COMPONENT_EXAMPLE,
                    "execution": {**COMPONENT_EXAMPLE["execution"], "limits": {"timeMs": 900}},
                },
                "over the operator's ceiling of 500",
            ),
            ({**COMPONENT_EXAMPLE, "id": "nodots"}, "body.id"),
        ]
        for definition, named in cases:
            refused = api.post("/api/components", json=definition)
            assert refused.status_code == 400, refused.text
            assert named in refused.json()["error"]["message"]
        graph = dict(squares_graph(), components=[COMPONENT_EXAMPLE])  # defined by the graph
        assert api.post("/api/graphs", json=graph).status_code == 201
        assert "custom.math.square" not in {c["id"] for c in api.get("/api/components").json()}
    finally:
        served.stop()


def test_the_ceilings_setting_is_checked_when_the_service_starts() -> None:
    with pytest.raises(ValueError, match="unknown limit 'time'"):
        ServerSettings(code_ceilings='{"time": 5}')


def test_only_an_admin_registers_code_or_validates_a_document_that_carries_it() -> None:
    keys = {"viewer": "v" * 20, "admin": "a" * 20}
    settings = ServerSettings(
        allow_code=True,
        api_keys=SecretStr(",".join(f"{key}={role}" for role, key in keys.items())),
    )
    served = Served(settings)
    try:
        api = served.client
        as_viewer, as_admin = {"X-API-Key": keys["viewer"]}, {"X-API-Key": keys["admin"]}
        graph = dict(squares_graph(), components=[COMPONENT_EXAMPLE])
        assert (
            api.post("/api/components", json=COMPONENT_EXAMPLE, headers=as_viewer).status_code
            == 403
        )
        refused = api.post("/api/validate", json=graph, headers=as_viewer)
        assert refused.status_code == 403
        assert "only an admin" in refused.json()["error"]["message"]
        checked = api.post("/api/validate", json=graph, headers=as_admin)
        assert checked.status_code == 200
        assert checked.json()["valid"] is True
        plain = api.post("/api/validate", json=squares_graph(), headers=as_viewer)
        assert plain.status_code == 200  # no code in it: a viewer may check it
    finally:
        served.stop()


def test_components_registered_over_the_api_outlive_the_service_with_a_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = str(tmp_path / "service.db")
    first = Served(ServerSettings(allow_code=True, store=store))
    try:
        assert first.client.post("/api/components", json=COMPONENT_EXAMPLE).status_code == 201
        graph_id = first.client.post("/api/graphs", json=squares_graph()).json()["id"]
    finally:
        first.stop()
    again = Served(ServerSettings(allow_code=True, store=store))
    try:
        listed = {c["id"] for c in again.client.get("/api/components").json()}
        assert "custom.math.square" in listed
        assert again.client.get(f"/api/graphs/{graph_id}").status_code == 200
    finally:
        again.stop()
    with caplog.at_level(logging.WARNING, logger="arachne.server"):
        without = Served(ServerSettings(store=store))  # code not taken: said, not hidden
        try:
            assert without.client.get(f"/api/graphs/{graph_id}").status_code == 404
        finally:
            without.stop()
    assert any("start the service with --allow-code" in r.getMessage() for r in caplog.records)
