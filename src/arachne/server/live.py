"""Live change of a running execution over the API: nodes, edges, configs, plans, commits.

Each route is the REST face of one ``Execution`` call (docs/live-change.md): it edits the
execution's desired graph, and in commit mode ``auto`` (an execution's default) the change is
committed at once; in ``manual`` mode changes gather until ``POST .../commit``, and
``GET .../plan`` shows them. A change that cannot apply is ``400`` (what is wrong and the fix);
a commit whose ``on_start`` or ``on_config`` failed is rolled back and answered ``409``
``commit_failed``, naming the node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from arachne.model.delta import graph_delta
from arachne.model.errors import CommitFailed, ExecutionError, GraphError
from arachne.model.node import Node, overrides
from arachne.server.errors import Problem, documented

if TYPE_CHECKING:
    from arachne.components.registry import Registry
    from arachne.model.delta import GraphDelta
    from arachne.model.graph import Graph
    from arachne.runtime import Execution
    from arachne.server.auth import Role
    from arachne.server.service import RuntimeService

__all__ = ["LIMIT", "live_routes", "node_for"]

_STRICT: Final = ConfigDict(extra="forbid")  # (a misspelt field is named, not ignored)

LIMIT: Final = 1_000_000
"""The largest capacity, and priority either way, a change may set (as in documents)."""


class NewNode(BaseModel):
    """A node to add: its id, its component and that component's config."""

    model_config = _STRICT

    id: str = Field(min_length=1, examples=["triple"])
    component: str = Field(min_length=1, examples=["arachne.core.map"])
    config: dict[str, Any] = Field(default_factory=dict, examples=[{"expression": "value * 3"}])


class NewConfig(BaseModel):
    """A node's new config, the whole of it."""

    model_config = _STRICT

    config: dict[str, Any] = Field(examples=[{"expression": "value * 10"}])


class End(BaseModel):
    """One end of an edge."""

    model_config = _STRICT

    node: str = Field(min_length=1)
    port: str = Field(min_length=1)


class NewEdge(BaseModel):
    """An edge to add between an output and an input."""

    model_config = _STRICT

    id: str | None = None
    source: End
    target: End
    capacity: int = Field(default=1024, ge=1, le=LIMIT)
    overflow: Literal["block", "drop", "latest", "fail"] = "block"
    priority: int = Field(default=0, ge=-LIMIT, le=LIMIT)


class EdgeChange(BaseModel):
    """What to change of an edge: its capacity, priority or overflow policy."""

    model_config = _STRICT

    capacity: int | None = Field(default=None, ge=1, le=LIMIT)
    priority: int | None = Field(default=None, ge=-LIMIT, le=LIMIT)
    overflow: Literal["block", "drop", "latest", "fail"] | None = None


class CommitMode(BaseModel):
    """``auto``: every change is committed at once; ``manual``: at ``POST .../commit``."""

    model_config = _STRICT

    mode: Literal["auto", "manual"]


def node_for(registry: Registry, component: str, config: Any, where: str) -> Node:
    """Return a node built from ``component`` with ``config``, to add to a running execution.

    ``GraphError`` for a composite (a running execution takes single nodes); the registry's
    own errors, naming ``where``, for a config it refuses. The node is stamped with the
    component's id, as a document's nodes are.
    """
    unit = registry.create(component, config, where=where)
    if not isinstance(unit, Node):
        raise GraphError(
            f"component {component!r} is a graph of its own (a composite); a running "
            "execution takes single nodes: add its nodes one by one"
        )
    unit._arachne_kind = registry.resolve(component).id
    return unit


def live_routes(
    service: RuntimeService,
    execution: Callable[[str], Execution],
    need: Callable[[Role], Any],
) -> APIRouter:
    """Return the live-change routes for ``service``'s executions.

    ``need(role)`` is the dependency that lets in callers with that role: operators change,
    viewers read the plan and the graphs.
    """
    router = APIRouter(prefix="/api/executions/{execution_id}", tags=["live change"])
    operator, viewer = [need("operator")], [need("viewer")]
    changes = documented(400, 404, 409)

    def changed(ex: Execution, change: Callable[[], Any]) -> Any:
        if ex.done:
            raise Problem(
                409,
                "execution_ended",
                f"execution {ex.id} has ended ({ex.state.value}); its graph no longer runs",
            )
        try:
            return change()
        except CommitFailed as exc:
            raise Problem(409, "commit_failed", str(exc), nodeId=exc.node_id) from None
        except (GraphError, ValueError) as exc:
            raise Problem(400, "invalid_change", str(exc)) from None
        except ExecutionError as exc:
            raise Problem(409, "invalid_change", str(exc)) from None

    def answer(
        ex: Execution, delta: GraphDelta | None = None, before: Graph | None = None
    ) -> dict[str, Any]:
        """Return the change as data and text: what was committed, or (manual) what waits.

        ``before``: the desired graph before this request; in ``auto`` mode the answer is
        what the request changed (committed at once), in ``manual`` mode the plan so far.
        """
        if delta is not None:
            shown = delta
        elif before is not None and ex.commit_mode == "auto":
            shown = graph_delta(before, ex.graph)
        else:
            shown = ex.plan()
        return {
            "executionId": ex.id,
            "commitMode": ex.commit_mode,
            "delta": service.redactor.delta_data(shown),
            "text": str(service.redactor.delta(shown)),
        }

    @router.post("/nodes", status_code=201, dependencies=operator, responses=changes)
    def add_node(execution_id: str, body: NewNode) -> dict[str, Any]:
        """Add a node built from a component (linked by ``POST .../edges``)."""
        ex = execution(execution_id)
        before = ex.graph
        unit = changed(ex, lambda: node_for(service.registry, body.component, body.config, "body"))
        changed(ex, lambda: ex.add_node(unit, node_id=body.id))
        return {"nodeId": body.id, **answer(ex, before=before)}

    @router.delete("/nodes/{node_id:path}", dependencies=operator, responses=changes)
    def remove_node(execution_id: str, node_id: str) -> dict[str, Any]:
        """Remove a node whose edges are gone."""
        ex = execution(execution_id)
        before = ex.graph
        changed(ex, lambda: ex.remove_node(node_id))
        return answer(ex, before=before)

    @router.patch("/nodes/{node_id:path}", dependencies=operator, responses=changes)
    def configure(
        execution_id: str, node_id: str, body: NewConfig, dryRun: bool = False
    ) -> dict[str, Any]:
        """Give a node a new config, checked against its component's schema first.

        With ``?dryRun=true`` nothing changes: the answer is the change it would make.
        """
        ex = execution(execution_id)
        before = ex.graph
        spec = ex.graph.nodes.get(node_id)
        config = body.config
        if spec is not None and spec.kind in service.registry:
            definition = service.registry.resolve(spec.kind)
            config = changed(
                ex, lambda: service.registry.check(definition, body.config, where="config")
            )
        if dryRun:
            if spec is None:
                known = ", ".join(before.nodes) or "none"
                raise Problem(
                    400, "invalid_change", f"unknown node {node_id!r}; known nodes: {known}"
                )
            running = ex.instances.get(node_id)
            if running is not None and not overrides(running, "on_config"):  # (as a commit says)
                raise Problem(
                    400,
                    "invalid_change",
                    f"node {node_id!r} ({type(running).__qualname__}) has no on_config, so it "
                    "cannot take a new config while it runs; remove the node and add a new one",
                )
            if spec.kind in service.registry:  # built as a commit would: expressions compiled
                changed(ex, lambda: service.registry.create(spec.kind, config, where="config"))
            after = changed(ex, lambda: before.replace_node(node_id, config=dict(config)))
            return {"dryRun": True, **answer(ex, graph_delta(before, after))}
        was = changed(ex, lambda: ex.update_config(node_id, config))
        return {"changed": was, **answer(ex, before=before)}

    @router.post("/edges", status_code=201, dependencies=operator, responses=changes)
    def connect(execution_id: str, body: NewEdge) -> dict[str, Any]:
        """Link an output to an input (no cycle)."""
        ex = execution(execution_id)
        before = ex.graph
        edge_id = changed(
            ex,
            lambda: ex.connect(
                (body.source.node, body.source.port),
                (body.target.node, body.target.port),
                edge_id=body.id,
                capacity=body.capacity,
                overflow=body.overflow,
                priority=body.priority,
            ),
        )
        return {"edgeId": edge_id, **answer(ex, before=before)}

    @router.delete("/edges/{edge_id:path}", dependencies=operator, responses=changes)
    def disconnect(execution_id: str, edge_id: str) -> dict[str, Any]:
        """Remove an edge; what it held is dropped, counted (``dropped``)."""
        ex = execution(execution_id)
        before = ex.graph
        dropped = changed(ex, lambda: ex.disconnect(edge_id))
        return {"dropped": dropped, **answer(ex, before=before)}

    @router.patch("/edges/{edge_id:path}", dependencies=operator, responses=changes)
    def retune(
        execution_id: str, edge_id: str, body: EdgeChange, dryRun: bool = False
    ) -> dict[str, Any]:
        """Change an edge's capacity, priority or overflow policy (applied at once).

        With ``?dryRun=true`` nothing changes: the answer is the change it would make.
        """
        ex = execution(execution_id)
        before = ex.graph
        if body.capacity is None and body.priority is None and body.overflow is None:
            raise Problem(
                400, "invalid_change", "nothing to change: give capacity, priority or overflow"
            )
        if edge_id not in ex.graph.links and not edge_id.startswith("inject->"):
            known = ", ".join(ex.graph.links) or "none"
            raise Problem(400, "invalid_change", f"unknown edge {edge_id!r}; known edges: {known}")
        if body.capacity is not None and edge_id.startswith("inject->"):
            raise Problem(
                400,
                "invalid_change",
                f"edge {edge_id!r} carries inject calls: its bound is MAX_BACKPRESSURE_QUEUE",
            )
        if dryRun:
            if edge_id not in before.links:
                raise Problem(
                    400, "invalid_change", f"edge {edge_id!r} carries inject calls: no preview"
                )
            wanted = body.model_dump(exclude_none=True)
            after = changed(ex, lambda: before.replace_link(edge_id, **wanted))
            return {"dryRun": True, **answer(ex, graph_delta(before, after))}
        if body.overflow is not None:
            changed(ex, lambda: ex.set_overflow(edge_id, body.overflow))  # type: ignore[arg-type]
        if body.priority is not None:
            changed(ex, lambda: ex.set_priority(edge_id, body.priority))  # type: ignore[arg-type]
        if body.capacity is not None:
            changed(ex, lambda: ex.set_capacity(edge_id, body.capacity))  # type: ignore[arg-type]
        return answer(ex, before=before)

    @router.get("/plan", dependencies=viewer, responses=documented(404))
    def plan(execution_id: str) -> dict[str, Any]:
        """Return what a commit would change now (in ``manual`` mode, the changes gathered)."""
        return answer(execution(execution_id))

    @router.post("/commit", dependencies=operator, responses=changes)
    def commit(execution_id: str) -> dict[str, Any]:
        """Commit the changes gathered: all or nothing."""
        ex = execution(execution_id)
        delta = changed(ex, ex.commit)
        return answer(ex, delta)

    @router.put("/commit-mode", dependencies=operator, responses=changes)
    def commit_mode(execution_id: str, body: CommitMode) -> dict[str, Any]:
        """Set the execution's commit mode (back to ``auto`` commits what gathered)."""
        ex = execution(execution_id)

        def switch() -> None:
            ex.commit_mode = body.mode

        changed(ex, switch)
        return answer(ex)

    @router.get("/graph", dependencies=viewer, responses=documented(404))
    def graphs(execution_id: str) -> dict[str, Any]:
        """Return the execution's desired and running graphs, as data."""
        ex = execution(execution_id)
        return {
            "desired": service.redactor.graph(ex.graph),
            "running": service.redactor.graph(ex.running_graph()),
            "commitMode": ex.commit_mode,
        }

    return router
