"""json-transform: JMESPath compiled once; syntax errors at build, type errors per message."""

from __future__ import annotations

import pytest

from arachne import ErrorRecord
from arachne.components import Registry
from arachne.components.builtins import JsonTransform
from arachne.model.errors import SpecError
from tests.components.builtins.helpers import Collect, line, run, source

ITEMS = {"data": {"items": [{"name": "a", "on": True}, {"name": "b", "on": False}]}}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("data.items", ITEMS["data"]["items"]),
        ("data.items[?on].name", ["a"]),
        ("length(data.items)", 2),
        ("{first: data.items[0].name, n: length(data.items)}", {"first": "a", "n": 2}),
        ("missing.path", None),
    ],
)
def test_the_expression_selects_from_each_value(expression: str, expected: object) -> None:
    graph, sink = line(source([ITEMS]), JsonTransform(expression=expression))
    run(graph)
    assert sink.payloads == [expected]


@pytest.mark.parametrize(
    ("expression", "match"),
    [
        ("data.items[", "incomplete expression at position"),
        ("a ||| b", "invalid token '|' at position 4"),
        ("`bad", "Unclosed ` delimiter at position 0"),
    ],
)
def test_a_syntax_error_is_a_spec_error_at_build(expression: str, match: str) -> None:
    with pytest.raises(SpecError, match=rf"nodes\[2\]\.config: expression .* {match}"):
        Registry.default().create(
            "symbia.data.json-transform", {"expression": expression}, where="nodes[2]"
        )


def test_an_empty_or_missing_expression_is_refused() -> None:
    registry = Registry.default()
    with pytest.raises(SpecError, match="'expression' is a required property"):
        registry.create("arachne.data.json-transform", {})
    with pytest.raises(SpecError, match=r"config\.expression"):
        registry.create("arachne.data.json-transform", {"expression": ""})


def test_a_type_error_while_searching_goes_to_error_and_the_rest_flows() -> None:
    node = JsonTransform(expression="length(@)", name="jt")
    graph, sink = line(source(["abc", 5, [1, 2]]), node, errors="jt")
    runtime = run(graph)
    assert sink.payloads == [3, 2]
    errors = next(m.unit for m in graph.members if m.id == "errors")
    assert isinstance(errors, Collect)
    [record] = errors.payloads
    assert isinstance(record, ErrorRecord)
    assert (record.node_id, record.port, record.payload) == ("jt", "in", 5)
    assert record.error_type == "JMESPathTypeError"
    assert runtime.stats().nodes["jt"].skipped == 1
