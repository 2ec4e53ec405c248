"""End to end with the built-in components: the Runtime Service's Quick Reference graph."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from arachne import IterSource, Runtime, Subgraph
from arachne.components import Registry
from arachne.spec import analyze, build, read_document
from tests.spec.components import Collect

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "documents"


@pytest.fixture
def builtins() -> Registry:
    return Registry.default()


def feed(sub: Subgraph, values: list[int], target: str) -> None:
    sub.add_node(IterSource(values), name="feed")
    sub.connect(("feed", "out"), (target, "in"))


def collect(sub: Subgraph, source: str, name: str) -> Collect:
    sink = Collect()
    sub.add_node(sink, name=name)
    sub.connect((source, "out"), (name, "in"))
    return sink


def test_21_in_gives_42_logged_at_output(
    builtins: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    doc = read_document(EXAMPLES / "quick_reference.json")
    assert doc.dialect == "symbia"
    report = analyze(doc)
    assert report.order == ("input", "double", "output")
    assert (report.inputs, report.outputs) == (("input",), ("output",))
    sub = build(doc, builtins)
    feed(sub, [21], "input")
    sink = collect(sub, "output", "sink")
    runtime = Runtime()
    runtime.register(sub)
    with caplog.at_level(logging.INFO):
        runtime.run()
    assert sink.payloads == [42]
    assert any(record.getMessage().endswith("42") for record in caplog.records)
    assert runtime.stats().state == "completed"


def test_the_yaml_example_routes_large_and_small_values(builtins: Registry) -> None:
    doc = read_document(EXAMPLES / "large_orders.yaml")
    sub = build(doc, builtins)
    feed(sub, [5, 21, 10, 11], "intake")
    large = collect(sub, "log", "large_sink")
    small = collect(sub, "small", "small_sink")
    runtime = Runtime()
    runtime.register(sub)
    runtime.run()
    assert large.payloads == [42, 22]
    assert small.payloads == [5, 10]
