"""The observability layer: reads the runtime's counters and events from the side.

The runtime keeps plain counters (``Execution.stats()``), logs through ``logging`` and publishes
typed events on its bus (``arachne.runtime.events``); what is here formats and exports them,
and the runtime never imports it. ``QueryPlane`` answers typed questions about one execution
(topology, flow, load, backpressure), each answer stamped with its graph's manifest digest.
"""

from __future__ import annotations

from arachne.observability.logs import JsonLogFormatter, LogContextFilter, Redactor, log_events
from arachne.observability.query import (
    BackpressureSnapshot,
    EdgeFlow,
    FlowSnapshot,
    LoadSnapshot,
    NodeLoad,
    QueryPlane,
    Stamp,
    TopologySnapshot,
)
from arachne.observability.report import format_stats

__all__ = [
    "BackpressureSnapshot",
    "EdgeFlow",
    "FlowSnapshot",
    "JsonLogFormatter",
    "LoadSnapshot",
    "LogContextFilter",
    "NodeLoad",
    "QueryPlane",
    "Redactor",
    "Stamp",
    "TopologySnapshot",
    "format_stats",
    "log_events",
]
