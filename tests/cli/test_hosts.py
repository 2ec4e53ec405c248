"""`arachne run --hosts N`: a document split over worker processes prints what one process does."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from arachne.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
NOTIONAL = ROOT / "examples" / "documents" / "notional.yaml"


@pytest.mark.parametrize("hosts", [2, 3])
def test_a_split_run_prints_what_one_process_prints(runner: CliRunner, hosts: int) -> None:
    """The same lines, in the same order; the summary names each process's nodes."""
    single = runner.invoke(app, ["run", str(NOTIONAL), "-q"])
    assert single.exit_code == 0, single.output
    assert len(single.stdout.splitlines()) > 5
    split = runner.invoke(app, ["run", str(NOTIONAL), "--hosts", str(hosts)])
    assert split.exit_code == 0, split.output
    assert split.stdout == single.stdout
    assert f"ran on {hosts} processes" in split.stderr
    assert "h0: trades" in split.stderr
    tagged = runner.invoke(app, ["run", str(NOTIONAL), "-q", "--tag", "--hosts", str(hosts)])
    assert tagged.exit_code == 0, tagged.output
    assert tagged.stdout.splitlines()[0].startswith('{"node": "report", "port": "out"')


def test_options_a_split_run_cannot_take_are_refused_by_name(
    runner: CliRunner, tmp_path: Path
) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("1\n")
    result = runner.invoke(app, ["run", str(NOTIONAL), "--hosts", "2", "-i", str(data)])
    assert result.exit_code != 0
    assert "--input cannot be combined with --hosts" in result.stderr
    result = runner.invoke(app, ["run", str(NOTIONAL), "--hosts", "0"])
    assert result.exit_code != 0


def test_a_sharded_node_gives_the_same_lines_in_some_order(runner: CliRunner) -> None:
    """--shard price=symbol: a replica per process, each symbol's items through one."""
    single = runner.invoke(app, ["run", str(NOTIONAL), "-q"])
    split = runner.invoke(app, ["run", str(NOTIONAL), "--hosts", "3", "--shard", "price=symbol"])
    assert split.exit_code == 0, split.output
    assert sorted(split.stdout.splitlines()) == sorted(single.stdout.splitlines())
    assert "price~router" in split.stderr
    assert "price~h2" in split.stderr


def test_a_shard_is_checked_before_anything_runs(runner: CliRunner) -> None:
    result = runner.invoke(app, ["run", str(NOTIONAL), "--hosts", "2", "--shard", "nope=symbol"])
    assert result.exit_code != 0
    assert "no node 'nope'" in result.stderr
    result = runner.invoke(app, ["run", str(NOTIONAL), "--hosts", "2", "--shard", "price"])
    assert "write NODE=KEY" in result.stderr
    result = runner.invoke(app, ["run", str(NOTIONAL), "--shard", "price=symbol"])
    assert result.exit_code != 0
    assert "--shard goes with --hosts" in result.output
