from __future__ import annotations

from arachne import IterSource, Runtime, Subgraph
from arachne.observability import format_stats
from tests.runtime.nodes import Collect


def test_report_lists_every_edge_and_node_with_its_counters() -> None:
    graph = Subgraph()
    graph.add_node(IterSource(range(10), name="src"))
    graph.add_node(Collect())
    graph.connect(("src", "out"), ("collect", "in"), capacity=3)
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    lines = format_stats(runtime.stats()).splitlines()
    assert lines[0].endswith("(completed)")
    edge_row = next(line for line in lines if line.startswith("src.out->collect.in"))
    assert edge_row.split()[:6] == ["src.out->collect.in", "0/3", "10", "10", "0", "3"]
    node_row = next(line for line in lines if line.startswith("collect "))
    assert node_row.split() == ["collect", "stopped", "10", "0", "0", "0"]
