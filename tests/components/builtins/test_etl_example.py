"""The Runtime Service's ETL example (Core Concepts): loads unchanged, runs against a server."""

from __future__ import annotations

import json
from pathlib import Path

from arachne import IterSource, Runtime
from arachne.spec import analyze, build, parse_document, read_document
from tests.components.builtins.http_server import LocalServer
from tests.runtime.nodes import Collect

ETL = Path(__file__).resolve().parents[3] / "examples" / "documents" / "etl_pipeline.json"


def test_the_etl_document_loads_unchanged() -> None:
    doc = read_document(ETL)
    assert doc.dialect == "symbia"
    report = analyze(doc)
    assert report.order == ("extract", "transform", "load")
    assert (report.inputs, report.outputs) == (("extract",), ("load",))
    assert build(doc) is not None


def test_the_etl_graph_extracts_transforms_and_loads(server: LocalServer) -> None:
    data = json.loads(ETL.read_text())
    data["nodes"][0]["config"]["url"] = f"{server.url}/data"  # no traffic beyond 127.0.0.1
    graph = build(parse_document(data))
    sink = Collect()
    graph.add_node(IterSource([None], name="trigger"))
    graph.add_node(sink)
    graph.connect(("trigger", "out"), ("extract", "in"))
    graph.connect(("load", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [[1, 2, 3]]
