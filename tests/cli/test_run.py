"""`arachne run`: documents end to end with injected, piped and file input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from arachne.cli.main import app
from tests.cli.conftest import QUICK_REFERENCE, edge, write_document


def test_the_quick_reference_graph_turns_21_into_42(runner: CliRunner) -> None:
    result = runner.invoke(app, ["run", str(QUICK_REFERENCE), "--inject", "input:in=21", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "42\n"


def test_values_piped_on_stdin_flow_through_in_order(runner: CliRunner) -> None:
    result = runner.invoke(app, ["run", str(QUICK_REFERENCE), "-q"], input="1\n\n2\n3\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["2", "4", "6"]


def test_an_input_file_and_tagged_output(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("5\n7\n")
    result = runner.invoke(app, ["run", str(QUICK_REFERENCE), "-i", str(data), "--tag", "-q"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [
        {"node": "output", "port": "out", "value": 10},
        {"node": "output", "port": "out", "value": 14},
    ]


def test_the_summary_names_every_node(runner: CliRunner) -> None:
    result = runner.invoke(app, ["run", str(QUICK_REFERENCE), "--inject", "input:in=1"])
    assert result.exit_code == 0, result.output
    for node in ("input", "double", "output", "completed"):
        assert node in result.stderr


def test_a_bad_line_of_input_names_its_number(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("1\n{oops\n")
    result = runner.invoke(app, ["run", str(QUICK_REFERENCE), "-i", str(data), "-q"])
    assert result.exit_code == 1
    assert "line 2" in result.stderr


def test_bad_inject_options_exit_2_with_the_fix(runner: CliRunner) -> None:
    for option, needle in [
        ("input:in", "NODE:PORT=JSON"),
        ("input:in=hello", "is not JSON"),
        ("nowhere:in=1", "no node 'nowhere'"),
        ("input:out=1", "no input 'out'"),
    ]:
        result = runner.invoke(app, ["run", str(QUICK_REFERENCE), "--inject", option, "-q"])
        assert result.exit_code == 2, (option, result.output)
        assert needle in result.stderr, (option, result.stderr)


def test_a_missing_file_and_an_invalid_document_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    broken = write_document(
        tmp_path / "g.json",
        [{"id": "a", "component": "arachne.core.passthrough"}],
        [edge("a:out", "b:in")],
    )
    result = runner.invoke(app, ["run", str(broken), "-q"])
    assert result.exit_code == 2
    assert "edges[0].target.node" in result.stderr


def test_a_failing_expression_fails_the_run_with_exit_1(runner: CliRunner, tmp_path: Path) -> None:
    doc = write_document(
        tmp_path / "g.json",
        [
            {"id": "a", "component": "arachne.core.passthrough"},
            {"id": "m", "component": "arachne.core.map", "config": {"expression": "value.x.y"}},
        ],
        [edge("a:out", "m:in")],
    )
    result = runner.invoke(app, ["run", str(doc), "--inject", "a:in=1", "-q"])
    assert result.exit_code == 1
    assert "error" in result.stderr


def test_a_value_with_no_json_form_fails_the_run(runner: CliRunner, tmp_path: Path) -> None:
    doc = write_document(
        tmp_path / "g.json",
        [
            {"id": "a", "component": "arachne.core.passthrough"},
            {"id": "m", "component": "arachne.core.map", "config": {"expression": "value / 0"}},
        ],
        [edge("a:out", "m:in")],
    )
    result = runner.invoke(app, ["run", str(doc), "--inject", "a:in=1", "-q"])
    assert result.exit_code == 1
    assert "no JSON form" in result.stderr
    assert result.stdout == ""


def test_a_document_node_named_like_a_cli_node_does_not_clash(
    runner: CliRunner, tmp_path: Path
) -> None:
    doc = write_document(
        tmp_path / "g.json",
        [{"id": "cli-input-1", "component": "arachne.core.passthrough"}],
        [],
    )
    result = runner.invoke(app, ["run", str(doc), "--inject", "cli-input-1:in=3", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "3\n"


def test_injected_values_keep_their_order_however_the_port_is_named(
    runner: CliRunner, tmp_path: Path
) -> None:
    doc = write_document(
        tmp_path / "g.json",
        [{"id": "count", "component": "arachne.core.passthrough"}],
        [],
    )
    args = ["run", str(doc), "-q", "--inject", "count=1", "--inject", "count:in=2"]
    result = runner.invoke(app, [*args, "--inject", "count=3"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["1", "2", "3"]


def test_lineage_takes_a_share_and_refuses_anything_else(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["run", str(QUICK_REFERENCE), "--inject", "input:in=21", "-q", "--lineage", "1"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["42"]
    for bad in ("0", "1.5", "-1"):
        refused = runner.invoke(app, ["run", str(QUICK_REFERENCE), "--lineage", bad])
        assert refused.exit_code == 2
        assert "is not a share" in refused.output
