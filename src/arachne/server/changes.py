"""A change to a running execution as data: operations, planned (a dry run) or committed as one.

A change is a list of operations, each the body of one live-change route of the REST API
(``arachne.server.live``, docs/live-change.md) with an ``op`` naming it: ``add_node``,
``remove_node``, ``configure``, ``connect``, ``disconnect``, ``retune``. They are made in
order through the same ``Execution`` calls those routes make, with the execution switched to
commit mode ``manual`` meanwhile, so that they gather into one delta: :func:`plan_change`
returns it and drops it, :func:`commit_change` commits it, all or nothing. Either way the
execution is back in mode ``auto`` with nothing gathered when they return.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeAlias

from pydantic import BaseModel, Field

from arachne.model.errors import ExecutionError, GraphError
from arachne.model.node import overrides
from arachne.server.live import EdgeChange, NewConfig, NewEdge, NewNode, node_for

if TYPE_CHECKING:
    from arachne.model.delta import GraphDelta
    from arachne.runtime import Execution
    from arachne.server.service import RuntimeService

__all__ = [
    "AddNode",
    "Change",
    "Configure",
    "Connect",
    "Disconnect",
    "InvalidChange",
    "Operation",
    "RemoveNode",
    "Retune",
    "commit_change",
    "plan_change",
]


class InvalidChange(ValueError):
    """An operation that cannot apply: the message names it (``change[2] (connect)``), the fix."""


# The docstrings and fields below are what an agent reads in a tool's input schema.


class AddNode(NewNode):
    """Add a node built from a component, not yet linked (a connect operation links it)."""

    op: Literal["add_node"]


class RemoveNode(BaseModel):
    """Remove a node whose edges are gone (disconnect them first, in the same change)."""

    model_config = NewNode.model_config

    op: Literal["remove_node"]
    id: str = Field(min_length=1, examples=["triple"])


class Configure(NewConfig):
    """Give a node a new config, the whole of it, checked against its component's schema."""

    op: Literal["configure"]
    node: str = Field(min_length=1, examples=["double"])


class Connect(NewEdge):
    """Link an output to an input (no cycle); id defaults to node.port->node.port."""

    op: Literal["connect"]


class Disconnect(BaseModel):
    """Remove an edge; what it holds is dropped, counted."""

    model_config = NewNode.model_config

    op: Literal["disconnect"]
    edge: str = Field(min_length=1, examples=["e2"])


class Retune(EdgeChange):
    """Change an edge's capacity, priority or overflow policy (at least one of them)."""

    op: Literal["retune"]
    edge: str = Field(min_length=1, examples=["e1"])


Operation: TypeAlias = Annotated[
    AddNode | RemoveNode | Configure | Connect | Disconnect | Retune, Field(discriminator="op")
]
"""One operation of a change, told apart by its ``op``."""

Change: TypeAlias = Sequence[Operation]
"""A change: operations made in order, then planned or committed as one."""

MAX_OPERATIONS: Final = 1000
"""The most operations one change may hold."""


def plan_change(service: RuntimeService, ex: Execution, change: Change) -> GraphDelta:
    """Return what committing ``change`` to ``ex`` would do, changing nothing.

    Each operation is checked as it would be for a commit (``InvalidChange`` naming it);
    what only a commit can find out (an ``on_start`` that raises) is not.
    """
    with _gathering(ex):
        for index, operation in enumerate(change):
            _make(service, ex, operation, f"change[{index}]")
        return ex.plan()


def commit_change(service: RuntimeService, ex: Execution, change: Change) -> GraphDelta:
    """Commit ``change`` to ``ex`` as one: all of it, or (an exception raised) none of it.

    ``InvalidChange`` names an operation that cannot apply; ``CommitFailed`` an added node's
    ``on_start`` or a reconfigured node's ``on_config`` that raised (the running graph runs
    on as it was); ``ExecutionError`` an execution that has ended.
    """
    with _gathering(ex):
        for index, operation in enumerate(change):
            _make(service, ex, operation, f"change[{index}]")
        return ex.commit()


@contextlib.contextmanager
def _gathering(ex: Execution) -> Iterator[None]:
    """Switch ``ex`` to commit mode ``manual`` within; after, drop what was not committed."""
    if ex.done:
        raise ExecutionError(
            f"execution {ex.id} has ended ({ex.state.value}); its graph no longer runs"
        )
    if ex.commit_mode != "auto":
        raise ExecutionError(
            f"execution {ex.id} gathers changes of its own (commit mode manual); commit or "
            "revert them and set its mode back to auto first"
        )
    ex.commit_mode = "manual"
    try:
        yield
    finally:
        ex.revert()  # (nothing left after a commit; all of it after a failure or a plan)
        ex.commit_mode = "auto"


def _make(service: RuntimeService, ex: Execution, operation: Operation, where: str) -> None:
    """Make ``operation`` to ``ex``'s desired graph; ``InvalidChange`` naming ``where`` if not."""
    try:
        _apply(service, ex, operation, where)
    except (GraphError, ValueError, ExecutionError) as exc:  # (no commit runs here)
        said = str(exc).removeprefix(f"{where}.")  # (a field's path: change[0].config -> config)
        raise InvalidChange(f"{where} ({operation.op}): {said}") from exc


def _apply(service: RuntimeService, ex: Execution, operation: Operation, where: str) -> None:
    if isinstance(operation, AddNode):
        unit = node_for(service.registry, operation.component, operation.config, where)
        ex.add_node(unit, node_id=operation.id)
    elif isinstance(operation, RemoveNode):
        ex.remove_node(operation.id)
    elif isinstance(operation, Configure):
        _configure(service, ex, operation, where)
    elif isinstance(operation, Connect):
        ex.connect(
            (operation.source.node, operation.source.port),
            (operation.target.node, operation.target.port),
            edge_id=operation.id,
            capacity=operation.capacity,
            overflow=operation.overflow,
            priority=operation.priority,
        )
    elif isinstance(operation, Disconnect):
        ex.disconnect(operation.edge)
    else:
        _retune(ex, operation)


def _configure(service: RuntimeService, ex: Execution, operation: Configure, where: str) -> None:
    spec = ex.graph.nodes.get(operation.node)
    config: dict[str, Any] = operation.config
    if spec is not None and spec.kind in service.registry:
        definition = service.registry.resolve(spec.kind)
        config = service.registry.check(definition, operation.config, where=f"{where}.config")
        # Built once as a commit would build it: a bad expression is found now, not by on_config.
        service.registry.create(spec.kind, config, where=where)
    running = ex.running_graph().nodes.get(operation.node)
    instance = ex.instances.get(operation.node)
    if (
        running is not None
        and instance is not None
        and dict(running.config) != config
        and not overrides(instance, "on_config")
    ):
        raise ExecutionError(
            f"node {operation.node!r} ({type(instance).__qualname__}) has no on_config, so it "
            "cannot take a new config while it runs; remove the node and add a new one"
        )
    ex.update_config(operation.node, config)


def _retune(ex: Execution, operation: Retune) -> None:
    if operation.capacity is None and operation.priority is None and operation.overflow is None:
        raise ValueError("nothing to change: give capacity, priority or overflow")
    if operation.edge.startswith("inject->"):
        raise GraphError(
            f"edge {operation.edge!r} carries inject calls and is not part of the graph; a "
            "change retunes the graph's edges only"
        )
    if operation.overflow is not None:
        ex.set_overflow(operation.edge, operation.overflow)
    if operation.priority is not None:
        ex.set_priority(operation.edge, operation.priority)
    if operation.capacity is not None:
        ex.set_capacity(operation.edge, operation.capacity)
