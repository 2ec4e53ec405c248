"""The query plane over the API: typed snapshots of one execution, read-only, for viewers.

``GET /api/executions/{id}/query/KIND`` (KIND one of topology, flow, load, backpressure,
taints, primitives, watermarks) and ``.../query/lineage?node=ID&last=N`` answer the
snapshot's ``to_dict()`` (``arachne.observability.query``; docs/query-plane.md): each
stamped with the running graph's manifest digest and the moment it was observed. The service
keeps one ``QueryPlane`` per execution while it knows the execution, so the rates of ``flow`` and
``load`` are over the interval since the previous request for the same snapshot of the same
execution, whoever asked (since the run's start, for the first); ``intervalSeconds`` says how
long that was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query

from arachne.observability.query import LineageOff, QueryPlane
from arachne.runtime.lineage import RECENT
from arachne.server.errors import Problem, documented
from arachne.server.planes import QueryPlanes

if TYPE_CHECKING:
    from arachne.runtime import Execution
    from arachne.server.auth import Role
    from arachne.server.service import RuntimeService

__all__ = ["query_routes"]


def query_routes(
    service: RuntimeService,
    execution: Callable[[str], Execution],
    need: Callable[[Role], Any],
) -> APIRouter:
    """Return the query plane's routes for ``service``'s executions (viewers may read them).

    ``execution(id)`` returns the execution or answers 404; ``need(role)`` is the dependency
    that lets in callers with that role.
    """
    router = APIRouter(prefix="/api/executions/{execution_id}/query", tags=["query plane"])
    viewer = [need("viewer")]
    planes = QueryPlanes(service)

    def plane_of(execution_id: str) -> QueryPlane:
        """Return the execution's plane, made on first use; planes of forgotten ones go."""
        return planes.of(execution(execution_id))

    @router.get("/topology", dependencies=viewer, responses=documented(404))
    def topology(execution_id: str) -> dict[str, Any]:
        """Return the running graph's manifest: nodes, routes, edges with their flow policy."""
        return plane_of(execution_id).topology().to_dict()

    @router.get("/flow", dependencies=viewer, responses=documented(404))
    def flow(execution_id: str) -> dict[str, Any]:
        """Return per edge: depth, capacity, blocked ms per second, drops, whether it holds back.

        The rate is over ``intervalSeconds`` since the previous request for this execution's
        flow (since the run's start for the first).
        """
        return plane_of(execution_id).flow().to_dict()

    @router.get("/load", dependencies=viewer, responses=documented(404))
    def load(execution_id: str) -> dict[str, Any]:
        """Return per node: busy, back-pressured and idle ms per second.

        Over ``intervalSeconds`` of the execution's clock since the previous request for this
        execution's load (since the run's start for the first).
        """
        return plane_of(execution_id).load().to_dict()

    @router.get("/backpressure", dependencies=viewer, responses=documented(404))
    def backpressure(execution_id: str) -> dict[str, Any]:
        """Return each full ``block`` edge with the node causing it, and the path of full edges."""
        return plane_of(execution_id).backpressure().to_dict()

    @router.get("/lineage", dependencies=viewer, responses=documented(404, 409))
    def lineage(
        execution_id: str,
        node: Annotated[str, Query(min_length=1, description="The node whose outputs to explain")],
        last: Annotated[int, Query(ge=1, le=RECENT, description="How many, newest last")] = 10,
    ) -> dict[str, Any]:
        """Return the inputs and nodes that explain each of a node's latest outputs.

        For a sink, what it handles is the graph's output. ``409`` when the execution records
        no lineage (start it with ``?lineage=RATE``).
        """
        plane = plane_of(execution_id)
        try:
            return plane.lineage(node, last=last).to_dict()
        except LineageOff as exc:
            raise Problem(409, "lineage_off", str(exc)) from None
        except ValueError as exc:
            raise Problem(404, "not_found", str(exc)) from None

    @router.get("/taints", dependencies=viewer, responses=documented(404))
    def taints(execution_id: str) -> dict[str, Any]:
        """Return, per input route and taint label, the messages that arrived carrying it."""
        return plane_of(execution_id).taints().to_dict()

    @router.get("/primitives", dependencies=viewer, responses=documented(404))
    def primitives(execution_id: str) -> dict[str, Any]:
        """Return each installed primitive: its contract, maturity and the health it reports."""
        return plane_of(execution_id).primitives().to_dict()

    @router.get("/watermarks", dependencies=viewer, responses=documented(404))
    def watermarks(execution_id: str) -> dict[str, Any]:
        """Return each node's event time: its watermark, the input holding it, idleness."""
        return plane_of(execution_id).watermarks().to_dict()

    return router
