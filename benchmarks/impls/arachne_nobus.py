"""``arachne`` (every hop an edge) on the build with the event bus cut out (``nobus.py``)."""

from __future__ import annotations

from benchmarks.impls.arachne_graph import backpressure, fanout, latency, pipeline

__all__ = ["backpressure", "fanout", "latency", "pipeline"]
