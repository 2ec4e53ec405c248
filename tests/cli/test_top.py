"""The live view (`arachne top`, `arachne run --top`): frames from snapshots, at 80 columns."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console
from typer.testing import CliRunner

from arachne.cli.main import app
from arachne.observability.prometheus import ArachneCollector
from arachne.observability.top import TopView, read_metrics, render
from arachne.runtime.stats import EdgeStats, ExecutionStats, LatencyStats, NodeStats
from arachne.runtime.timing import LATENCY_BOUNDS
from tests.cli.conftest import QUICK_REFERENCE

ARACHNE = str(Path(sys.executable).parent / "arachne")
LONG = "a-very-long-node-identifier-that-goes-on-and-on-and-on"
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def latency(p99: float) -> LatencyStats:
    """Ten samples: nine within 5 ms, the tenth within ``p99`` (a bucket bound)."""
    buckets = tuple(
        (bound, 0 if bound < 0.005 else 9 if bound < p99 else 10) for bound in LATENCY_BOUNDS
    )
    return LatencyStats(count=10, mean=p99 / 10, p50=0.005, p99=p99, sum=p99, buckets=buckets)


def node_stats(
    node_id: str,
    received: int,
    emitted: int,
    *,
    busy: float = 0.5,
    held: float = 0.2,
    idle: float = 0.3,
    p99: float = 0.005,
    errors: int = 0,
) -> NodeStats:
    return NodeStats(
        id=node_id,
        state="running",
        received=received,
        emitted=emitted,
        ticks=0,
        unrouted=0,
        errors=errors,
        busy_seconds=busy,
        backpressured_seconds=held,
        idle_seconds=idle,
        latency=latency(p99),
    )


def edge_stats(source: str, target: str, depth: int, capacity: int = 16) -> EdgeStats:
    return EdgeStats(
        id=f"{source}.out->{target}.in",
        source=source,
        target=target,
        capacity=capacity,
        overflow="block",
        priority=0,
        control=False,
        depth=depth,
        offered=depth,
        enqueued=depth,
        dequeued=0,
        dropped=0,
        coalesced=0,
        failed=0,
        high_water=depth,
        blocked_seconds=0.0,
        closed=False,
    )


def snapshot(step: int, elapsed: float) -> ExecutionStats:
    """numbers -> parse -> LONG -> sink, every edge full: the sink holds the whole line back."""
    nodes = [
        node_stats("numbers", 0, 100 * step),
        node_stats("parse", 100 * step, 100 * step),
        node_stats(LONG, 50 * step, 50 * step, p99=0.25, errors=3),
        node_stats("sink", 50 * step, 0, busy=0.9 * step, held=0.0, idle=0.1),
    ]
    edges = [
        edge_stats("numbers", "parse", 16),
        edge_stats("parse", LONG, 16),
        edge_stats(LONG, "sink", 16),
    ]
    return ExecutionStats(
        id="exec-1234abcd",
        state="running",
        nodes={node.id: node for node in nodes},
        edges={edge.id: edge for edge in edges},
        activations=12_345,
        elapsed=elapsed,
    )


def text_of(renderable: object, width: int = 80) -> str:
    console = Console(width=width, record=True, force_terminal=False)
    console.print(renderable)
    return console.export_text()


def row(text: str, first: str) -> list[str]:
    """The cells of the line that starts with ``first``."""
    (line,) = [line for line in text.splitlines() if line.startswith(first + " ")]
    return line.split()


def assert_fits(text: str, width: int = 80) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, too_wide


# -- the frame, from hand-built snapshots ---------------------------------------------------------


def test_a_frame_shows_rates_latency_shares_and_causes_in_80_columns() -> None:
    view = TopView()
    view.update(snapshot(1, 1.0))
    text = text_of(view.update(snapshot(2, 1.5)))
    assert_fits(text)
    # numbers emitted 100 more in the 0.5 s between the two snapshots: 200 a second.
    assert row(text, "numbers")[1:3] == ["-", "200"]
    assert row(text, "parse")[1:] == ["200", "200", "5.0ms", "50%", "20%", "0"]
    # The sink was busy for all of the 0.9 s timed since the previous frame.
    assert row(text, "sink")[1:] == ["100", "-", "5.0ms", "100%", "0%", "0"]
    (long_row,) = [line for line in text.splitlines() if line.startswith("a-very-long-nod…")]
    assert long_row.split()[1:] == ["100", "100", "250ms", "50%", "20%", "3"]
    assert "a-very-long-node-ide…and-on.out->sink.in" in text  # cut in the middle
    assert "exec-1234abcd · running · 1.5 s · 12,345 activations" in text
    assert "backpressure: held by sink (3 edges)" in text
    assert text.count("held by sink") == 4  # the header, then each of the three edges
    assert "16/16" in text


def test_rates_come_from_the_clock_passed_in_and_the_first_frame_averages() -> None:
    view = TopView()
    first = view.update(snapshot(1, 4.0), now=100.0)
    by_id = {node.id: node for node in first.nodes}
    assert by_id["numbers"].emitted == pytest.approx(25.0)  # 100 over the 4 s run so far
    assert by_id["numbers"].received is None  # a source takes nothing in
    second = view.update(snapshot(3, 4.0), now=102.0)
    by_id = {node.id: node for node in second.nodes}
    assert by_id["parse"].received == pytest.approx(100.0)  # 200 more in 2 s
    assert by_id[LONG].p99 == pytest.approx(0.25)


def test_the_renderer_is_a_pure_function_of_two_snapshots() -> None:
    before, after = snapshot(1, 1.0), snapshot(2, 1.5)
    assert render(after, before) == render(after, before)
    assert text_of(render(after)) == text_of(TopView().update(after))
    ordinary = render(after, before, title="orders · exec-1")
    assert text_of(ordinary).startswith("orders · exec-1 · running")


@pytest.mark.parametrize("width", [40, 60, 100, 160])
def test_no_line_is_wider_than_the_console(width: int) -> None:
    text = text_of(render(snapshot(2, 1.5), snapshot(1, 1.0)), width)
    assert_fits(text, width)
    assert "sink" in text


def test_the_fullest_edges_come_first_and_the_rest_are_counted() -> None:
    stats = snapshot(1, 1.0)
    edges = [edge_stats(f"n{i}", f"m{i}", min(i, 10), capacity=10) for i in range(12)]
    by_id = {edge.id: edge for edge in edges}
    frame = render(ExecutionStats(stats.id, stats.state, stats.nodes, by_id, elapsed=1.0))
    shown = [edge.id.split(".")[0] for edge in frame.edges]
    assert shown == ["n10", "n11", "n9", "n8", "n7", "n6", "n5", "n4"]  # held back, fullest
    assert frame.edges[0].cause == "m10"  # full: held back by its consumer
    assert frame.more_edges == 4
    text = text_of(frame)
    assert "… 4 more edges" in text
    assert_fits(text)


def test_no_backpressure_is_said_plainly() -> None:
    stats = snapshot(1, 1.0)
    calm = {key: edge_stats(edge.source, edge.target, 1) for key, edge in stats.edges.items()}
    text = text_of(render(ExecutionStats(stats.id, "completed", stats.nodes, calm, elapsed=1.0)))
    assert "no backpressure" in text
    assert "held by" not in text


# -- Prometheus text read back ---------------------------------------------------------------


def test_prometheus_text_reads_back_into_the_same_view() -> None:
    stats = snapshot(2, 1.5)
    execution = SimpleNamespace(
        id=stats.id, graph=SimpleNamespace(name="orders"), stats=lambda: stats
    )
    registry = CollectorRegistry()
    registry.register(ArachneCollector(lambda: [execution]))
    (scrape,) = read_metrics(generate_latest(registry).decode())
    assert scrape.graph == "orders"
    assert scrape.stats.id == stats.id
    assert list(scrape.stats.nodes) == list(stats.nodes)
    sink = scrape.stats.nodes["sink"]
    assert (sink.received, sink.errors, sink.busy_seconds) == (100, 0, pytest.approx(1.8))
    assert scrape.stats.nodes[LONG].errors == 3
    assert scrape.stats.nodes[LONG].latency.p99 == 0.25  # the bucket's upper bound
    assert scrape.stats.nodes["parse"].latency.p50 == 0.005
    assert scrape.stats.elapsed == pytest.approx(1.9)  # the sink's life: 1.8 + 0.1
    assert scrape.stats.activations == 12_345
    assert [(found.edge, found.cause) for found in scrape.backpressure] == [
        (found.edge, found.cause) for found in stats.backpressure
    ]
    assert scrape.stats.edges["numbers.out->parse.in"].depth == 16
    text = text_of(render(scrape.stats, backpressure=scrape.backpressure, title="orders"))
    assert "held by sink (3 edges)" in text
    assert_fits(text)


# -- arachne run --top, on a terminal of 80 columns ----------------------------------------------


def read_all(fd: int, proc: subprocess.Popen[bytes], deadline: float) -> bytes:
    """Read the pty until the child has closed it (EIO) or the deadline passes."""
    chunks = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: every copy of the other end is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_run_top_draws_the_view_on_a_terminal_of_80_columns(tmp_path: Path) -> None:
    import fcntl
    import struct
    import termios

    source = "numbers-source-with-a-rather-long-identifier-for-this-test"
    document = tmp_path / "slow.json"
    document.write_text(
        json.dumps(
            {
                "arachne": "1.0",
                "name": "held back",
                "nodes": [
                    {"id": source, "component": "arachne.core.passthrough"},
                    # Long enough for a redraw or two (every 0.25 s) before the final frame.
                    {"id": "slow", "component": "arachne.core.delay", "config": {"ms": 300}},
                    {"id": "out", "component": "arachne.core.passthrough"},
                ],
                "edges": [
                    {
                        "source": {"node": source, "port": "out"},
                        "target": {"node": "slow", "port": "in"},
                        "capacity": 4,
                    },
                    {
                        "source": {"node": "slow", "port": "out"},
                        "target": {"node": "out", "port": "in"},
                    },
                ],
            }
        )
    )
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text("".join(f"{n}\n" for n in range(1, 21)))
    primary, secondary = os.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    try:
        proc = subprocess.Popen(
            [ARACHNE, "run", str(document), "-i", str(numbers), "--top", "-q"],
            stdin=subprocess.DEVNULL,
            stdout=secondary,
            stderr=secondary,
            env=env,
        )
        os.close(secondary)
        secondary = -1
        raw = read_all(primary, proc, time.monotonic() + 30)
        assert proc.wait(timeout=30) == 0, raw
    finally:
        if secondary >= 0:
            os.close(secondary)
        os.close(primary)
    text = ANSI.sub("", raw.decode("utf-8", "replace"))
    lines = re.split(r"\r\n|\r|\n", text)
    too_wide = [line for line in lines if len(line) > 80]
    assert not too_wide, too_wide
    assert "held back · exec-" in text  # the header: the document's name, the execution
    assert "in/s" in text
    assert "no backpressure" in text  # the final frame: everything drained
    for name in ("slow", "out", "cli-input-1"):
        assert any(line.startswith(name + " ") for line in lines), name
    assert any(line.startswith("numbers-source") and "…" in line for line in lines)
    assert "20" in lines  # the values still come out


def test_run_top_off_a_terminal_prints_the_last_frame_once(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["run", str(QUICK_REFERENCE), "--inject", "input:in=4", "--top", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "8"
    assert result.stderr.count("in/s") == 1
    assert "completed" in result.stderr
    assert_fits(result.stderr)


# -- arachne top, against a run serving its metrics -----------------------------------------------


def test_top_reads_a_running_runs_metrics(runner: CliRunner) -> None:
    proc = subprocess.Popen(
        [ARACHNE, "run", str(QUICK_REFERENCE), "-q", "--metrics-port", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        proc.stdin.write("21\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "42\n"  # the run is going, its stdin still open
        line = proc.stderr.readline()
        found = re.search(r"127\.0\.0\.1:(\d+)/metrics", line)
        assert found, line
        port = found.group(1)
        for endpoint in (port, f"http://127.0.0.1:{port}/metrics"):
            result = runner.invoke(app, ["top", endpoint, "-n", "1"])
            assert result.exit_code == 0, result.output
            assert "in/s" in result.stdout
            for name in ("input", "double", "output"):
                assert re.search(rf"^{name} ", result.stdout, re.MULTILINE), name
            assert row(result.stdout, "double")[-1] == "0"  # errors
            assert_fits(result.stdout)
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    # The run has ended and its endpoint with it.
    result = runner.invoke(app, ["top", port, "-n", "1"])
    assert result.exit_code == 2
    assert "nothing answers" in result.stderr
    assert "--metrics-port" in result.stderr


def test_top_refuses_what_is_not_an_http_endpoint(runner: CliRunner) -> None:
    result = runner.invoke(app, ["top", "file:///etc/passwd"])
    assert result.exit_code == 2
    assert "http://" in result.stderr


def test_top_says_when_an_endpoint_serves_no_execution(runner: CliRunner) -> None:
    from prometheus_client import start_http_server

    server, thread = start_http_server(0, addr="127.0.0.1", registry=CollectorRegistry())
    try:
        result = runner.invoke(app, ["top", str(server.server_port), "-n", "1"])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert result.exit_code == 2
    assert "serves no Arachne execution" in result.stderr
