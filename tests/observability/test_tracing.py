"""OpenTelemetry traces along the graph (issue 12), collected by the SDK's in-memory exporter."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from arachne import Input, IterSource, Message, Node, Output, Runtime, Subgraph, node
from arachne.observability import JsonLogFormatter
from arachne.observability.tracing import OpenTelemetryTracer


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    found = InMemorySpanExporter()
    yield found
    found.clear()


def tracer_for(exporter: InMemorySpanExporter, **options: float) -> OpenTelemetryTracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OpenTelemetryTracer(provider, **options)


class Check(Node):
    """Runs in a worker thread; fails on 13 (skipped)."""

    inp = Input(int, name="in")
    out = Output(int)
    mode = "thread"
    error_policy = "skip"

    def on_message(self, port: str, msg: Message) -> None:
        if msg.payload == 13:
            raise ValueError("unlucky")
        self.context.logger.warning("checked %s", msg.payload)
        self.emit("out", msg.payload)


@node
def double(x: int) -> int:
    return x * 2


class Sink(Node):
    inp = Input(int, name="in")

    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.seen.append(msg.payload)


def run(values: list[int], tracer: OpenTelemetryTracer) -> Sink:
    sink = Sink()
    graph = Subgraph()
    graph.add_node(IterSource(values, schema=int, name="numbers"))
    graph.add_node(Check(), name="check")
    graph.add_node(double())
    graph.add_node(sink, name="sink")
    graph.connect(("numbers", "out"), ("check", "in"))
    graph.connect(("check", "out"), ("double", "in"))
    graph.connect(("double", "out"), ("sink", "in"))
    runtime = Runtime(tracer=tracer)
    runtime.register(graph)
    runtime.run()
    return sink


def chain(spans: list[ReadableSpan]) -> list[str]:
    """The span names from the root down, following parent links (one child each)."""
    by_parent = {span.parent.span_id if span.parent else None: span for span in spans}
    assert len(by_parent) == len(spans), "a span with two children, or two roots"
    names, span = [], by_parent[None]
    while span is not None:
        names.append(span.name)
        span = by_parent.get(span.context.span_id)
    return names


def test_one_message_makes_one_trace_with_spans_parent_to_child_in_graph_order(
    exporter: InMemorySpanExporter,
) -> None:
    sink = run([21], tracer_for(exporter))
    assert sink.seen == [42]
    spans = list(exporter.get_finished_spans())
    assert len({span.context.trace_id for span in spans}) == 1
    assert chain(spans) == ["numbers", "check", "double", "sink"]
    check = next(span for span in spans if span.name == "check")
    assert check.attributes is not None
    assert check.attributes["arachne.node_id"] == "check"
    assert all(span.status.status_code is not StatusCode.ERROR for span in spans)


def test_each_message_is_its_own_trace_and_a_failed_call_marks_its_span(
    exporter: InMemorySpanExporter,
) -> None:
    run([1, 13, 2], tracer_for(exporter))
    spans = list(exporter.get_finished_spans())
    traces: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        traces.setdefault(span.context.trace_id, []).append(span)
    assert len(traces) == 3
    whole = [chain(found) for found in traces.values() if len(found) == 4]
    assert whole == [["numbers", "check", "double", "sink"]] * 2
    [failed] = [found for found in traces.values() if len(found) == 2]
    assert chain(failed) == ["numbers", "check"]
    [check] = [span for span in failed if span.name == "check"]
    assert check.status.status_code is StatusCode.ERROR
    assert [event.name for event in check.events] == ["exception"]


def test_sampling_traces_a_share_and_leaves_the_rest_without_headers(
    exporter: InMemorySpanExporter,
) -> None:
    sink = run(list(range(200)), tracer_for(exporter, sample=0.1, seed=7))
    assert sink.seen == [2 * x for x in range(200) if x != 13]
    roots = [span for span in exporter.get_finished_spans() if span.parent is None]
    assert 5 <= len(roots) <= 40  # about 20 of 200


def test_log_records_carry_the_traces_id(
    exporter: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("arachne.node.check")
    logger.addHandler(handler)
    try:
        run([5], tracer_for(exporter))
    finally:
        logger.removeHandler(handler)
    [line] = [json.loads(text) for text in capsys.readouterr().err.splitlines()]
    [trace_id] = {format(span.context.trace_id, "032x") for span in exporter.get_finished_spans()}
    assert line["trace_id"] == trace_id
    assert line["node_id"] == "check"
