"""Arachne with ``Runtime(fusion=True)``: the same graphs; falls back to ``Runtime()`` (noted)."""

from __future__ import annotations

from benchmarks.impls import arachne_graph
from benchmarks.workloads import Tally


def pipeline(n: int) -> Tally:
    return arachne_graph.pipeline(n, fused=True)


def fanout(n: int) -> Tally:
    return arachne_graph.fanout(n, fused=True)


def latency(n: int) -> Tally:
    return arachne_graph.latency(n, fused=True)


def backpressure(n: int) -> Tally:
    return arachne_graph.backpressure(n, fused=True)
