"""Arachne: a dataflow graph runtime with typed ports, bounded edges and backpressure.

Everything a first graph needs is importable from here; the rest lives in ``arachne.model``,
``arachne.runtime`` and ``arachne.observability``. The runtime's names are loaded on first use,
so ``import arachne`` (to build or check a graph, say) does not pay for asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from arachne.model import (
    ArachneError,
    AsyncNode,
    Coalesce,
    CommitFailed,
    DeadLetters,
    ErrorRecord,
    ExecutionError,
    Graph,
    GraphError,
    Input,
    Issue,
    IterSource,
    LazyPayload,
    Message,
    Node,
    NodeFailed,
    Output,
    PayloadUnavailable,
    PortSpec,
    Retry,
    SpecError,
    Subgraph,
    node,
    open_payload,
)

if TYPE_CHECKING:
    from arachne.runtime import Execution, FakeClock, Runtime, Scheduler

__all__ = [
    "ArachneError",
    "AsyncNode",
    "Coalesce",
    "CommitFailed",
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
    "LazyPayload",
    "Message",
    "Node",
    "NodeFailed",
    "Output",
    "PayloadUnavailable",
    "PortSpec",
    "Retry",
    "Runtime",
    "Scheduler",
    "SpecError",
    "Subgraph",
    "node",
    "open_payload",
]

__version__ = "0.1.0"

_RUNTIME_NAMES = frozenset({"Execution", "FakeClock", "Runtime", "Scheduler"})


def __getattr__(name: str) -> Any:
    if name in _RUNTIME_NAMES:
        value = getattr(importlib.import_module("arachne.runtime"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'arachne' has no attribute {name!r}")
