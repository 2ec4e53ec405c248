"""The I/O and data built-ins through graph documents, and config errors of every built-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arachne.model.errors import SpecError
from arachne.spec import build, parse_document
from tests.components.builtins.documents import Files, document, edge, node, run_document
from tests.components.builtins.http_server import LocalServer


def test_jsonl_source_to_sink_copies_values_and_reports_bad_lines(tmp_path: Path) -> None:
    files = Files(tmp_path, [{"a": 1}, [2], "three"])
    with files.input.open("a", encoding="utf-8") as handle:
        handle.write("\n{bad json\n4\n")
    doc = document(
        [files.source(), files.sink("out"), files.sink("errors")],
        [edge("src.out", "out.in"), edge("src.error", "errors.in")],
    )
    run_document(doc)
    assert files.read("out") == [{"a": 1}, [2], "three", 4]
    [record] = files.read("errors")
    assert record["node_id"] == "src"
    assert "line 5, column 2: not JSON" in record["error"]


def test_json_transform_selects_and_reports_type_errors(tmp_path: Path) -> None:
    files = Files(tmp_path, [{"items": [1, 2, 3]}, {"items": 7}])
    doc = document(
        [
            files.source(),
            node("count", "symbia.data.json-transform", expression="length(items)"),
            files.sink("out"),
            files.sink("errors"),
        ],
        [
            edge("src.out", "count.in"),
            edge("count.out", "out.in"),
            edge("count.error", "errors.in"),
        ],
    )
    run_document(doc)
    assert files.read("out") == [3]
    assert [e["error_type"] for e in files.read("errors")] == ["JMESPathTypeError"]


def test_http_request_document_with_errors_routed(tmp_path: Path, server: LocalServer) -> None:
    files = Files(tmp_path, [f"{server.url}/echo?q=1", f"{server.url}/status/500", {"x": 1}])
    doc = document(
        [
            files.source(),
            node(
                "get",
                "symbia.io.http-request",
                retries=1,
                backoff_ms=0,
                timeout_ms=2000,
                output="response",
            ),
            node("status", "arachne.data.json-transform", expression="[status, body.query.q]"),
            files.sink("out"),
            files.sink("errors"),
        ],
        [
            edge("src.out", "get.in"),
            edge("get.out", "status.in"),
            edge("status.out", "out.in"),
            edge("get.error", "errors.in"),
        ],
    )
    run_document(doc)
    assert files.read("out") == [[200, "1"]]
    errors = sorted(files.read("errors"), key=lambda e: str(e["error_type"]))  # as they fail
    assert [e["error_type"] for e in errors] == ["HTTPStatusError", "ValueError"]
    assert "answered 500 Internal Server Error (after 2 attempts)" in errors[0]["error"]
    assert "unknown request field(s) 'x'" in errors[1]["error"]
    assert server.hits["/status/500"] == 2


@pytest.mark.parametrize(
    ("component", "config", "match"),
    [
        ("symbia.core.filter", {"predicate": "value >"}, "is not valid JavaScript"),
        ("symbia.core.map", {}, "'expression' is a required property"),
        ("symbia.core.split", {"condition": "value", "else": 1}, "Additional properties"),
        ("symbia.data.json-transform", {"expression": "a[?"}, "is not valid JMESPath"),
        ("symbia.core.delay", {"ms": "soon"}, r"config\.ms: found 'soon'"),
        ("symbia.core.accumulator", {"count": 0}, r"config\.count"),
        ("symbia.core.logger", {"level": "loud"}, r"config\.level"),
        ("symbia.core.merge", {"inputs": []}, r"config\.inputs"),
        ("symbia.core.passthrough", {"x": 1}, "known settings: none"),
        ("symbia.io.http-request", {"url": "localhost"}, r"config\.url"),
        ("arachne.io.jsonl-source", {}, "'path' is a required property"),
        ("arachne.io.jsonl-sink", {"path": 3}, r"config\.path"),
    ],
)
def test_bad_config_is_a_spec_error_naming_the_node(
    component: str, config: dict[str, Any], match: str
) -> None:
    doc = document(
        [
            node("ok", "symbia.core.passthrough"),
            {"id": "bad", "component": component, "config": config},
        ],
        [],
    )
    with pytest.raises(SpecError, match=r"nodes\[1\]") as caught:
        build(parse_document(doc))
    assert caught.match(match)


def test_an_unknown_port_of_a_builtin_is_reported(tmp_path: Path) -> None:
    doc = document(
        [
            node("keep", "symbia.core.filter", predicate="value"),
            node("p", "symbia.core.passthrough"),
        ],
        [edge("keep.matched", "p.in")],
    )
    with pytest.raises(SpecError, match="has no output port 'matched'.*out, rejected, error"):
        build(parse_document(doc))
