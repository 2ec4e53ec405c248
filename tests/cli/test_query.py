"""``arachne query``: a real service on loopback, asked through its REST routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from arachne.cli.main import app
from arachne.server import ServerSettings
from arachne.server.app import GRAPH_EXAMPLE
from tests.server.test_api import Served, eventually

KEY = "viewer-key-0123456789"


@pytest.fixture
def served() -> Iterator[Served]:
    server = Served(ServerSettings(api_keys=SecretStr(f"{KEY}=admin")))
    try:
        yield server
    finally:
        server.stop()


def url_of(served: Served) -> str:
    return str(served.client.base_url).rstrip("/")


def start(client: httpx.Client, **params: float) -> str:
    headers = {"X-API-Key": KEY}
    graph = client.post("/api/graphs", json=GRAPH_EXAMPLE, headers=headers).json()["id"]
    answer = client.post(f"/api/graphs/{graph}/execute", params=params, headers=headers)
    execution_id: str = answer.json()["executionId"]
    for value in (1, 2):
        client.post(
            f"/api/executions/{execution_id}/inject",
            json={"nodeId": "input", "port": "in", "value": value},
            headers=headers,
        )
    return execution_id


def ask(runner: CliRunner, served: Served, *args: str, key: str | None = KEY) -> Any:
    env = {"ARACHNE_API_KEY": key} if key is not None else {"ARACHNE_API_KEY": ""}
    return runner.invoke(app, ["query", *args, "--url", url_of(served)], env=env)


def test_query_prints_each_snapshot_as_the_service_answers_it(
    runner: CliRunner, served: Served
) -> None:
    execution_id = start(served.client, lineage=1)
    listed = ask(runner, served, "executions")
    assert listed.exit_code == 0, listed.output
    assert execution_id in [e["id"] for e in json.loads(listed.stdout)]
    for kind in ("topology", "flow", "load", "backpressure", "taints"):
        result = ask(runner, served, kind, execution_id)
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        assert body["executionId"] == execution_id
        assert len(body["digest"]) == 64
    lineage = eventually(
        lambda: (
            len(
                (
                    body := json.loads(
                        ask(runner, served, "lineage", execution_id, "--node", "output").stdout
                    )
                )["outputs"]
            )
            == 2
            and body
        )
    )
    assert [o["origins"][0]["value"] for o in lineage["outputs"]] == ["1", "2"]


def test_query_says_what_is_wrong(runner: CliRunner, served: Served) -> None:
    execution_id = start(served.client)
    cases = [
        (("nope", execution_id), "no query 'nope'"),
        (("flow",), "give its id"),
        (("lineage", execution_id), "add --node ID"),
        (("flow", execution_id, "--node", "x"), "--node is for 'lineage'"),
        (("lineage", execution_id, "--node", "output"), "answered 409: execution"),
        (("flow", "exec-nowhere"), "answered 404"),
    ]
    for args, message in cases:
        result = ask(runner, served, *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    refused = ask(runner, served, "flow", execution_id, key=None)
    assert refused.exit_code == 2
    assert "answered 401" in refused.output
    assert "ARACHNE_API_KEY" in refused.output


def test_query_of_nothing_names_the_fix(runner: CliRunner) -> None:
    result = runner.invoke(app, ["query", "executions", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "nothing answers at http://127.0.0.1:9" in result.output
    bad = runner.invoke(app, ["query", "executions", "--url", "ftp://x"])
    assert "give the service's address" in bad.output
