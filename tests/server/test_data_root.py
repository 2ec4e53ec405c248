"""Graphs loaded over the API touch files only inside the data root (a real server on loopback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arachne.server import ServerSettings
from tests.server.test_api import Served, eventually


def copy_graph(source: str, sink: str) -> dict[str, Any]:
    return {
        "arachne": "1.0",
        "name": "copy",
        "nodes": [
            {"id": "read", "component": "arachne.io.jsonl-source", "config": {"path": source}},
            {
                "id": "double",
                "component": "arachne.core.map",
                "config": {"expression": "value * 2"},
            },
            {"id": "write", "component": "arachne.io.jsonl-sink", "config": {"path": sink}},
        ],
        "edges": [
            {"source": {"node": "read", "port": "out"}, "target": {"node": "double", "port": "in"}},
            {
                "source": {"node": "double", "port": "out"},
                "target": {"node": "write", "port": "in"},
            },
        ],
    }


def test_a_graph_reads_and_writes_inside_the_root_and_nothing_outside(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "in.jsonl").write_text("1\n2\n3\n")
    (tmp_path / "secret.jsonl").write_text("99\n")
    served = Served(ServerSettings(data_root=str(root)))
    try:
        api = served.client
        loaded = api.post("/api/graphs", json=copy_graph("in.jsonl", "out/../out.jsonl"))
        assert loaded.status_code == 400
        assert "nodes[2].config.path" in loaded.json()["error"]["message"]
        for bad in ("../secret.jsonl", str(tmp_path / "secret.jsonl"), "%2e%2e/secret.jsonl"):
            refused = api.post("/api/graphs", json=copy_graph(bad, "out.jsonl"))
            assert refused.status_code == 400, bad
            assert "nodes[0].config.path" in refused.json()["error"]["message"]
        graph = api.post("/api/graphs", json=copy_graph("in.jsonl", "out.jsonl"))
        assert graph.status_code == 201, graph.text
        assert graph.json()["id"]
        stored = api.get(f"/api/graphs/{graph.json()['id']}").json()["definition"]
        assert stored["nodes"][0]["config"]["path"] == "in.jsonl"  # as sent
        ex = api.post(f"/api/graphs/{graph.json()['id']}/execute").json()["executionId"]
        eventually(lambda: api.get(f"/api/executions/{ex}").json()["state"] == "completed")
        lines = (root / "out.jsonl").read_text().splitlines()
        assert [json.loads(line) for line in lines] == [2, 4, 6]
    finally:
        served.stop()


@pytest.mark.parametrize("path", ["in.jsonl", "-"])
def test_without_a_data_root_graphs_over_the_api_get_no_files(path: str) -> None:
    served = Served(ServerSettings())
    try:
        refused = served.client.post("/api/graphs", json=copy_graph(path, "out.jsonl"))
        assert refused.status_code == 400
        assert "sets DATA_ROOT" in refused.json()["error"]["message"]
    finally:
        served.stop()


def test_the_store_must_lie_outside_the_data_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lies inside the data root .* keep it outside"):
        ServerSettings(data_root=str(tmp_path), store=str(tmp_path / "sub" / "service.db"))
    settings = ServerSettings(data_root=str(tmp_path), store=str(tmp_path.parent / "s.db"))
    assert settings.store is not None
