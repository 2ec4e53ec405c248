"""`arachne sim`: a document simulated over many seeds, and a failure replayed by its seed."""

from __future__ import annotations

import shlex

from typer.testing import CliRunner

from arachne.cli.main import app
from tests.cli.conftest import QUICK_REFERENCE

FEED = ["--inject", "input:in=21", "--inject", "input:in=22"]


def test_every_seed_passes_and_reproduces(runner: CliRunner) -> None:
    result = runner.invoke(app, ["sim", str(QUICK_REFERENCE), "--seeds", "30", "--twice", *FEED])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "30 seeds: 30 passed, 0 failed"
    assert lines[1] == "every seed reproduced its trace"
    assert "  node.crash: 0, 0  (never reached)" in result.stdout
    assert "  durable.disk-full: 0, 0  (never reached)" in result.stdout


def test_a_failed_seed_prints_a_replay_that_fails_the_same_way(runner: CliRunner) -> None:
    args = ["sim", str(QUICK_REFERENCE), "--seeds", "20", "--faults", "0.5", "--crashes", *FEED]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    failed = [line for line in result.stdout.splitlines() if line.startswith("seed ")]
    assert failed, result.stdout
    first = failed[0]
    replay = next(line for line in result.stdout.splitlines() if line.startswith("  replay: "))
    assert "node.crash: " in result.stdout
    command = shlex.split(replay.removeprefix("  replay: "))
    assert command[:2] == ["arachne", "sim"]
    again = runner.invoke(app, command[1:])
    assert again.exit_code == 1
    assert again.stdout.splitlines()[0] == "1 seed: 0 passed, 1 failed"
    assert first in again.stdout  # the same failure, from its seed alone


def test_bad_options_are_named(runner: CliRunner) -> None:
    mode = runner.invoke(app, ["sim", str(QUICK_REFERENCE), "--mode", "chaos"])
    assert mode.exit_code == 2
    assert "liveness or safety" in mode.output
    inject = runner.invoke(app, ["sim", str(QUICK_REFERENCE), "--inject", "nowhere:in=1"])
    assert inject.exit_code == 2
    assert "no node 'nowhere'" in inject.output
