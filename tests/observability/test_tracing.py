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

from arachne import Input, IterSource, Message, Node, Output, Retry, Runtime, Subgraph, node
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


def parent_of(spans: list[ReadableSpan], name: str) -> str | None:
    """The name of the parent of the (one) span called ``name``."""
    [span] = [s for s in spans if s.name == name]
    if span.parent is None:
        return None
    [parent] = [s for s in spans if s.context.span_id == span.parent.span_id]
    return parent.name


class Batcher(Node):
    inp = Input(int, name="in")
    out = Output(int)

    def on_batch(self, port: str, msgs: list[Message]) -> None:
        for msg in msgs:
            self.emit("out", msg.payload + 1)


class Flaky(Node):
    inp = Input(int, name="in")
    out = Output(int)
    error_policy = Retry(max_attempts=2, backoff=0.001, jitter=0)

    def __init__(self) -> None:
        self.calls = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ValueError("first call fails")
        self.emit("out", msg.payload)


@node(mode="process")
def cube(x: int) -> int:
    return x**3


@pytest.mark.parametrize("middle", ["on_batch", "retried", "process"])
def test_every_way_of_handling_a_message_opens_its_span(
    middle: str, exporter: InMemorySpanExporter
) -> None:
    unit = {"on_batch": Batcher(), "retried": Flaky(), "process": cube()}[middle]
    sink = Sink()
    graph = Subgraph()
    graph.add_node(IterSource([2], schema=int, name="numbers"))
    graph.add_node(unit, name="middle")
    graph.add_node(sink, name="sink")
    graph.connect(("numbers", "out"), ("middle", "in"))
    graph.connect(("middle", "out"), ("sink", "in"))
    runtime = Runtime(tracer=tracer_for(exporter))
    runtime.register(graph)
    runtime.run()
    assert sink.seen == [{"on_batch": 3, "retried": 2, "process": 8}[middle]]
    spans = list(exporter.get_finished_spans())
    assert len({span.context.trace_id for span in spans}) == 1
    assert parent_of(spans, "sink") == "middle"
    middles = [span for span in spans if span.name == "middle"]
    assert parent_of(spans, "numbers") is None
    if middle == "retried":  # each attempt is a span, the failed one marked
        assert [span.status.status_code for span in middles] == [StatusCode.ERROR, StatusCode.UNSET]
        assert {span.parent.span_id for span in middles if span.parent} == {
            next(s for s in spans if s.name == "numbers").context.span_id
        }
    else:
        assert parent_of(spans, "middle") == "numbers"


def test_an_injected_message_starts_a_trace_or_continues_its_callers(
    exporter: InMemorySpanExporter,
) -> None:
    sink = Sink()
    graph = Subgraph()
    graph.add_node(sink, name="sink")
    runtime = Runtime(tracer=tracer_for(exporter))
    runtime.register(graph)
    execution = runtime.execution
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    execution.inject("sink", "in", 1)
    execution.inject("sink", "in", Message(2, {"traceparent": caller}))
    runtime.run()
    assert sink.seen == [1, 2]
    spans = list(exporter.get_finished_spans())
    [root] = [span for span in spans if span.parent is None]
    assert root.name == "inject sink"
    [started] = [s for s in spans if s.context.trace_id == root.context.trace_id and s is not root]
    assert started.name == "sink"
    assert started.parent is not None
    assert started.parent.span_id == root.context.span_id
    [continued] = [
        s for s in spans if s.context.trace_id == int("0af7651916cd43dd8448eb211c80319c", 16)
    ]
    assert continued.name == "sink"
    assert continued.parent is not None
    assert continued.parent.span_id == int("b7ad6b7169203331", 16)
