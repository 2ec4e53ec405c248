"""Code components on the command line: added, listed, run with --allow-code, refused without."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arachne.cli.main import app
from tests.cli.conftest import ROOT

EXAMPLES = ROOT / "examples" / "code_components"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "components"
    monkeypatch.setenv("ARACHNE_COMPONENTS_DIR", str(where))
    return where


def test_the_documents_square_registers_and_squares_values(runner: CliRunner, folder: Path) -> None:
    square, graph = str(EXAMPLES / "square.json"), str(EXAMPLES / "squares.yaml")
    refused = runner.invoke(app, ["components", "add", square])
    assert refused.exit_code == 2
    assert "--allow-code" in refused.output
    added = runner.invoke(app, ["components", "add", square, "--allow-code"])
    assert added.exit_code == 0, added.output
    assert json.loads((folder / "custom.math.square.json").read_text())["id"] == (
        "custom.math.square"
    )
    listed = runner.invoke(app, ["components", "custom.math.square", "--json"])
    shown = json.loads(listed.output)  # read from the file, without running anything
    assert shown["execution"]["type"] == "javascript"
    assert [p["name"] for p in shown["ports"]["inputs"]] == ["in"]
    assert "--allow-code" in shown["description"]

    args = ["run", graph, "-q", "--inject", "input:in=21", "--inject", "input:in=3"]
    without = runner.invoke(app, args)
    assert without.exit_code == 2
    assert "custom.math.square" in without.output
    assert "--allow-code" in without.output
    ran = runner.invoke(app, [*args, "--allow-code"])
    assert ran.exit_code == 0, ran.output
    assert ran.output.split() == ["441", "9"]

    again = runner.invoke(app, ["components", "add", square, "--allow-code"])
    assert again.exit_code == 0
    assert "replaced custom.math.square" in again.output
    removed = runner.invoke(app, ["components", "remove", "custom.math.square"])
    assert removed.exit_code == 0
    assert not (folder / "custom.math.square.json").exists()
    gone = runner.invoke(app, ["components", "remove", "custom.math.square"])
    assert gone.exit_code == 2
    assert "no added code component" in gone.output


def test_a_document_defines_its_own_code_component(runner: CliRunner, folder: Path) -> None:
    graph = str(EXAMPLES / "running_total.yaml")
    ran = runner.invoke(
        app, ["run", graph, "--allow-code", "-q", "-i", "-"], input='1\n2\n"x"\n3\n'
    )
    assert ran.exit_code == 1, ran.output  # a value failed and went nowhere: said, not hidden
    assert [line for line in ran.output.splitlines() if line.isdigit()] == ["1", "3", "6"]
    assert 'not a number: "x" (line 6' in ran.output  # the total went on past it
    refused = runner.invoke(app, ["validate", graph])
    assert refused.exit_code == 2
    assert "components[0]" in refused.output
    assert "--allow-code" in refused.output
    assert runner.invoke(app, ["validate", graph, "--allow-code"]).exit_code == 0


def test_a_bad_definition_is_refused_naming_the_field(
    runner: CliRunner, folder: Path, tmp_path: Path
) -> None:
    data = json.loads((EXAMPLES / "square.json").read_text())
    cases = [
        ({**data, "execution": {**data["execution"], "source": "return {"}}, "execution.source"),
        ({**data, "execution": {**data["execution"], "limits": {"timeMs": 0}}}, "timeMs"),
        ({**data, "ports": {"inputs": []}}, "ports.inputs must name at least one"),
        ({**data, "colour": "red"}, "unknown field 'colour'"),
    ]
    for definition, named in cases:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(definition))
        result = runner.invoke(app, ["components", "add", str(path), "--allow-code"])
        assert result.exit_code == 2, result.output
        assert named in result.output
        assert not folder.exists() or not list(folder.iterdir())
    (tmp_path / "bad.json").write_text("{")
    result = runner.invoke(app, ["components", "add", str(tmp_path / "bad.json"), "--allow-code"])
    assert "not a JSON component definition" in result.output
