"""passthrough, logger and merge: forwarding, logging, fan-in."""

from __future__ import annotations

import logging

import pytest

from arachne import Message, Runtime, Subgraph
from arachne.components import Registry
from arachne.components.builtins import Logger, Merge, Passthrough
from arachne.model.errors import SpecError
from tests.components.builtins.helpers import Collect, line, run, source


def test_passthrough_forwards_values_and_headers_unchanged() -> None:
    graph, sink = line(source([1, "two", {"three": [3]}, None]), Passthrough())
    run(graph)
    assert sink.payloads == [1, "two", {"three": [3]}, None]


def test_passthrough_keeps_trace_headers() -> None:
    graph, sink = line(source(range(3)), Passthrough())
    runtime = Runtime(trace=True)
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [0, 1, 2]
    assert runtime.stats().nodes["passthrough"].emitted == 3


def test_logger_logs_each_value_as_json_and_forwards_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="arachne.node")
    graph, sink = line(source([42, {"a": "é"}]), Logger(level="warning", prefix="seen: "))
    run(graph)
    assert sink.payloads == [42, {"a": "é"}]
    lines = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("arachne.node.logger", logging.WARNING, "seen: 42"),
        ("arachne.node.logger", logging.WARNING, 'seen: {"a":"é"}'),
    ]


def test_logger_below_the_level_logs_nothing_but_still_forwards(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="arachne.node")
    graph, sink = line(source([1]), Logger(level="debug"))
    run(graph)
    assert sink.payloads == [1]
    assert not [r for r in caplog.records if r.name.startswith("arachne.node")]


def test_logger_writes_values_json_cannot_hold_with_repr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="arachne.node")
    graph, sink = line(source([object]), Logger())
    run(graph)
    assert sink.payloads == [object]
    assert caplog.records[-1].getMessage() == "<class 'object'>"


def test_logger_refuses_an_unknown_level() -> None:
    with pytest.raises(ValueError, match="level 'loud'"):
        Logger(level="loud")
    with pytest.raises(SpecError, match=r"node\.config\.level: found 'loud'"):
        Registry.default().create("arachne.core.logger", {"level": "loud"})


def test_merge_takes_any_number_of_edges_on_in() -> None:
    graph = Subgraph()
    graph.add_node(source([1, 2, 3], name="a"))
    graph.add_node(source(["x", "y"], name="b"))
    graph.add_node(source([None], name="c"))
    graph.add_node(Merge())
    sink = Collect()
    graph.add_node(sink)
    for name in "abc":
        graph.connect((name, "out"), ("merge", "in"))
    graph.connect(("merge", "out"), ("sink", "in"))
    run(graph)
    assert sorted(sink.payloads, key=repr) == sorted([1, 2, 3, "x", "y", None], key=repr)
    assert [p for p in sink.payloads if isinstance(p, int)] == [1, 2, 3]


def test_merge_with_named_inputs_serves_each_in_turn() -> None:
    graph = Subgraph()
    graph.add_node(source(range(100), name="left"))
    graph.add_node(source(range(100, 103), name="right"))
    graph.add_node(Merge(inputs=["left", "right"]))
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("left", "out"), ("merge", "left"))
    graph.connect(("right", "out"), ("merge", "right"))
    graph.connect(("merge", "out"), ("sink", "in"))
    run(graph)
    assert sorted(sink.payloads) == list(range(103))
    assert [p for p in sink.payloads if p < 100] == list(range(100))


def test_merge_ports_come_from_the_config() -> None:
    node = Merge(inputs=["a", "b"])
    assert list(node.input_specs()) == ["a", "b"]
    assert list(node.output_specs()) == ["out"]
    assert dict(node.context.config) == {"inputs": ["a", "b"]}


@pytest.mark.parametrize("inputs", [[], ["a", "a"], ["error"], ["no spaces"], ["x.y"]], ids=repr)
def test_merge_refuses_bad_input_names(inputs: list[str]) -> None:
    with pytest.raises(ValueError, match="inputs must be distinct port names"):
        Merge(inputs=inputs)
    with pytest.raises(SpecError, match=r"node\.config\.inputs"):
        Registry.default().create("arachne.core.merge", {"inputs": inputs})


def test_an_unconnected_input_of_merge_does_not_hold_up_the_end() -> None:
    graph = Subgraph()
    graph.add_node(source([1], name="a"))
    graph.add_node(Merge(inputs=["a", "b"]))
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("a", "out"), ("merge", "a"))
    graph.connect(("merge", "out"), ("sink", "in"))
    runtime = run(graph)
    assert sink.payloads == [1]
    assert runtime.stats().state == "completed"


def test_forwarding_nodes_keep_message_objects_intact() -> None:
    msg = Message({"k": 1}, {"trace_id": "t1"})
    graph, sink = line(source([msg]), Passthrough())
    run(graph)
    assert sink.payloads == [{"k": 1}]
