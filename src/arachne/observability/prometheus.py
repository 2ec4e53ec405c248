"""Prometheus metrics: the runtime's counters, read at scrape time, never pushed.

``ArachneCollector`` reads ``Execution.stats()`` of each execution it is given whenever
Prometheus scrapes, so a run nobody scrapes pays nothing. Every metric is in the ``arachne_``
namespace, labelled ``graph`` and ``execution``, and ``node`` or ``edge``:

- per node: messages received and emitted, hook invocations, errors, retries, skipped and
  dead-lettered messages (counters), calls in flight (gauge), busy, backpressured and idle
  seconds (counters), and its latency (histogram, seconds);
- per edge: depth and capacity (gauges), enqueued, dequeued, dropped and coalesced messages,
  the seconds and the spells its producer was held back (counters), and
  ``arachne_edge_backpressured`` (1 for each full ``block`` edge, with the ``cause`` label of
  the node holding it back);
- per execution (its scheduler): activations and control messages (counters), nodes ready,
  messages waiting in edges and loop lag in seconds (gauges), and end-to-end latency
  (histogram, seconds).

``serve_metrics(runtime, port)`` serves them at ``http://127.0.0.1:PORT/metrics``
(``arachne run --metrics-port N``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from arachne.runtime import Execution, LatencyStats, Runtime

__all__ = ["ArachneCollector", "serve_metrics"]

_NODE_COUNTERS = (
    ("received", "received", "Messages a node has taken from its inputs"),
    ("emitted", "emitted", "Messages a node has emitted"),
    ("invocations", "invocations", "Calls of a node's hooks (per message, tick, batch, retry)"),
    ("errors", "errors", "Calls of a node's hooks that raised"),
    ("retried", "retried", "Retries a node's error policy made"),
    ("skipped", "skipped", "Messages a node gave up and skipped"),
    ("dead_lettered", "dead_lettered", "Messages a node gave up to its error port"),
    ("busy_seconds", "busy_seconds", "Seconds a node spent running its hooks"),
    ("backpressured_seconds", "backpressured_seconds", "Seconds a full output held a node back"),
    ("idle_seconds", "idle_seconds", "Seconds a node waited for work"),
)
_EDGE_COUNTERS = (
    ("enqueued", "Messages an edge accepted"),
    ("dequeued", "Messages taken from an edge by its consumer"),
    ("dropped", "Messages an edge dropped (drop, latest, discarded)"),
    ("coalesced", "Messages an edge merged into the one queued before them"),
    ("blocked_seconds", "Seconds an edge sat full with its producer held back"),
    ("blocked_spells", "Times an edge filled and began holding its producer back"),
)


def _histogram(family: HistogramMetricFamily, labels: list[str], latency: LatencyStats) -> None:
    buckets = [(repr(bound), count) for bound, count in latency.buckets]
    buckets.append(("+Inf", latency.count))
    family.add_metric(labels, buckets, latency.sum)


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
        run_labels = ["graph", "execution"]
        nodes = {
            field: CounterMetricFamily(f"arachne_node_{name}", text, labels=node_labels)
            for field, name, text in _NODE_COUNTERS
        }
        in_flight = GaugeMetricFamily(
            "arachne_node_in_flight", "Calls of a node in flight", labels=node_labels
        )
        node_latency = HistogramMetricFamily(
            "arachne_node_latency_seconds",
            "Sampled time from a message's arrival on an edge to the end of its handling",
            labels=node_labels,
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
        held = GaugeMetricFamily(
            "arachne_edge_backpressured",
            "1 for a full block edge; cause: the node holding it back",
            labels=[*edge_labels, "cause"],
        )
        activations = CounterMetricFamily(
            "arachne_scheduler_activations", "Turns the scheduler gave nodes", labels=run_labels
        )
        control = CounterMetricFamily(
            "arachne_scheduler_control_messages",
            "Messages taken from control edges",
            labels=run_labels,
        )
        ready = GaugeMetricFamily(
            "arachne_scheduler_ready_nodes", "Nodes queued for a turn", labels=run_labels
        )
        lag = GaugeMetricFamily(
            "arachne_scheduler_loop_lag_seconds",
            "How late the last due timer fired",
            labels=run_labels,
        )
        waiting = GaugeMetricFamily(
            "arachne_execution_waiting_messages", "Messages waiting in edges", labels=run_labels
        )
        end_to_end = HistogramMetricFamily(
            "arachne_execution_latency_seconds",
            "Sampled time from a message's start at a source to the end of its handling at a sink",
            labels=run_labels,
        )
        for execution in self._executions():
            stats = execution.stats()
            where = [execution.graph.name, execution.id]
            for node_id, node in stats.nodes.items():
                labels = [*where, node_id]
                for field, family in nodes.items():
                    family.add_metric(labels, getattr(node, field))
                in_flight.add_metric(labels, node.in_flight)
                _histogram(node_latency, labels, node.latency)
            for edge_id, edge in stats.edges.items():
                labels = [*where, edge_id]
                for name, family in edges.items():
                    family.add_metric(labels, getattr(edge, name))
                depth.add_metric(labels, edge.depth)
                capacity.add_metric(labels, edge.capacity)
            for found in stats.backpressure:
                held.add_metric([*where, found.edge, found.cause], 1)
            activations.add_metric(where, stats.activations)
            control.add_metric(where, stats.control_messages)
            ready.add_metric(where, stats.ready)
            lag.add_metric(where, stats.loop_lag)
            waiting.add_metric(where, stats.in_flight)
            _histogram(end_to_end, where, stats.latency)
        yield from nodes.values()
        yield from (in_flight, node_latency)
        yield from edges.values()
        yield from (depth, capacity, held, activations, control, ready, lag, waiting, end_to_end)


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
