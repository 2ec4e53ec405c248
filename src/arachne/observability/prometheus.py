"""Prometheus metrics: the runtime's counters, read at scrape time, never pushed.

``ArachneCollector`` reads ``Execution.stats()`` of each execution it is given whenever
Prometheus scrapes, so a run nobody scrapes pays nothing. Every metric is in the ``arachne_``
namespace, labelled ``graph`` and ``execution``, and ``node`` or ``edge``:

- per node: messages received and emitted, errors, retries, skipped and dead-lettered
  messages (counters), calls in flight (gauge);
- per edge: depth and capacity (gauges), enqueued, dequeued, dropped and coalesced messages
  and the seconds its producer was held back (counters), and ``arachne_edge_backpressured``
  (1 for each full ``block`` edge, with the ``cause`` label of the node holding it back);
- per execution: activations (counter) and messages waiting in edges (gauge).

``serve_metrics(runtime, port)`` serves them at ``http://127.0.0.1:PORT/metrics``
(``arachne run --metrics-port N``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from arachne.observability.backpressure import backpressure

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from arachne.runtime import Execution, Runtime

__all__ = ["ArachneCollector", "serve_metrics"]

_NODE_COUNTERS = (
    ("received", "Messages a node has taken from its inputs"),
    ("emitted", "Messages a node has emitted"),
    ("errors", "Calls of a node's hooks that raised"),
    ("retried", "Retries a node's error policy made"),
    ("skipped", "Messages a node gave up and skipped"),
    ("dead_lettered", "Messages a node gave up to its error port"),
)
_EDGE_COUNTERS = (
    ("enqueued", "Messages an edge accepted"),
    ("dequeued", "Messages taken from an edge by its consumer"),
    ("dropped", "Messages an edge dropped (drop, latest, discarded)"),
    ("coalesced", "Messages an edge merged into the one queued before them"),
)


class ArachneCollector(Collector):
    """Reads the counters of ``executions`` (a runtime's, or any you list) at each scrape."""

    def __init__(self, executions: Runtime | Callable[[], Iterable[Execution]]) -> None:
        if callable(executions):
            self._executions = executions
        else:
            runtime = executions
            self._executions = lambda: list(runtime.executions.values())

    def collect(self) -> Iterator[Metric]:
        """Yield every family, one sample per execution and node or edge."""
        node_labels = ["graph", "execution", "node"]
        edge_labels = ["graph", "execution", "edge"]
        nodes = {
            name: CounterMetricFamily(f"arachne_node_{name}", text, labels=node_labels)
            for name, text in _NODE_COUNTERS
        }
        in_flight = GaugeMetricFamily(
            "arachne_node_in_flight", "Calls of a node in flight", labels=node_labels
        )
        edges = {
            name: CounterMetricFamily(f"arachne_edge_{name}", text, labels=edge_labels)
            for name, text in _EDGE_COUNTERS
        }
        depth = GaugeMetricFamily("arachne_edge_depth", "Messages queued", labels=edge_labels)
        capacity = GaugeMetricFamily(
            "arachne_edge_capacity",
            "Messages an edge holds before its policy acts",
            labels=edge_labels,
        )
        blocked = CounterMetricFamily(
            "arachne_edge_blocked_seconds",
            "Seconds an edge sat full with its producer held back",
            labels=edge_labels,
        )
        held = GaugeMetricFamily(
            "arachne_edge_backpressured",
            "1 for a full block edge; cause: the node holding it back",
            labels=[*edge_labels, "cause"],
        )
        activations = CounterMetricFamily(
            "arachne_execution_activations",
            "Turns the scheduler gave nodes",
            labels=["graph", "execution"],
        )
        waiting = GaugeMetricFamily(
            "arachne_execution_waiting_messages",
            "Messages waiting in edges",
            labels=["graph", "execution"],
        )
        for execution in self._executions():
            stats = execution.stats()
            where = [execution.graph.name, execution.id]
            for node_id, node in stats.nodes.items():
                for name, family in nodes.items():
                    family.add_metric([*where, node_id], getattr(node, name))
                in_flight.add_metric([*where, node_id], node.in_flight)
            for edge_id, edge in stats.edges.items():
                for name, family in edges.items():
                    family.add_metric([*where, edge_id], getattr(edge, name))
                depth.add_metric([*where, edge_id], edge.depth)
                capacity.add_metric([*where, edge_id], edge.capacity)
                blocked.add_metric([*where, edge_id], edge.blocked_seconds)
            for found in backpressure(stats):
                held.add_metric([*where, found.edge, found.cause], 1)
            activations.add_metric(where, stats.activations)
            waiting.add_metric(where, stats.in_flight)
        yield from nodes.values()
        yield in_flight
        yield from edges.values()
        yield from (depth, capacity, blocked, held, activations, waiting)


def serve_metrics(
    runtime: Runtime, port: int, *, host: str = "127.0.0.1"
) -> tuple[WSGIServer, CollectorRegistry]:
    """Serve ``runtime``'s metrics at ``http://HOST:PORT/metrics`` from a daemon thread.

    ``port`` 0 picks a free one (``server.server_port``). Stop with ``server.shutdown()``
    and ``server.server_close()``.
    """
    registry = CollectorRegistry()
    registry.register(ArachneCollector(runtime))
    server, _ = start_http_server(port, addr=host, registry=registry)
    return server, registry
