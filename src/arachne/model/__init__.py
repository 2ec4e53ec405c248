"""The model layer: messages, ports, schemas, policies, nodes and graphs as desired state.

Pure: no asyncio, no I/O, no threads. The runtime turns these into running structures.
"""

from __future__ import annotations

from arachne.model.context import NodeContext
from arachne.model.dead_letters import DeadLetters
from arachne.model.decorator import node
from arachne.model.delta import GraphDelta
from arachne.model.error_record import ERROR_PORT, ErrorRecord
from arachne.model.errors import (
    ArachneError,
    CommitFailed,
    ExecutionError,
    ExpressionError,
    GraphError,
    NodeFailed,
    SpecError,
)
from arachne.model.function_node import FunctionNode
from arachne.model.function_stage import FunctionStage
from arachne.model.graph import Graph
from arachne.model.message import Headers, Message
from arachne.model.node import AsyncNode, Node
from arachne.model.payloads import LazyPayload, PayloadUnavailable, open_payload
from arachne.model.policies import Coalesce, ErrorPolicy, Mode, Overflow, Retry
from arachne.model.port import Input, Output, PortSpec
from arachne.model.schema import SchemaAdapter, adapt
from arachne.model.sources import IterSource, PullSource
from arachne.model.specs import LinkSpec, NodeSpec, PortRef
from arachne.model.subgraph import Subgraph
from arachne.model.topology import Topology
from arachne.model.validation import Issue

__all__ = [
    "ERROR_PORT",
    "ArachneError",
    "AsyncNode",
    "Coalesce",
    "CommitFailed",
    "DeadLetters",
    "ErrorPolicy",
    "ErrorRecord",
    "ExecutionError",
    "ExpressionError",
    "FunctionNode",
    "FunctionStage",
    "Graph",
    "GraphDelta",
    "GraphError",
    "Headers",
    "Input",
    "Issue",
    "IterSource",
    "LazyPayload",
    "LinkSpec",
    "Message",
    "Mode",
    "Node",
    "NodeContext",
    "NodeFailed",
    "NodeSpec",
    "Output",
    "Overflow",
    "PayloadUnavailable",
    "PortRef",
    "PortSpec",
    "PullSource",
    "Retry",
    "SchemaAdapter",
    "SpecError",
    "Subgraph",
    "Topology",
    "adapt",
    "node",
    "open_payload",
]
