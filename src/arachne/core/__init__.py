"""The blueprint's import path: ``from arachne.core import Node, Subgraph, Scheduler``.

Re-exports only; every name is defined in ``arachne.model`` or ``arachne.runtime``.
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
    Headers,
    Input,
    Issue,
    IterSource,
    Message,
    Node,
    NodeFailed,
    Output,
    PortSpec,
    Retry,
    Subgraph,
    node,
)
from arachne.model.errors import EdgeFull
from arachne.runtime import Edge, Execution, ExecutionState, FakeClock, Runtime, Scheduler

__all__ = [
    "ArachneError",
    "Coalesce",
    "DeadLetters",
    "Edge",
    "EdgeFull",
    "ErrorRecord",
    "Execution",
    "ExecutionError",
    "ExecutionState",
    "FakeClock",
    "Graph",
    "GraphError",
    "Headers",
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
    "Subgraph",
    "node",
]
