"""JSON log lines carry the execution, node and trace they came from (issue 12, logs)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arachne import Input, IterSource, Message, Node, Output, Retry, Runtime, Subgraph, node
from arachne.cli.main import app
from arachne.model.errors import NodeFailed
from arachne.observability import JsonLogFormatter, log_events
from arachne.runtime import FakeClock
from tests.cli.conftest import edge, write_document


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Records of the ``arachne`` logger, as JSON lines, for the length of a test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("arachne")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_failing_node_in_a_cli_run_is_logged_with_execution_node_and_trace(
    runner: CliRunner, tmp_path: Path
) -> None:
    doc = write_document(
        tmp_path / "g.json",
        [
            {"id": "m", "component": "arachne.core.map", "config": {"expression": "value.x.y"}},
            {"id": "out", "component": "arachne.core.logger"},
        ],
        [edge("m:out", "out:in")],
    )
    args = ["run", str(doc), "--log-format", "json", "--trace", "-q", "--log-level", "INFO"]
    result = runner.invoke(app, [*args, "--inject", 'm:in={"x":{"y":1}}', "--inject", "m:in=5"])
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines, result.stderr
    [failure] = [line for line in lines if line["level"] == "WARNING"]
    assert failure["node_id"] == "m"
    assert failure["execution_id"].startswith("exec-")
    assert failure["trace_id"]
    assert failure["error_type"] == "ExpressionError"
    assert "skipped a message" in failure["message"]
    [logged] = [line for line in lines if line["logger"] == "arachne.node.out"]
    assert (logged["message"], logged["node_id"]) == ("1", "out")
    assert logged["execution_id"] == failure["execution_id"]
    assert {"timestamp", "level", "logger", "message"} <= set(logged)


@pytest.mark.parametrize("mode", ["inline", "thread", "async"])
def test_a_nodes_own_log_records_carry_its_ids_in_every_mode(
    mode: str, json_lines: io.StringIO
) -> None:
    class Talker(Node):
        inp = Input(int, name="in")

        def on_message(self, port: str, msg: Message) -> None:
            self.context.logger.info("got %s", msg.payload)

    Talker.mode = mode  # type: ignore[assignment]
    graph = Subgraph()
    graph.add_node(IterSource([7], schema=int, name="source"))
    graph.add_node(Talker(), name="talker")
    graph.connect(("source", "out"), ("talker", "in"))
    runtime = Runtime(trace=True)
    runtime.register(graph)
    runtime.run()
    [line] = [r for r in records(json_lines) if r["message"] == "got 7"]
    assert line["node_id"] == "talker"
    assert line["execution_id"] == runtime.execution.id
    assert line["trace_id"]  # the message's, stamped at the source (tracing on)


@node(mode="process", error_policy="skip")
def weigh(x: int) -> int:
    """Runs in a worker process; logs there, and fails on 0."""
    logging.getLogger("arachne.example").info("weighing %s", x)
    if x == 0:
        logging.getLogger("arachne.example").warning("zero, giving up")
        raise ValueError("zero")
    return x * 10


def test_a_process_mode_calls_records_come_back_with_its_ids(json_lines: io.StringIO) -> None:
    graph = Subgraph()
    graph.add_node(IterSource([3, 0], schema=int, name="source"))
    graph.add_node(weigh())
    graph.connect(("source", "out"), ("weigh", "in"))
    runtime = Runtime(trace=True)
    runtime.register(graph)
    runtime.run()
    found = {r["message"]: r for r in records(json_lines) if r["logger"] == "arachne.example"}
    assert set(found) == {"weighing 3", "weighing 0", "zero, giving up"}  # a failed call's too
    for line in found.values():
        assert line["node_id"] == "weigh"
        assert line["execution_id"] == runtime.execution.id
        assert line["trace_id"]
    assert found["weighing 3"]["trace_id"] != found["weighing 0"]["trace_id"]
    assert found["zero, giving up"]["level"] == "WARNING"


def test_the_redaction_hook_sees_every_record_before_it_is_written() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)

    def redact(fields: dict[str, Any]) -> dict[str, Any]:
        if "card" in fields:
            fields["card"] = "****"
        return fields

    handler.setFormatter(JsonLogFormatter(redact=redact))
    logger = logging.getLogger("arachne.test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("payment refused", extra={"card": "4111 1111 1111 1111"})
    finally:
        logger.removeHandler(handler)
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["card"] == "****"
    assert "4111" not in stream.getvalue()


def test_fused_stages_and_retries_log_as_their_own_nodes(json_lines: io.StringIO) -> None:
    from arachne import Retry, node

    log = logging.getLogger("arachne.test.stages")
    tries: list[int] = []

    @node
    def first(x: int) -> int:
        log.info("first %s", x)
        return x

    @node
    def second(x: int) -> int:
        log.info("second %s", x)
        return x

    @node(error_policy=Retry(max_attempts=2, backoff=0.0))
    def flaky(x: int) -> int:
        tries.append(x)
        if len(tries) == 1:
            raise ValueError("once")
        log.info("flaky %s", x)
        return x

    graph = Subgraph()
    graph.add_node(IterSource([1], schema=int, name="source"))
    for unit in (first(), second(), flaky()):
        graph.add_node(unit)
    graph.connect(("source", "out"), ("first", "in"))
    graph.connect(("first", "out"), ("second", "in"))
    graph.connect(("second", "out"), ("flaky", "in"))
    runtime = Runtime()  # first and second are fused: they run in the source's turn
    runtime.register(graph)
    runtime.run()
    assert runtime.execution.chains  # the case this test is about
    by_message = {r["message"]: r.get("node_id") for r in records(json_lines)}
    assert by_message["first 1"] == "first"
    assert by_message["second 1"] == "second"
    assert by_message["flaky 1"] == "flaky"  # from the retry's timer


def test_json_logs_stay_json_under_the_live_display() -> None:
    from arachne.cli.run import _holding
    from arachne.cli.writer import Held
    from arachne.observability import LogContextFilter

    class Plain(logging.StreamHandler):  # type: ignore[type-arg]
        arachne_cli = "plain"

    logger = logging.getLogger("arachne")
    cli = Plain(io.StringIO())
    cli.setFormatter(JsonLogFormatter())
    cli.addFilter(LogContextFilter())
    mine = logging.StreamHandler(io.StringIO())  # an application's own: left alone
    logger.addHandler(cli)
    logger.addHandler(mine)
    held = Held()
    try:
        with _holding(held, None, on=True):
            assert mine in logger.handlers
            assert cli not in logger.handlers
            logging.getLogger("arachne.node.x").warning("careful")
    finally:
        logger.removeHandler(cli)
        logger.removeHandler(mine)
    [line] = held.drain()
    assert json.loads(line)["message"] == "careful"


class Flaky(Node):
    """Fails its first call (retried after 10 ms), and every call on 99 (given up)."""

    inp = Input(int, name="in")
    error_policy = Retry(max_attempts=2, backoff=0.01, jitter=0)

    def __init__(self) -> None:
        self.calls = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.calls += 1
        if self.calls == 1 or msg.payload == 99:
            raise ValueError(f"no {msg.payload}")


class Laggard(Node):
    """A 10 ms ticker whose first tick takes 35 ms (on the fake clock): it overruns."""

    out = Output(int)
    cadence = 0.01

    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.ticks = clock, 0

    def on_tick(self) -> None:
        self.ticks += 1
        if self.ticks == 1:
            self.clock.advance(0.035)
        if self.ticks == 3:
            self.finish()


def test_events_are_logged_with_their_ids_at_their_levels(json_lines: io.StringIO) -> None:
    clock = FakeClock()
    graph = Subgraph()
    graph.add_node(IterSource([1, 99], schema=int, name="source"))
    graph.add_node(Flaky(), name="flaky")
    graph.add_node(Laggard(clock), name="ticker")
    graph.connect(("source", "out"), ("flaky", "in"))
    runtime = Runtime(clock=clock, seed=1)
    runtime.register(graph)
    subscription = log_events(runtime)
    try:
        with pytest.raises(NodeFailed):
            runtime.run()
    finally:
        subscription.unsubscribe()
    lines = [r for r in records(json_lines) if r["logger"] == "arachne.events"]
    kinds = [(r["event"], r["level"]) for r in lines]
    assert ("RetryScheduled", "INFO") in kinds
    assert ("TickOverran", "WARNING") in kinds
    assert ("NodeFailed", "ERROR") in kinds
    assert ("NodeStarted", "DEBUG") not in kinds  # below the logger's level: not subscribed
    retry = next(r for r in lines if r["event"] == "RetryScheduled")
    assert (retry["node_id"], retry["attempt"], retry["delay"]) == ("flaky", 1, 0.01)
    assert retry["error"] == "ValueError: no 1"
    [overran] = [r for r in lines if r["event"] == "TickOverran"]
    assert overran["node_id"] == "ticker"
    assert overran["skipped"] >= 1
    states = [(r["new"], r["level"]) for r in lines if r["event"] == "ExecutionStateChanged"]
    assert states[-1] == ("failed", "ERROR")
    assert {r["execution_id"] for r in lines} == {runtime.execution.id}
