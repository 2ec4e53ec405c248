"""Arachne with ``Runtime(check_types=True)``: every emitted value checked against its port.

The same graphs as ``arachne_fused`` (the default options), with the type check on: fusion
and the direct function paths are off, so every value goes through the checked ``emit``. Its
rows against ``arachne_fused`` are what the switch costs.
"""

from __future__ import annotations

from benchmarks.impls import arachne_graph
from benchmarks.workloads import Tally


def pipeline(n: int) -> Tally:
    return arachne_graph.pipeline(n, fused=True, checked=True)


def fanout(n: int) -> Tally:
    return arachne_graph.fanout(n, fused=True, checked=True)


def latency(n: int) -> Tally:
    return arachne_graph.latency(n, fused=True, checked=True)


def backpressure(n: int) -> Tally:
    return arachne_graph.backpressure(n, fused=True, checked=True)
