"""The examples run as the README says, from the project root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_module(module: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_hello_graph_prints_three_lines_and_exits_by_itself() -> None:
    result = run_module("examples.hello_graph.main")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["got: 0", "got: 1", "got: 2"]


def test_hello_graph_files_are_the_readme_s() -> None:
    main = (ROOT / "examples/hello_graph/main.py").read_text()
    assert "from producer import Producer" in main
    producer = (ROOT / "examples/hello_graph/producer.py").read_text()
    assert "super().__init__" not in producer


def test_pipeline_demo_shows_bounded_flow_and_stores_every_valid_order() -> None:
    result = run_module("examples.pipeline_demo.main")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "stored 257 orders worth 7702.29; rejected 43" in lines
    table = [
        line for line in lines if line.strip().endswith("s") and line[:6].strip().endswith("s")
    ]
    for row in table:
        in_flight = int(row.split()[3])
        assert in_flight <= 4 * 8 + 1
    source_edge = next(line for line in lines if line.startswith("orders/source.out"))
    assert float(source_edge.split()[-1]) > 0  # the source spent time blocked


def test_kill_switch_stops_the_flooded_pipeline() -> None:
    result = run_module("examples.kill_switch.main")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("execution cancelled: kill switch handled")
    assert "queued messages dropped by the kill" in lines[2]
    dropped = int(lines[2].split()[0])
    assert dropped > 0
    control = next(line for line in lines if line.startswith("operator.out->risk_check.control"))
    assert control.split()[2:4] == ["1", "1"]  # one KILL enqueued, one handled
