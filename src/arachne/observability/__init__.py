"""The observability layer: reads the runtime's counters and events from the side.

The runtime keeps plain counters (``Execution.stats()``), logs through ``logging`` and publishes
typed events on its bus (``arachne.runtime.events``); what is here formats and exports them,
and the runtime never imports it.
"""

from __future__ import annotations

from arachne.observability.logs import JsonLogFormatter, LogContextFilter, Redactor, log_events
from arachne.observability.report import format_stats

__all__ = [
    "JsonLogFormatter",
    "LogContextFilter",
    "Redactor",
    "format_stats",
    "log_events",
]
