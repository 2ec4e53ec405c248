"""filter, map and split: expressions compiled once, routing exactly as documented."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest

from arachne import ErrorRecord, NodeFailed, Runtime, Subgraph
from arachne.components import Registry
from arachne.components.builtins import Filter, Map, Split
from arachne.components.builtins._expression import truthy
from arachne.model.errors import ExpressionError, SpecError
from tests.components.builtins.helpers import Collect, line, run, source


def routed(
    node: Filter | Split, values: list[object], ports: tuple[str, ...]
) -> dict[str, list[Any]]:
    graph = Subgraph()
    graph.add_node(source(values))
    graph.add_node(node)
    graph.connect(("src", "out"), (node.name(), "in"))
    sinks = {}
    for port in ports:
        sinks[port] = Collect(f"to_{port}")
        graph.add_node(sinks[port])
        graph.connect((node.name(), port), (f"to_{port}", "in"))
    run(graph)
    return {port: sink.payloads for port, sink in sinks.items()}


def test_filter_routes_to_out_rejected_and_error() -> None:
    node = Filter(predicate="value.n > 10")
    got = routed(node, [{"n": 11}, {"n": 3}, None, {"n": 20}], ("out", "rejected", "error"))
    assert got["out"] == [{"n": 11}, {"n": 20}]
    assert got["rejected"] == [{"n": 3}]
    [record] = got["error"]
    assert isinstance(record, ErrorRecord)
    assert (record.node_id, record.port, record.payload) == ("filter", "in", None)
    assert record.error_type == "ExpressionError"
    assert "cannot read property 'n' of null" in record.error


def test_filter_without_an_error_edge_logs_skips_and_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    graph, sink = line(source([1, None, 12, 30]), Filter(predicate="value.toFixed(0) > 10"))
    runtime = run(graph)
    assert sink.payloads == [12, 30]
    stats = runtime.stats()
    assert stats.state == "completed"
    assert (stats.nodes["filter"].errors, stats.nodes["filter"].skipped) == (1, 1)
    assert any("skipped a message" in r.getMessage() for r in caplog.records)


def test_filter_fails_the_run_when_its_policy_is_fail() -> None:
    node = Filter(predicate="value.n > 1")
    node.error_policy = "fail"  # type: ignore[assignment, misc]
    graph, _ = line(source([None]), node)
    runtime = Runtime()
    runtime.register(graph)
    with pytest.raises(NodeFailed, match="raised ExpressionError"):
        runtime.run()


def test_filter_uses_javascript_truthiness() -> None:
    node = Filter(predicate="value")
    values: list[object] = [[], {}, "", "x", 0, 0.0, math.nan, 1, None, False, True]
    got = routed(node, values, ("out", "rejected"))
    assert got["out"] == [[], {}, "x", 1, True]
    assert got["rejected"][:3] == ["", 0, 0.0]
    assert math.isnan(got["rejected"][3])
    assert got["rejected"][4:] == [None, False]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], True),
        ({}, True),
        ("", False),
        (0, False),
        (-0.0, False),
        (math.nan, False),
        (math.inf, True),
        (None, False),
        (False, False),
        (2, True),
    ],
)
def test_truthy_follows_javascript(value: object, expected: bool) -> None:
    assert truthy(value) is expected


def test_map_transforms_each_value() -> None:
    graph, sink = line(source([21, 1.5, -2]), Map(expression="value * 2"))
    run(graph)
    assert sink.payloads == [42, 3.0, -4]


def test_map_extracts_nested_fields_and_undefined_is_null() -> None:
    values = [{"data": {"items": [1, 2]}}, {"data": {}}]
    graph, sink = line(source(values), Map(expression="value.data.items"))
    run(graph)
    assert sink.payloads == [[1, 2], None]


def test_map_sends_a_throwing_value_to_error() -> None:
    graph, sink = line(
        source([{"a": {"b": 1}}, {}, {"a": {"b": 2}}]), Map(expression="value.a.b"), errors="map"
    )
    run(graph)
    assert sink.payloads == [1, 2]
    errors = next(m.unit for m in graph.members if m.id == "errors")
    assert isinstance(errors, Collect)
    [record] = errors.payloads
    assert record.payload == {}
    assert "cannot read property 'b' of undefined" in record.error


def test_split_branches_on_the_condition() -> None:
    node = Split(condition="value.status === 'active'")
    values = [{"status": "active"}, {"status": "gone"}, 5, {"status": "active", "n": 2}]
    got = routed(node, values, ("true", "false", "error"))
    assert got["true"] == [{"status": "active"}, {"status": "active", "n": 2}]
    assert got["false"] == [{"status": "gone"}, 5]
    assert got["error"] == []


def test_split_sends_a_throwing_condition_to_error() -> None:
    got = routed(Split(condition="value.a.b"), [{"a": {"b": 0}}, {}], ("true", "false", "error"))
    assert got["false"] == [{"a": {"b": 0}}]
    assert [r.payload for r in got["error"]] == [{}]


def test_split_ports_are_true_and_false() -> None:
    node = Split(condition="value")
    assert list(node.output_specs()) == ["true", "false"]


def test_a_runaway_expression_is_stopped_and_reported() -> None:
    node = Map(expression="(() => { while (true) {} })()")
    graph, sink = line(source([1]), node, errors="map")
    run(graph)
    assert sink.payloads == []
    errors = next(m.unit for m in graph.members if m.id == "errors")
    assert isinstance(errors, Collect)
    assert "time limit" in errors.payloads[0].error


@pytest.mark.parametrize(
    ("component", "key"),
    [
        ("symbia.core.filter", "predicate"),
        ("symbia.core.map", "expression"),
        ("symbia.core.split", "condition"),
    ],
)
def test_a_syntax_error_is_a_spec_error_at_build(component: str, key: str) -> None:
    registry = Registry.default()
    with pytest.raises(SpecError, match=r"nodes\[3\]\.config: expression 'value >' is not valid"):
        registry.create(component, {key: "value >"}, where="nodes[3]")
    with pytest.raises(SpecError, match=f"'{key}' is a required property"):
        registry.create(component, {})
    with pytest.raises(SpecError, match=rf"config\.{key}: found 3"):
        registry.create(component, {key: 3})


def test_expressions_compile_once_when_the_node_is_built() -> None:
    with pytest.raises(ExpressionError):
        Filter(predicate="value >")
    node = Map(expression="value + 1")
    assert node.expression.source == "value + 1"
