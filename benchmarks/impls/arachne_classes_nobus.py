"""``arachne_classes`` on the build with the event bus cut out (see ``benchmarks/nobus.py``).

The same module, imported from a copy of the sources where every ``if Kind in bus.wanted:``
site is removed: its rows against ``arachne_classes`` are what the bus costs when nobody
subscribes.
"""

from __future__ import annotations

from benchmarks.impls.arachne_classes import backpressure, fanout, latency, pipeline

__all__ = ["backpressure", "fanout", "latency", "pipeline"]
