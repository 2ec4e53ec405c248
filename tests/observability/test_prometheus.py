"""Prometheus text from a known run, parsed by prometheus_client's own parser (issue 12)."""

from __future__ import annotations

import urllib.request

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from arachne import IterSource, Runtime, Subgraph, node
from arachne.observability.prometheus import ArachneCollector, serve_metrics
from arachne.runtime import FakeClock
from tests.runtime.nodes import Collect


@node(filter=True)
def even(x: int) -> bool:
    return x % 2 == 0


def known_run() -> Runtime:
    """Ten numbers, the five even ones kept: every counter below is known in advance."""
    graph = Subgraph()
    graph.add_node(IterSource(range(10), schema=int, name="numbers"))
    graph.add_node(even())
    graph.add_node(Collect(), name="sink")
    graph.connect(("numbers", "out"), ("even", "in"), capacity=4)
    graph.connect(("even", "out"), ("sink", "in"), capacity=4)
    runtime = Runtime(clock=FakeClock(), fusion=False)
    runtime.register(graph)
    runtime.run()
    return runtime


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    matches = [v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls)]
    assert len(matches) == 1, (name, labels, matches)
    return matches[0]


def test_every_family_reads_the_runs_counters() -> None:
    runtime = known_run()
    registry = CollectorRegistry()
    registry.register(ArachneCollector(runtime))
    found = samples(generate_latest(registry).decode())
    ex = runtime.execution.id
    assert value(found, "arachne_node_received_total", node="even", execution=ex) == 10
    assert value(found, "arachne_node_emitted_total", node="even") == 5
    assert value(found, "arachne_node_received_total", node="sink") == 5
    assert value(found, "arachne_node_errors_total", node="even") == 0
    assert value(found, "arachne_node_in_flight", node="sink") == 0
    top, bottom = "numbers.out->even.in", "even.out->sink.in"
    assert value(found, "arachne_edge_enqueued_total", edge=top) == 10
    assert value(found, "arachne_edge_dequeued_total", edge=bottom) == 5
    assert value(found, "arachne_edge_dropped_total", edge=top) == 0
    assert value(found, "arachne_edge_capacity", edge=bottom) == 4
    assert value(found, "arachne_edge_depth", edge=bottom) == 0
    assert value(found, "arachne_execution_waiting_messages", execution=ex) == 0
    stats = runtime.execution.stats()
    assert value(found, "arachne_scheduler_activations_total", execution=ex) == stats.activations
    assert stats.activations > 0
    assert value(found, "arachne_scheduler_ready_nodes", execution=ex) == 0
    assert value(found, "arachne_scheduler_control_messages_total", execution=ex) == 0
    assert value(found, "arachne_scheduler_loop_lag_seconds", execution=ex) == stats.loop_lag
    assert value(found, "arachne_node_invocations_total", node="even") == 10
    # The source fills the 4-slot edge twice (4, 4, then 2 of the 10); the filter never can.
    assert value(found, "arachne_edge_blocked_spells_total", edge=top) == 2
    assert value(found, "arachne_edge_blocked_spells_total", edge=bottom) == 0
    for name in ("busy", "backpressured", "idle"):  # as stats() says (fake clock: exact)
        seconds = getattr(stats.nodes["sink"], f"{name}_seconds")
        assert value(found, f"arachne_node_{name}_seconds_total", node="sink") == seconds
    # Latency histograms: each carries as many samples as stats() says, all in +Inf, and
    # its buckets never decrease.
    for family, labels, latency in (
        ("arachne_node_latency_seconds", {"node": "sink"}, stats.nodes["sink"].latency),
        ("arachne_execution_latency_seconds", {"execution": ex}, stats.latency),
    ):
        assert latency.count >= 1
        assert value(found, f"{family}_count", **labels) == latency.count
        assert value(found, f"{family}_bucket", le="+Inf", **labels) == latency.count
        counts = [
            value(found, f"{family}_bucket", le=repr(b), **labels) for b, _ in latency.buckets
        ]
        assert counts == sorted(counts)
        assert counts[-1] <= latency.count
    assert not [n for n, _ in found if n == "arachne_edge_backpressured"]  # nothing is full
    graphs = {dict(ls).get("graph") for _, ls in found}
    assert graphs == {runtime.execution.graph.name}


def test_serve_metrics_answers_a_scrape_on_loopback() -> None:
    runtime = known_run()
    server, _ = serve_metrics(runtime, 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:  # loopback
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert value(samples(text), "arachne_node_emitted_total", node="even") == 5


def test_arachne_run_serves_metrics_while_it_runs() -> None:
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    arachne = str(Path(sys.executable).parent / "arachne")
    document = str(root / "examples" / "documents" / "quick_reference.json")
    proc = subprocess.Popen(
        [arachne, "run", document, "-q", "--metrics-port", "0"],
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
        port = re.search(r"127\.0\.0\.1:(\d+)/metrics", line)
        assert port, line
        url = f"http://127.0.0.1:{port.group(1)}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:  # loopback
            text = response.read().decode()
        assert value(samples(text), "arachne_node_received_total", node="double") == 1
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
