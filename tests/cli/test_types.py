"""`arachne run`: values from outside are checked against the port they enter; --check-types."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from arachne import Input, Message, Node, Output
from arachne.cli.main import app
from arachne.components import Registry
from tests.cli.conftest import edge, write_document


class Twice(Node):
    """Takes ints, emits twice each."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload * 2)


class Liar(Node):
    """Declares an int output but emits text."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", f"#{msg.payload}")


@pytest.fixture(autouse=True)
def typed_components(monkeypatch: pytest.MonkeyPatch) -> None:
    made = Registry.default

    def with_typed() -> Registry:
        registry = made()
        registry.register_node(Twice, id="test.twice")
        registry.register_node(Liar, id="test.liar")
        return registry

    monkeypatch.setattr(Registry, "default", with_typed)


def flat(text: str) -> str:
    """The text with the console's line wrapping undone."""
    return " ".join(text.split())


def document(tmp_path: Path, component: str) -> Path:
    return write_document(
        tmp_path / "typed.json",
        [
            {"id": "input", "component": "arachne.core.passthrough"},
            {"id": "work", "component": component},
        ],
        [edge("input:out", "work:in")],
    )


def test_an_injected_value_of_the_wrong_type_is_refused_before_the_run(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = document(tmp_path, "test.twice")
    result = runner.invoke(app, ["run", str(path), "--inject", "work:in=21", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "42\n"
    result = runner.invoke(app, ["run", str(path), "--inject", 'work:in="x"', "-q"])
    assert result.exit_code == 2
    assert "'x' does not fit work.in, which takes int" in flat(result.stderr)
    assert result.stdout == ""


def test_a_line_of_the_wrong_type_is_skipped_reported_and_the_rest_go_on(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = document(tmp_path, "test.twice")
    data = tmp_path / "in.jsonl"
    data.write_text('1\n"two"\n3\n')
    result = runner.invoke(app, ["run", str(path), "-i", str(data), "--to", "work", "-q"])
    assert result.stdout.splitlines() == ["2", "6"]
    assert "'two' does not fit work.in, which takes int" in flat(result.stderr)
    assert result.exit_code == 1  # a message failed and went nowhere


def test_check_types_catches_a_node_emitting_the_wrong_type(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = document(tmp_path, "test.liar")
    unchecked = runner.invoke(app, ["run", str(path), "--inject", "work:in=1", "-q"])
    assert unchecked.exit_code == 0, unchecked.output
    assert unchecked.stdout == '"#1"\n'
    checked = runner.invoke(app, ["run", str(path), "--inject", "work:in=1", "-q", "--check-types"])
    assert checked.exit_code == 1
    assert "node 'work' emitted str on port 'out', which expects int" in flat(checked.stderr)
    assert checked.stdout == ""
