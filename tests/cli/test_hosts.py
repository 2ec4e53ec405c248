"""`arachne run --hosts N`: a document split over worker processes prints what one process does."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arachne.cli.main import app
from tests.durable.faults import BOUND, _committed, document_case

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
    result = runner.invoke(app, ["run", str(NOTIONAL), "--hosts", "2", "--trace"])
    assert result.exit_code != 0
    assert "--trace cannot be combined with --hosts" in result.stderr
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


def test_a_split_run_killed_mid_way_resumes_from_its_stores_to_the_same_file(
    tmp_path: Path,
) -> None:
    """--hosts 2 --store DIR, SIGKILL the coordinator mid-run, run again: the same file.

    The workers see their coordinator go and stop; the second command resumes each
    partition from its own checkpoint, and the exactly-once jsonl-sink ends byte for byte
    as a single-process run leaves it.
    """
    case = document_case(tmp_path / "split", orders=200_000)
    alone = document_case(tmp_path / "alone", orders=200_000)
    cli = [sys.executable, "-c", "from arachne.cli.main import main; main()", "run", "graph.yaml"]
    single = subprocess.run([*cli, "-q"], cwd=alone.folder, timeout=BOUND, check=False)
    assert single.returncode == 0
    cli += ["-q", "--hosts", "2", "--store", "stores", "--checkpoint-every", "0.05"]
    first = subprocess.Popen(cli, cwd=case.folder, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + BOUND
    sink_store = case.folder / "stores" / "h1.db"
    while _committed(sink_store) < 3 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.poll() is None, "the run ended before it could be killed: give it more input"
    workers = _children(first.pid)
    first.kill()
    first.wait()
    for pid in workers:  # (each stops once it sees its coordinator gone)
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert case.output.read_bytes() != alone.output.read_bytes()  # (killed part way)
    cli.remove("-q")  # (the summary says where each process resumed from)
    second = subprocess.run(cli, cwd=case.folder, capture_output=True, timeout=BOUND, check=False)
    assert second.returncode == 0, second.stderr.decode()
    assert case.output.read_bytes() == alone.output.read_bytes()
    summary = second.stderr.decode()
    assert "h1: batch, write" in summary
    assert "resumed from checkpoint" in summary.split("h1: ")[1], summary


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(child) for child in text.split()]
    return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return "Z"


def test_what_the_processes_log_is_logged_by_the_command(runner: CliRunner, tmp_path: Path) -> None:
    """A logger node in the second process: its lines reach the command's stderr, led by
    the partition's name; a quieter level keeps them back."""
    doc = tmp_path / "logged.yaml"
    doc.write_text(
        f"""arachne: "1.0"
name: Logged
nodes:
  - id: trades
    component: arachne.io.jsonl-source
    config: {{path: {ROOT / "examples" / "documents" / "trades.jsonl"}}}
  - id: say
    component: arachne.core.logger
    config: {{prefix: "seen "}}
  - id: report
    component: arachne.core.passthrough
edges:
  - {{source: "trades:out", target: "say:in"}}
  - {{source: "say:out", target: "report:in"}}
""",
        encoding="utf-8",
    )
    split = runner.invoke(app, ["run", str(doc), "--hosts", "2"])
    assert split.exit_code == 0, split.output
    said = [line for line in split.stderr.splitlines() if "seen " in line]
    assert said
    assert all("arachne.node.say: h" in line for line in said), said
    quiet = runner.invoke(app, ["run", str(doc), "--hosts", "2", "--log-level", "WARNING"])
    assert quiet.exit_code == 0, quiet.output
    assert "seen " not in quiet.stderr


QUICK = ROOT / "examples" / "documents" / "quick_reference.json"
LARGE = ROOT / "examples" / "documents" / "large_orders.yaml"


def test_injected_values_feed_a_split_run_as_one_process(runner: CliRunner) -> None:
    """--inject values go to the process of the node they feed; the lines are the same."""
    injects = ["--inject", "input:in=21", "--inject", "input:in=4", "--inject", "input=5"]
    single = runner.invoke(app, ["run", str(QUICK), "-q", *injects])
    assert single.exit_code == 0, single.output
    split = runner.invoke(app, ["run", str(QUICK), "--hosts", "2", *injects])
    assert split.exit_code == 0, split.output
    assert split.stdout == single.stdout == "42\n8\n10\n"
    assert "h0: cli-input-1, input" in split.stderr  # (the feed runs beside its node)


def test_an_input_file_feeds_a_split_run_each_output_in_its_order(
    runner: CliRunner, tmp_path: Path
) -> None:
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text("".join(f"{n}\n" for n in range(1, 41)))
    single = runner.invoke(app, ["run", str(LARGE), "-q", "--tag", "-i", str(numbers)])
    assert single.exit_code == 0, single.output
    split = runner.invoke(
        app, ["run", str(LARGE), "-q", "--tag", "--hosts", "3", "-i", str(numbers)]
    )
    assert split.exit_code == 0, split.output
    lines = single.stdout.splitlines()
    assert len(lines) == 40
    for node in ("log", "small"):  # (two outputs in two processes: each keeps its order)
        mine = [line for line in lines if f'"node": "{node}"' in line]
        assert [line for line in split.stdout.splitlines() if f'"node": "{node}"' in line] == mine
    assert sorted(split.stdout.splitlines()) == sorted(lines)


def test_a_split_run_says_what_its_processes_skipped(runner: CliRunner) -> None:
    """A value with no JSON form at a worker's tap: named, and the command exits 1."""
    result = runner.invoke(app, ["run", str(QUICK), "--hosts", "2", "-q", "--inject", 'input="x"'])
    assert result.exit_code == 1, result.output
    assert "1 output value(s) had no JSON form and were not printed" in result.stderr


def test_standard_input_feeds_a_split_run_through_a_named_pipe(runner: CliRunner) -> None:
    """Piped in, the values reach the process of the input node; the lines are one
    process's (each output's in its order); the pipe is gone after the run."""
    before = set(Path(tempfile.gettempdir()).glob("arachne-input-*"))
    values = "".join(f"{n}\n" for n in range(1, 301))
    single = runner.invoke(app, ["run", str(LARGE), "-q", "--tag"], input=values)
    assert single.exit_code == 0, single.output
    split = runner.invoke(app, ["run", str(LARGE), "-q", "--tag", "--hosts", "2"], input=values)
    assert split.exit_code == 0, split.output
    assert sorted(split.stdout.splitlines()) == sorted(single.stdout.splitlines())
    assert len(split.stdout.splitlines()) == 300
    both = runner.invoke(
        app,
        ["run", str(QUICK), "-q", "--hosts", "2", "-i", "-", "--inject", "input=1"],
        input="3\n",
    )
    assert both.exit_code == 0, both.output
    assert sorted(both.stdout.split()) == ["2", "6"]
    assert set(Path(tempfile.gettempdir()).glob("arachne-input-*")) == before


def test_an_input_only_this_command_can_open_is_relayed(runner: CliRunner) -> None:
    """/dev/fd/N (what a shell's <(...) gives) names the command's own descriptor: it is
    relayed to the feed's process, which could not open it itself."""
    read, write = os.pipe()
    os.write(write, b"21\n4\n")
    os.close(write)
    try:
        result = runner.invoke(
            app, ["run", str(QUICK), "-q", "--hosts", "2", "-i", f"/dev/fd/{read}"]
        )
    finally:
        os.close(read)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["42", "8"]


def test_relayed_input_is_copied_as_bytes_and_a_bad_line_is_named(runner: CliRunner) -> None:
    """A line that is not UTF-8 does not cut the input short: the feed's process names it
    and goes on, as one process does, and the command exits 1."""
    data = b"11\n\xff\n12\n13\n"
    split = runner.invoke(app, ["run", str(LARGE), "-q", "--hosts", "2"], input=data)
    assert split.exit_code == 1
    assert split.stdout == "22\n24\n26\n"  # (what one process prints from a real pipe)
    assert "not valid utf-8" in split.stderr


def test_a_relayed_run_cannot_take_a_store(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["run", str(LARGE), "--hosts", "2", "--store", str(tmp_path / "s")], input="1\n"
    )
    assert result.exit_code == 2
    assert "cannot be resumed" in result.stderr
    assert "give --input FILE" in result.stderr


def test_a_sharded_node_whose_error_port_is_linked_loses_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    """The replicas' failures went to the error port: nothing is reported lost."""
    doc = tmp_path / "errors.yaml"
    doc.write_text(
        """arachne: "1.0"
name: Errors
nodes:
  - id: intake
    component: arachne.core.passthrough
  - id: half
    component: arachne.core.map
    config: {expression: "value.v % 3 == 0 ? value.missing.field : value.v"}
  - id: out
    component: arachne.core.passthrough
  - id: bad
    component: arachne.core.passthrough
edges:
  - {source: "intake:out", target: "half:in"}
  - {source: "half:out", target: "out:in"}
  - {source: "half:error", target: "bad:in"}
""",
        encoding="utf-8",
    )
    values = "".join(f'{{"k": "{"abc"[n % 3]}", "v": {n}}}\n' for n in range(1, 10))
    args = ["run", str(doc), "-q", "--hosts", "2", "--shard", "half=k"]
    result = runner.invoke(app, args, input=values)
    assert result.exit_code == 0, result.output
    assert "went nowhere" not in result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(v for v in printed if isinstance(v, int)) == [1, 2, 4, 5, 7, 8]
    assert len([v for v in printed if isinstance(v, dict)]) == 3  # (the error records)


def _no_unbuffered() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def test_sigterm_stops_a_split_run_with_what_it_printed(tmp_path: Path) -> None:
    """SIGTERM is taken as Ctrl-C: the lines printed are flushed, the relay's pipe removed,
    and the status says which signal."""
    fifo = tmp_path / "values"
    os.mkfifo(fifo)
    cli = [sys.executable, "-c", "from arachne.cli.main import main; main()", "run"]
    run = subprocess.Popen(
        [*cli, str(QUICK), "-q", "--hosts", "2", "-i", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_no_unbuffered(),
    )
    with open(fifo, "w", encoding="utf-8") as writer:  # (blocks until the feed opens it)
        writer.write("21\n4\n")
        writer.flush()
        time.sleep(1.0)  # (the two values go through; the input stays open)
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=BOUND)
    assert run.returncode == 128 + signal.SIGTERM, err.decode()
    assert out.decode().split() == ["42", "8"]
    assert "interrupted by SIGTERM" in err.decode()


def test_a_closed_standard_output_stops_the_run_quietly(tmp_path: Path) -> None:
    """| head: one warning, the run stops, no flood of tracebacks."""
    cli = f"{shlex.quote(sys.executable)} -c 'from arachne.cli.main import main; main()'"
    command = f"seq 1 100000 | {cli} run {shlex.quote(str(LARGE))} -q --hosts 2 | head -2"
    bash = shutil.which("bash") or "/bin/bash"
    done = subprocess.run([bash, "-c", command], capture_output=True, timeout=BOUND, check=False)
    assert done.stdout.decode().split() == ["22", "24"]
    assert len(done.stderr.decode().splitlines()) <= 3, done.stderr.decode()[:2000]
