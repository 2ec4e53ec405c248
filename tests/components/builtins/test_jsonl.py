"""jsonl-source and jsonl-sink: files and standard streams, bad lines, unwritable values."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from pathlib import Path

import pytest

from arachne import ErrorRecord, NodeFailed, Runtime, Subgraph
from arachne.components import Registry
from arachne.components.builtins import JsonlSink, JsonlSource, Passthrough
from arachne.model.errors import SpecError
from tests.components.builtins.helpers import Collect, line, run, source


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_source_emits_one_value_per_line_skipping_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"a": 1}\n\n  \n[1, 2]\n"text"\n3.5\nnull\ntrue\n')
    graph, sink = line(JsonlSource(path=path))
    runtime = run(graph)
    assert sink.payloads == [{"a": 1}, [1, 2], "text", 3.5, None, True]
    assert runtime.stats().state == "completed"


def test_source_of_an_empty_file_finishes_at_once(tmp_path: Path) -> None:
    graph, sink = line(JsonlSource(path=write(tmp_path / "empty.jsonl", "")))
    run(graph)
    assert sink.payloads == []


def test_a_bad_line_goes_to_error_naming_the_line_and_reading_goes_on(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '1\n\n{"broken": \n2\n')
    graph, sink = line(JsonlSource(path=path, name="src"), errors="src")
    runtime = run(graph)
    assert sink.payloads == [1, 2]
    errors = next(m.unit for m in graph.members if m.id == "errors")
    assert isinstance(errors, Collect)
    [record] = errors.payloads
    assert isinstance(record, ErrorRecord)
    assert record.node_id == "src"
    assert record.error_type == "ValueError"
    assert "in.jsonl' line 3, column 12: not JSON (Expecting value)" in record.error
    assert "'{\"broken\": '; fix the line or remove it" in record.error
    stats = runtime.stats().nodes["src"]
    assert (stats.errors, stats.skipped, stats.dead_lettered) == (1, 1, 1)


@pytest.mark.parametrize(
    ("text", "good", "bad"),
    [("oops\n1\n", [1], [1]), ("1\n2\noops\n\nx\n3\n", [1, 2, 3], [3, 5]), ("{\n", [], [1])],
)
def test_bad_lines_without_an_error_edge_are_logged_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, good: list[int], bad: list[int]
) -> None:
    graph, sink = line(JsonlSource(path=write(tmp_path / "in.jsonl", text), name="src"))
    runtime = run(graph)
    assert sink.payloads == good
    logged = [r.getMessage() for r in caplog.records if "not JSON" in r.getMessage()]
    assert [int(n) for m in logged for n in re.findall(r"line (\d+), column", m)] == bad
    assert runtime.stats().nodes["src"].skipped == len(logged)  # one error per tick


def test_a_bad_line_fails_the_run_under_the_fail_policy(tmp_path: Path) -> None:
    node = JsonlSource(path=write(tmp_path / "in.jsonl", "1\n{\n"), name="src")
    node.error_policy = "fail"  # type: ignore[assignment, misc]
    graph, _ = line(node)
    runtime = Runtime()
    runtime.register(graph)
    with pytest.raises(NodeFailed, match="line 2, column 2: not JSON"):
        runtime.run()


def test_a_missing_file_fails_the_run_at_start(tmp_path: Path) -> None:
    graph, _ = line(JsonlSource(path=str(tmp_path / "nope.jsonl")))
    runtime = Runtime()
    runtime.register(graph)
    with pytest.raises(NodeFailed, match="on_start raised FileNotFoundError"):
        runtime.run()


def test_source_reads_stdin_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = "".join(f"{i}\n" for i in range(150)) + "nope\n" + '{"last": true}\n'
    monkeypatch.setattr(sys, "stdin", io.StringIO(lines))
    node = JsonlSource(path="-", name="src")
    assert node.mode == "inline"  # the reading happens in the node's own thread
    graph, sink = line(node, errors="src")
    run(graph)
    assert sink.payloads == [*range(150), {"last": True}]
    errors = next(m.unit for m in graph.members if m.id == "errors")
    assert isinstance(errors, Collect)
    assert [r.error.split(":")[0] for r in errors.payloads] == ["stdin line 151, column 1"]


def test_sink_writes_one_compact_json_line_per_value(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    graph = Subgraph()
    graph.add_node(source([{"a": [1, 2]}, "é", None, 1.5]))
    graph.add_node(JsonlSink(path=str(path), name="sink"))
    graph.connect(("src", "out"), ("sink", "in"))
    run(graph)
    assert path.read_text(encoding="utf-8") == '{"a":[1,2]}\n"é"\nnull\n1.5\n'


def test_sink_appends_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("0\n", encoding="utf-8")
    for append, expected in ((True, "0\n1\n"), (False, "1\n")):
        path.write_text("0\n", encoding="utf-8")
        graph = Subgraph()
        graph.add_node(source([1]))
        graph.add_node(JsonlSink(path=str(path), append=append, flush=True, name="sink"))
        graph.connect(("src", "out"), ("sink", "in"))
        run(graph)
        assert path.read_text(encoding="utf-8") == expected


def test_sink_writes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    graph = Subgraph()
    graph.add_node(source([1, {"b": 2}]))
    graph.add_node(JsonlSink(path="-", name="sink"))
    graph.connect(("src", "out"), ("sink", "in"))
    run(graph)
    assert capsys.readouterr().out == '1\n{"b":2}\n'


def test_sink_writes_error_records_as_objects(tmp_path: Path) -> None:
    path = tmp_path / "errors.jsonl"
    graph = Subgraph()
    graph.add_node(JsonlSource(path=write(tmp_path / "in.jsonl", "x\n"), name="src"))
    graph.add_node(JsonlSink(path=str(path), name="sink"))
    graph.connect(("src", "error"), ("sink", "in"))
    run(graph)
    [record] = [json.loads(text) for text in path.read_text().splitlines()]
    assert record["node_id"] == "src"
    assert record["port"] is None
    assert record["error_type"] == "ValueError"


def test_sink_skips_a_value_json_cannot_hold_and_reports_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    path = tmp_path / "out.jsonl"
    graph = Subgraph()
    graph.add_node(source([1, object(), 2]))
    graph.add_node(JsonlSink(path=str(path), name="sink"))
    graph.add_node(Passthrough(name="tap"))
    graph.add_node(Collect("errors"))
    graph.connect(("src", "out"), ("sink", "in"))
    graph.connect(("sink", "error"), ("tap", "in"))
    graph.connect(("tap", "out"), ("errors", "in"))
    runtime = run(graph)
    assert path.read_text() == "1\n2\n"
    errors = next(m.unit for m in graph.members if m.id == "errors")
    assert isinstance(errors, Collect)
    [record] = errors.payloads
    assert record.error_type == "TypeError"
    assert "type object cannot be written as JSON; turn it into JSON data" in record.error
    assert runtime.stats().nodes["sink"].skipped == 1


@pytest.mark.parametrize(
    ("component", "config", "match"),
    [
        ("arachne.io.jsonl-source", {}, r"'path' is a required property"),
        ("arachne.io.jsonl-source", {"path": ""}, r"config\.path"),
        ("arachne.io.jsonl-source", {"path": "a", "encoding": "klingon"}, "unknown encoding"),
        ("arachne.io.jsonl-sink", {"path": "a", "append": "yes"}, r"config\.append"),
        ("arachne.io.jsonl-sink", {"path": "a", "mode": "w"}, "known settings: append"),
    ],
)
def test_bad_config_is_a_spec_error(component: str, config: dict[str, object], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        Registry.default().create(component, config)


def test_many_bad_lines_in_a_row_make_one_bounded_error(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", "x\n" * 40 + "7\n")
    graph, sink = line(JsonlSource(path=path, name="src"), errors="src")
    run(graph)
    assert sink.payloads == [7]
    errors = next(m.unit for m in graph.members if m.id == "errors")
    assert isinstance(errors, Collect)
    [record] = errors.payloads
    assert record.error.count("not JSON") == 5
    assert "line 5, column 1" in record.error
    assert record.error.endswith("; and 35 more; fix the line or remove it")


def test_a_bad_byte_costs_one_line_not_the_rest_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a":1}\n\xff\xfe\n{"b":2}\n')
    graph, sink = line(JsonlSource(path=str(path), name="src"), errors="src")
    run(graph)
    assert sink.payloads == [{"a": 1}, {"b": 2}]
    errors = next(m.unit for m in graph.members if m.id == "errors")
    assert isinstance(errors, Collect)
    [record] = errors.payloads
    assert "line 2: not valid utf-8" in record.error


def test_long_deep_and_huge_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    text = f'1\n"{"x" * 10000}"\n2\n{deep}\n{"9" * 5000}\n3\n'
    path = write(tmp_path / "in.jsonl", text)
    graph, sink = line(JsonlSource(path=path, name="src", max_line_bytes=8192), errors="src")
    run(graph)
    assert sink.payloads == [1, 2, 3]
    errors = next(m.unit for m in graph.members if m.id == "errors")
    assert isinstance(errors, Collect)
    reported = " ".join(record.error for record in errors.payloads)
    assert "line 2: 10,002 bytes, over max_line_bytes (8,192)" in reported
    assert "line 4: 200,000 bytes" in reported
    assert "line 5: not readable JSON (ValueError)" in reported


def test_deep_nesting_within_the_line_limit_is_reported(tmp_path: Path) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    path = write(tmp_path / "in.jsonl", f"{deep}\n7\n")
    graph, sink = line(JsonlSource(path=path, name="src"), errors="src")
    run(graph)
    assert sink.payloads == [7]
    errors = next(m.unit for m in graph.members if m.id == "errors")
    assert isinstance(errors, Collect)
    assert "line 1: not readable JSON (RecursionError)" in errors.payloads[0].error


@pytest.mark.parametrize("encoding", ["rot13", "base64", "nope"])
def test_only_text_encodings_are_accepted(encoding: str) -> None:
    with pytest.raises(SpecError, match="encoding"):
        Registry.default().create(
            "arachne.io.jsonl-source", {"path": "x", "encoding": encoding}, where="n"
        )


def test_encodings_that_do_not_write_newline_as_one_byte_are_refused() -> None:
    for encoding in ("utf-16", "utf-32"):
        with pytest.raises(SpecError, match="convert the file to UTF-8"):
            Registry.default().create(
                "arachne.io.jsonl-source", {"path": "x", "encoding": encoding}, where="n"
            )


def test_a_line_across_read_chunks_is_one_line(tmp_path: Path) -> None:
    long_value = "y" * 70_000  # longer than one os.read of 64 KiB
    path = write(tmp_path / "in.jsonl", f'1\n"{long_value}"\r\n2\n')
    graph, sink = line(JsonlSource(path=path))
    run(graph)
    assert sink.payloads == [1, long_value, 2]
