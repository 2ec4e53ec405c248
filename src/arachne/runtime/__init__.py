"""The runtime layer: edges, scheduler, executions and the event bus. Owns concurrency."""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from arachne.runtime.clock import Clock, FakeClock, MonotonicClock
from arachne.runtime.edge import Edge
from arachne.runtime.events import Event, EventBus, Subscription
from arachne.runtime.execution import Execution
from arachne.runtime.injection import MAX_BACKPRESSURE_QUEUE
from arachne.runtime.record import ExecutionFailure, ExecutionRecord, ExecutionTimeout
from arachne.runtime.runtime import (
    DEFAULT_EXECUTION_TIMEOUT,
    MAX_CONCURRENT_EXECUTIONS,
    Runtime,
    Scheduler,
)
from arachne.runtime.state import ExecutionState
from arachne.runtime.stats import (
    Backpressure,
    EdgeStats,
    ExecutionStats,
    LatencyStats,
    NodeStats,
    ServiceMetrics,
)
from arachne.runtime.watch import Taken, Watch

if TYPE_CHECKING:
    from arachne.runtime.event_relay import EventRelay, RelayClosed

__all__ = [
    "DEFAULT_EXECUTION_TIMEOUT",
    "MAX_BACKPRESSURE_QUEUE",
    "MAX_CONCURRENT_EXECUTIONS",
    "Backpressure",
    "Clock",
    "Edge",
    "EdgeStats",
    "Event",
    "EventBus",
    "EventRelay",
    "Execution",
    "ExecutionFailure",
    "ExecutionRecord",
    "ExecutionState",
    "ExecutionStats",
    "ExecutionTimeout",
    "FakeClock",
    "LatencyStats",
    "MonotonicClock",
    "NodeStats",
    "RelayClosed",
    "Runtime",
    "Scheduler",
    "ServiceMetrics",
    "Subscription",
    "Taken",
    "Watch",
]

# A library leaves output to the application: without this, Python's last-resort handler
# would print the runtime's warnings to stderr of programs that never configured logging.
logging.getLogger("arachne").addHandler(logging.NullHandler())


_LAZY = {"EventRelay": "arachne.runtime.event_relay", "RelayClosed": "arachne.runtime.event_relay"}
"""Loaded on first use: only consumers of events on another thread or loop need them."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'arachne.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
