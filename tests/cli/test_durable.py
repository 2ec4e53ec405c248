"""`arachne run --store`, `--record` and `arachne replay` from the command line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from arachne.cli.main import app
from tests.cli.conftest import QUICK_REFERENCE


def test_a_stored_run_records_and_replays_to_the_same_output(
    runner: CliRunner, tmp_path: Path
) -> None:
    store = tmp_path / "run.db"
    data = tmp_path / "in.jsonl"
    data.write_text("".join(f"{n}\n" for n in range(1, 201)))
    args = ["run", str(QUICK_REFERENCE), "-i", str(data), "--store", str(store)]
    result = runner.invoke(app, [*args, "--record", "e1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(2 * n) for n in range(1, 201)]
    assert "checkpoints: last" in result.stderr
    assert "sinks at-least-once" in result.stderr
    with sqlite3.connect(store) as db:
        (state,) = db.execute("SELECT state FROM runs").fetchone()
    assert state == "completed"
    replayed = runner.invoke(app, ["replay", str(store)])
    assert replayed.exit_code == 0, replayed.output
    assert replayed.stdout == result.stdout
    assert "replaying run" in replayed.stderr
    again = runner.invoke(app, args)  # completed: it starts over, it does not resume
    assert again.exit_code == 0, again.output
    assert "resuming run" not in again.stderr
    assert again.stdout == result.stdout


def test_options_that_need_a_store_say_so(runner: CliRunner, tmp_path: Path) -> None:
    for extra in (
        ["--fresh"],
        ["--record", "e1"],
        ["--checkpoint-every", "2"],
        ["--log-keep", "9"],
    ):
        result = runner.invoke(app, ["run", str(QUICK_REFERENCE), *extra, "-q"])
        assert result.exit_code == 2
        assert f"{extra[0]} work on a stored run: add --store FILE" in result.stderr
    store = tmp_path / "s.db"
    unknown = runner.invoke(
        app, ["run", str(QUICK_REFERENCE), "--store", str(store), "--record", "e9", "-q"]
    )
    assert unknown.exit_code == 2
    assert "--record e9: the document has no edge 'e9'; its edges: e1, e2" in unknown.stderr
    assert not store.exists()  # refused before the store was made


def test_replay_names_what_is_missing(runner: CliRunner, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["replay", str(tmp_path / "none.db")])
    assert missing.exit_code == 2
    assert "is not a store; give the file arachne run --store wrote" in missing.output
    store = tmp_path / "run.db"
    ran = runner.invoke(
        app, ["run", str(QUICK_REFERENCE), "--inject", "input:in=2", "--store", str(store), "-q"]
    )
    assert ran.exit_code == 0, ran.output
    nothing = runner.invoke(app, ["replay", str(store)])
    assert nothing.exit_code == 2
    assert "recorded no edge" in nothing.output
    other = runner.invoke(app, ["replay", str(store), "--run", "nope"])
    assert other.exit_code == 2
    assert "no run 'nope'" in other.output
