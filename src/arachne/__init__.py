"""Arachne: a dataflow graph runtime with typed ports, bounded edges and backpressure.

Everything a first graph needs is importable from here; the rest lives in ``arachne.model``,
``arachne.runtime`` and ``arachne.observability``.
"""

from __future__ import annotations

from arachne.model import (
    ArachneError,
    Coalesce,
    DeadLetters,
    ErrorRecord,
    ExecutionError,
    Graph,
    GraphError,
    Input,
    Issue,
    IterSource,
    Message,
    Node,
    NodeFailed,
    Output,
    PortSpec,
    Retry,
    SpecError,
    Subgraph,
    node,
)
from arachne.runtime import Execution, FakeClock, Runtime, Scheduler

__all__ = [
    "ArachneError",
    "Coalesce",
    "DeadLetters",
    "ErrorRecord",
    "Execution",
    "ExecutionError",
    "FakeClock",
    "Graph",
    "GraphError",
    "Input",
    "Issue",
    "IterSource",
    "Message",
    "Node",
    "NodeFailed",
    "Output",
    "PortSpec",
    "Retry",
    "Runtime",
    "Scheduler",
    "SpecError",
    "Subgraph",
    "node",
]

__version__ = "0.1.0"
