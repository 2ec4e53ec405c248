"""A node's `errors` key: the error policy a document sets, overriding the component's."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from arachne import IterSource, NodeFailed, Retry, Runtime, SpecError
from arachne.spec import DOCUMENT_SCHEMA, build, parse_document
from tests.runtime.nodes import Collect


def document(errors: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": "half",
        "component": "arachne.core.map",
        "config": {"expression": "value.a.b * 2"},
    }
    if errors is not None:
        node["errors"] = errors
    return {"arachne": "1.0", "name": "t", "nodes": [node], "edges": []}


@pytest.mark.parametrize(
    ("errors", "policy"),
    [
        ("fail", "fail"),
        ("skip", "skip"),
        ("dead_letter", "dead_letter"),
        ({"retry": {"max_attempts": 3, "backoff": 0.5}}, Retry(max_attempts=3, backoff=0.5)),
    ],
)
def test_errors_parse_round_trip_and_satisfy_the_schema(errors: Any, policy: Any) -> None:
    data = document(errors)
    jsonschema.validate(data, DOCUMENT_SCHEMA)
    doc = parse_document(data)
    assert doc.nodes[0].errors == policy
    assert parse_document(doc.to_dict()) == doc
    assert build(doc).members[0].unit.error_policy == policy  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "errors", ["ignore", 3, {"retry": {"max_attempts": "x"}}, {"retry": {"tries": 2}}]
)
def test_a_bad_policy_names_the_path_and_the_choices(errors: Any) -> None:
    with pytest.raises(SpecError, match=r"nodes\[0\]\.errors: .*write \"fail\", \"skip\""):
        parse_document(document(errors))


def run(errors: Any, values: list[Any]) -> tuple[Runtime, Collect]:
    graph = build(parse_document(document(errors)))
    sink = Collect()
    graph.add_node(IterSource(values, name="feed"))
    graph.add_node(sink)
    graph.connect(("feed", "out"), ("half", "in"))
    graph.connect(("half", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    return runtime, sink


def test_the_component_default_skips_and_fail_stops_the_run() -> None:
    runtime, sink = run(None, [{"a": {"b": 1}}, {}, {"a": {"b": 3}}])
    runtime.run()
    assert sink.payloads == [2, 6]
    assert runtime.stats().nodes["half"].skipped == 1
    runtime, sink = run("fail", [{"a": {"b": 1}}, {}, {"a": {"b": 3}}])
    with pytest.raises(NodeFailed, match="half"):
        runtime.run()
