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

from arachne import Input, IterSource, Message, Node, Runtime, Subgraph
from arachne.cli.main import app
from arachne.observability import JsonLogFormatter
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
