"""`arachne validate`, `dot`, `schema`, `components` and `new`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
from typer.testing import CliRunner

from arachne.cli.main import app
from tests.cli.conftest import QUICK_REFERENCE, ROOT, edge, write_document


def test_validate_prints_the_topology(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", str(QUICK_REFERENCE)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout
    assert "input" in result.stdout
    assert "output" in result.stdout
    result = runner.invoke(app, ["validate", str(QUICK_REFERENCE), "--json"])
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["order"] == ["input", "double", "output"]


def test_validate_names_a_cycle(runner: CliRunner, tmp_path: Path) -> None:
    doc = write_document(
        tmp_path / "g.json",
        [
            {"id": "a", "component": "arachne.core.passthrough"},
            {"id": "b", "component": "arachne.core.passthrough"},
        ],
        [edge("a:out", "b:in"), edge("b:out", "a:in")],
    )
    result = runner.invoke(app, ["validate", str(doc)])
    assert result.exit_code == 2
    assert "cycle" in result.stderr


def test_dot_draws_every_node(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["dot", str(QUICK_REFERENCE)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("digraph")
    assert all(name in result.stdout for name in ("input", "double", "output"))
    target = tmp_path / "g.dot"
    assert runner.invoke(app, ["dot", str(QUICK_REFERENCE), "-o", str(target)]).exit_code == 0
    assert target.read_text().startswith("digraph")


def test_schema_is_a_json_schema_the_examples_satisfy(runner: CliRunner) -> None:
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(QUICK_REFERENCE.read_text()), schema)


def test_components_lists_the_builtins_with_their_aliases(runner: CliRunner) -> None:
    result = runner.invoke(app, ["components", "--json"])
    listed = {c["id"]: c for c in json.loads(result.stdout)}
    assert "symbia.core.map" in listed["arachne.core.map"]["aliases"]
    assert {"out", "rejected"} <= {
        p["name"] for p in listed["arachne.core.filter"]["ports"]["outputs"]
    }
    text = runner.invoke(app, ["components", "--category", "io"]).stdout
    assert "arachne.io.http-request" in text
    assert "arachne.core.map" not in text


def test_new_node_and_subgraph_pass_ruff_mypy_and_their_own_tests(
    runner: CliRunner, tmp_path: Path
) -> None:
    for kind, name in (("node", "Foo"), ("subgraph", "order-parser")):
        result = runner.invoke(app, ["new", kind, name, "--dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "foo.py",
        "order_parser.py",
        "test_foo.py",
        "test_order_parser.py",
    ]
    again = runner.invoke(app, ["new", "node", "Foo", "--dir", str(tmp_path)])
    assert again.exit_code == 2
    assert "--force" in again.stderr
    bin_dir = Path(sys.executable).parent
    checks = [
        [
            str(bin_dir / "ruff"), "check", "--isolated", "--select",
            "E,F,W,I,B,UP,SIM,RUF,D,ANN,S,PT", "--per-file-ignores", "test_*.py:S101",
            "--config", "lint.pydocstyle.convention='pep257'",
            "--config", "lint.isort.known-first-party=['foo','order_parser']", ".",
        ],
        [str(bin_dir / "ruff"), "format", "--isolated", "--check", "."],
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "."],
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", ".",
         "-c", "/dev/null", "."],
    ]  # fmt: skip
    for command in checks:
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert "2 passed" in done.stdout


def test_a_name_that_is_not_an_identifier_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["new", "node", "9lives", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "starting with a letter" in result.stderr


def test_the_installed_script_runs_the_quick_reference() -> None:
    script = Path(sys.executable).parent / "arachne"
    done = subprocess.run(
        [str(script), "run", str(QUICK_REFERENCE), "--inject", "input:in=21", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "42\n"), done.stderr


def test_names_that_would_shadow_a_module_are_refused(runner: CliRunner, tmp_path: Path) -> None:
    for name in ("Json", "random", "Collect"):
        result = runner.invoke(app, ["new", "node", name, "--dir", str(tmp_path)])
        assert result.exit_code == 2, name
        assert "shadow" in result.stderr
    assert list(tmp_path.iterdir()) == []
