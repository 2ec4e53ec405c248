"""The Runtime Service's REST API: graphs, executions, components, health and metrics.

``create_app(settings)`` returns the FastAPI application ``arachne serve`` runs under uvicorn.
Every error is a JSON object ``{"error": {"code", "message", ...}}`` whose message names the
field or the thing and the fix; no stack trace leaves the server. Request bodies are bounded
(``MAX_BODY_BYTES``). The routes translate HTTP to :class:`RuntimeService` calls and back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import Depends, FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from arachne.components.registry import CODE_REFUSED, Registry
from arachne.model.errors import ExecutionError, GraphError, SpecError
from arachne.observability.live_view import LiveView
from arachne.observability.prometheus import ArachneCollector
from arachne.server.auth import ROLES, Caller, Denied, Gatekeeper, Role
from arachne.server.dashboard import install_dashboard
from arachne.server.dead_letters import dead_letter_routes
from arachne.server.errors import COMMON, Problem, documented, error_response
from arachne.server.guards import BodyBound, JsonByDefault, LocalGuard, origin_allowed
from arachne.server.live import live_routes
from arachne.server.openapi import GRAPH_DOCUMENT_REF, install_openapi
from arachne.server.query import query_routes
from arachne.server.service import Full, NotFound, PayloadTooLarge, RuntimeService, SingleRun
from arachne.server.settings import ServerSettings
from arachne.server.sockets import SocketEvents
from arachne.server.stream import ClientStream
from arachne.spec import decode_text

if TYPE_CHECKING:
    from arachne.runtime import Execution

__all__ = ["create_app"]

COMPONENT_EXAMPLE: dict[str, Any] = {
    "id": "custom.math.square",
    "name": "Square",
    "version": "1.0.0",
    "ports": {
        "inputs": [{"name": "in", "schema": {"type": "number"}}],
        "outputs": [{"name": "out", "schema": {"type": "number"}}],
    },
    "execution": {
        "type": "javascript",
        "entrypoint": "handler",
        "source": "return { process: async (ctx, port, value) => ctx.emit('out', value * value) }",
    },
}
"""The Runtime Service's example of a code component (``POST /api/components``)."""

GRAPH_EXAMPLE: dict[str, Any] = {
    "symbia": "1.0",
    "name": "Simple Pipeline",
    "version": "1.0.0",
    "nodes": [
        {"id": "input", "component": "symbia.core.passthrough"},
        {"id": "double", "component": "symbia.core.map", "config": {"expression": "value * 2"}},
        {"id": "output", "component": "symbia.core.logger"},
    ],
    "edges": [
        {
            "id": "e1",
            "source": {"node": "input", "port": "out"},
            "target": {"node": "double", "port": "in"},
        },
        {
            "id": "e2",
            "source": {"node": "double", "port": "out"},
            "target": {"node": "output", "port": "in"},
        },
    ],
}


YAML_TYPES: Final = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
"""Content types under which a graph document is read as YAML (JSON otherwise)."""


def problems_of(exc: BaseException) -> list[dict[str, str]]:
    """Return what is wrong with a document as ``{"path", "code", "message"}`` items.

    ``path`` is where in the document a problem is (``edges[0].target.node``), empty for a
    problem of the whole document: each issue of a ``SpecError``, else the one error.
    """
    if isinstance(exc, RecursionError):
        return [{"path": "", "code": "depth", "message": "the document nests too deeply"}]
    issues = exc.issues if isinstance(exc, SpecError) else ()
    if issues:
        return [{"path": i.where, "code": i.code, "message": i.message} for i in issues]
    code = "document" if isinstance(exc, SpecError) else "graph"
    return [{"path": "", "code": code, "message": str(exc)}]


class Injection(BaseModel):
    """A value for an input port of a running execution."""

    model_config = ConfigDict(extra="forbid")  # (a misspelt field is named, not ignored)

    nodeId: str = Field(min_length=1, examples=["input"])
    port: str = Field(min_length=1, examples=["in"])
    value: Any = Field(examples=[21])


def create_app(
    settings: ServerSettings | None = None,
    registry: Registry | None = None,
    *,
    service: RuntimeService | None = None,
) -> FastAPI:
    """Return the service's application; its executions stop when it shuts down.

    ``service``: serve that one (built on ``settings``) rather than a new one.
    """
    settings = settings if settings is not None else ServerSettings()
    if service is None:
        service = RuntimeService(settings, registry if registry is not None else Registry.default())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await socket_events.close()  # (made below, before the app serves)
        service.close()  # graceful: executions drain, then the runtime stops

    app = FastAPI(
        title="Arachne Runtime Service",
        version="1.0.0",
        description="Load graph documents, run them, feed and watch their executions.",
        lifespan=lifespan,
        responses=documented(*COMMON),
    )
    app.state.service = service
    install_openapi(app)
    app.add_middleware(JsonByDefault)
    app.add_middleware(BodyBound, limit=settings.max_body_bytes)
    secret = settings.jwt_secret
    gate = Gatekeeper(
        settings.api_key_roles(),
        secret=secret.get_secret_value() if secret is not None else None,
        public_key=settings.jwt_public_key,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )

    if not gate.on:
        app.add_middleware(LocalGuard)  # (added last: it runs first)
    origins = settings.origins()
    socket_events = SocketEvents(
        service,
        gate,
        origins=origins,
        events_per_second=settings.max_events_per_second,
        max_message_bytes=settings.max_body_bytes,
    )
    app.state.sockets = socket_events
    app.mount("/socket.io", socket_events.app)

    def need(role: Role) -> Any:
        """Return a dependency that lets in callers with ``role`` or above (401, 403 else)."""

        def check(request: Request) -> Caller:
            try:
                caller = gate.caller(request.headers)
                gate.allow(caller, role)
            except Denied as exc:
                raise Problem(exc.status, exc.code, exc.message) from None
            return caller

        return Depends(check)

    # -- errors, and the bound on request bodies -------------------------------------------

    @app.exception_handler(Problem)
    async def problem(_: Request, exc: Problem) -> JSONResponse:
        response = error_response(exc.status, exc.code, exc.message, **exc.extra)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="arachne"'
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if broken is not None:  # (not a field's fault: the body is not JSON at all)
            where = [part for part in broken.get("loc", ()) if part != "body"]
            at = f" at character {where[0]}" if where else ""
            reason = (broken.get("ctx") or {}).get("error", "not JSON")
            return error_response(400, "invalid_json", f"the body is not JSON{at}: {reason}")
        fields = [
            {
                "field": ".".join(str(part) for part in error.get("loc", ()) if part != "body"),
                "message": str(error.get("msg", "")),
            }
            for error in errors
        ]
        first = fields[0] if fields else {"field": "", "message": "invalid request"}
        return error_response(
            422,
            "invalid_request",
            f"{first['field'] or 'body'}: {first['message']}",
            fields=fields,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        message = str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            message = "no such route; /docs lists the service's routes"
        elif exc.status_code == 405:
            allowed = _methods_at(app, request)
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not served here; use {' or '.join(allowed)}"
        return error_response(
            exc.status_code, codes.get(exc.status_code, "http_error"), message, headers=headers
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "internal", "the service failed on this request; see its log")

    async def body_object(request: Request) -> dict[str, Any]:
        """Return the request's graph document: JSON, or YAML sent as ``application/yaml``."""
        raw = await request.body()
        if len(raw) > settings.max_body_bytes:
            raise Problem(
                413, "body_too_large", f"the request body is over {settings.max_body_bytes} bytes"
            )
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind in YAML_TYPES:
            try:  # (off the loop: a large YAML document takes a while to read)
                data = await asyncio.to_thread(decode_text, raw.decode("utf-8"), format="yaml")
            except UnicodeDecodeError:
                raise Problem(400, "invalid_yaml", "the body is not UTF-8 text") from None
            except SpecError as exc:
                raise Problem(400, "invalid_yaml", f"the body is not YAML: {exc}") from None
        else:
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise Problem(400, "invalid_json", f"the body is not JSON: {exc}") from None
            except RecursionError:
                raise Problem(400, "invalid_json", "the body nests too deeply") from None
        if not isinstance(data, dict):
            raise Problem(
                400,
                "invalid_graph",
                "the document must be an object (JSON {...} or YAML key: value lines) with "
                'arachne: "1.0", name, nodes and edges',
            )
        return data

    def execution(execution_id: str) -> Execution:
        try:
            return service.execution(execution_id)
        except NotFound as exc:
            raise Problem(404, "not_found", str(exc)) from None

    # -- graphs -----------------------------------------------------------------------------

    @app.post(
        "/api/graphs",
        status_code=201,
        dependencies=[need("admin")],
        responses=documented(400, 409, 429),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": GRAPH_DOCUMENT_REF},
                        "example": GRAPH_EXAMPLE,
                    }
                },
            }
        },
    )
    async def load_graph(request: Request) -> dict[str, Any]:
        """Check, analyse and store a graph document; return its id and topology."""
        definition = await body_object(request)
        try:
            graph = await asyncio.to_thread(service.add_graph, definition)  # (builds it: slow)
        except SpecError as exc:
            issues = [str(issue) for issue in exc.issues]
            raise Problem(
                400, "invalid_graph", str(exc), issues=issues, problems=problems_of(exc)
            ) from None
        except GraphError as exc:
            raise Problem(400, "invalid_graph", str(exc)) from None
        except RecursionError:
            raise Problem(400, "invalid_graph", "the document nests too deeply") from None
        except Full as exc:
            raise Problem(429, "too_many_graphs", str(exc)) from None
        except SingleRun as exc:
            raise Problem(409, "single_run", str(exc)) from None
        return graph.summary()

    viewer = need("viewer")

    @app.post(
        "/api/validate",
        dependencies=[need("viewer")],
        responses=documented(400),
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "Any object: a graph document to check, valid or not (the "
                "problems of one that is not are the answer)",
                "content": {
                    "application/json": {"schema": {"type": "object"}, "example": GRAPH_EXAMPLE}
                },
            }
        },
    )
    async def validate_graph(request: Request, caller: Caller = viewer) -> dict[str, Any]:
        """Check a graph document as loading would, storing nothing.

        ``valid`` says whether it would load; ``problems`` gives each problem with the JSON
        path it concerns (``nodes[1].component``) and what to do. A document that defines code
        components is checked for admins only (checking builds their sources).
        """
        definition = await body_object(request)
        if definition.get("components") and caller.role != "admin":
            raise Problem(
                403,
                "forbidden",
                "this document defines code components, and checking them builds their "
                "code: only an admin may validate it",
            )
        try:
            _, topology = await asyncio.to_thread(service.check_graph, definition)
        except (GraphError, RecursionError) as exc:  # (SpecError is a GraphError)
            return {"valid": False, "problems": problems_of(exc)}
        return {"valid": True, "problems": [], "topology": topology.to_dict()}

    @app.get("/api/graphs", dependencies=[need("viewer")])
    async def list_graphs() -> list[dict[str, Any]]:
        """Every graph loaded, oldest first."""
        return [graph.summary() for graph in list(service.graphs.values())]

    @app.get("/api/graphs/{graph_id}", dependencies=[need("viewer")], responses=documented(404))
    async def get_graph(graph_id: str) -> dict[str, Any]:
        """One graph: its summary and its document as loaded."""
        try:
            graph = service.graph(graph_id)
        except NotFound as exc:
            raise Problem(404, "not_found", str(exc)) from None
        return {**graph.summary(), "definition": service.redactor.document(graph.definition)}

    @app.delete(
        "/api/graphs/{graph_id}",
        status_code=204,
        dependencies=[need("admin")],
        responses=documented(404),
    )
    async def delete_graph(graph_id: str) -> Response:
        """Forget a graph (its executions run on)."""
        try:
            service.remove_graph(graph_id)
        except NotFound as exc:
            raise Problem(404, "not_found", str(exc)) from None
        return Response(status_code=204)

    @app.post(
        "/api/graphs/{graph_id}/execute",
        status_code=201,
        dependencies=[need("operator")],
        responses=documented(404, 409, 429),
    )
    def execute(
        graph_id: str,
        lineage: Annotated[
            float | None,
            Query(
                gt=0,
                le=1,
                description="Record lineage for this share of the messages (1: all of them; "
                "off when left out): GET .../query/lineage answers it",
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Start a new execution of a graph; its input nodes take values through inject."""
        try:
            ex = service.execute(graph_id, lineage=lineage)
        except NotFound as exc:
            raise Problem(404, "not_found", str(exc)) from None
        except SingleRun as exc:
            raise Problem(409, "single_run", str(exc)) from None
        except ExecutionError as exc:
            raise Problem(429, "too_many_executions", str(exc)) from None
        return {"executionId": ex.id, "graphId": graph_id, "state": "running"}

    # -- executions -------------------------------------------------------------------------

    @app.get("/api/executions", dependencies=[need("viewer")])
    def list_executions() -> list[dict[str, Any]]:
        """Every execution started, oldest first, with its state and metrics.

        With a store, those that ended under a former process of the service come first.
        """
        past = list(service.past.values())
        return past + [service.describe(ex) for ex in service.executions()]

    @app.get(
        "/api/executions/{execution_id}", dependencies=[need("viewer")], responses=documented(404)
    )
    def get_execution(execution_id: str) -> dict[str, Any]:
        """One execution's record: ids, state, times, error and metrics."""
        past = service.past.get(execution_id)
        if past is not None:
            return past
        return service.describe(execution(execution_id))

    @app.get(
        "/api/executions/{execution_id}/metrics",
        dependencies=[need("viewer")],
        responses=documented(404),
    )
    def metrics_of(execution_id: str) -> dict[str, Any]:
        """One execution's metrics (messagesProcessed, avgLatencyMs, ...)."""
        return execution(execution_id).stats().service_metrics().to_dict()

    @app.get(
        "/api/executions/{execution_id}/view",
        dependencies=[need("viewer")],
        responses=documented(404),
    )
    def view_of(execution_id: str) -> dict[str, Any]:
        """One execution's live view: per node and edge, rates since its start, queues, causes.

        The same frame ``view:update`` events carry (there, rates since the previous frame).
        """
        return LiveView().frame(execution(execution_id).stats())

    @app.post(
        "/api/executions/{execution_id}/inject",
        status_code=202,
        dependencies=[need("operator")],
        responses=documented(400, 404, 409, 413, 429),
    )
    def inject(execution_id: str, injection: Injection) -> dict[str, Any]:
        """Offer a value to an input port; it is checked against the port's schema first."""
        ex = execution(execution_id)
        try:
            service.inject(ex, injection.nodeId, injection.port, injection.value)
        except PayloadTooLarge as exc:
            raise Problem(413, "payload_too_large", str(exc)) from None
        except (GraphError, ValueError) as exc:
            raise Problem(400, "invalid_injection", str(exc)) from None
        except TimeoutError as exc:
            raise Problem(429, "queue_full", str(exc)) from None
        except ExecutionError as exc:
            raise Problem(409, "execution_ended", str(exc)) from None
        return {"executionId": ex.id, "accepted": True}

    def control(name: str, act: Callable[[Execution], None], what: str) -> None:
        @app.post(
            f"/api/executions/{{execution_id}}/{name}",
            name=f"{name}_execution",
            status_code=202,
            dependencies=[need("operator")],
            description=what,
            responses=documented(404, 409),
        )
        def route(execution_id: str) -> dict[str, Any]:
            ex = execution(execution_id)
            try:
                if ex.done:
                    raise ExecutionError(f"execution {ex.id} has ended ({ex.state.value})")
                act(ex)
            except ExecutionError as exc:
                raise Problem(409, "execution_ended", str(exc)) from None
            return {"executionId": ex.id, "requested": name, "state": ex.state.value}

    app.include_router(live_routes(service, execution, need))
    app.include_router(dead_letter_routes(service, execution, need))
    app.include_router(query_routes(service, execution, need))

    control("pause", lambda ex: ex.pause(), "Pause an execution (idempotent).")
    control("resume", lambda ex: ex.resume(), "Resume a paused execution (idempotent).")
    control(
        "stop",
        lambda ex: ex.request_stop(drain=True),
        "Stop an execution gracefully: what is queued drains first (idempotent).",
    )

    @app.delete(
        "/api/executions/{execution_id}",
        status_code=204,
        dependencies=[need("operator")],
        responses=documented(404, 409),
    )
    def forget_execution(execution_id: str) -> Response:
        """Forget an execution that has ended (stop it first); its record goes."""
        if execution_id in service.past:
            service.forget(execution_id)
            return Response(status_code=204)
        ex = execution(execution_id)
        try:
            service.forget(ex.id)
        except ExecutionError as exc:
            raise Problem(409, "execution_running", str(exc)) from None
        return Response(status_code=204)

    # -- components, health, metrics -------------------------------------------------------

    @app.get("/api/components", dependencies=[need("viewer")])
    async def list_components() -> list[dict[str, Any]]:
        """Every component graphs may use: id, ports, config schema."""
        return [definition.to_dict() for definition in service.registry]

    @app.post(
        "/api/components",
        status_code=201,
        dependencies=[need("admin")],
        responses=documented(400, 409),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"example": COMPONENT_EXAMPLE}},
            }
        },
    )
    async def register_component(request: Request) -> dict[str, Any]:
        """Register a code component: JavaScript or WebAssembly run in confined workers.

        Refused (403) unless the service takes code (``ARACHNE_ALLOW_CODE``); its limits
        must lie within the operator's ceilings (``ARACHNE_CODE_CEILINGS``).
        """
        raw = await request.body()
        if len(raw) > settings.max_body_bytes:
            raise Problem(
                413, "body_too_large", f"the request body is over {settings.max_body_bytes} bytes"
            )
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise Problem(400, "invalid_json", f"the body is not JSON: {exc}") from None
        if service.registry.code is None:
            raise Problem(403, "code_disabled", CODE_REFUSED)
        if (
            isinstance(data, dict)
            and isinstance(data.get("id"), str)
            and data["id"] in service.registry
        ):
            raise Problem(
                409,
                "component_exists",
                f"component {data['id']!r} is already registered; pick another id",
            )
        try:  # (off the loop: the source is built in a worker)
            definition = await asyncio.to_thread(service.add_component, data)
        except SpecError as exc:
            raise Problem(400, "invalid_component", str(exc)) from None
        return definition.to_dict()

    @app.get("/api/whoami")
    def whoami(caller: Caller = viewer) -> dict[str, Any]:
        """Who the credentials name and their role (``viewer``, ``operator`` or ``admin``).

        ``singleRun``: the service shows one run (``arachne run --dashboard``) and loads or
        starts nothing.
        """
        return {
            "caller": caller.name,
            "role": caller.role,
            "authentication": gate.on,
            "singleRun": service.single_run,
        }

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Whether the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "At the limit of executions"}})
    def readyz() -> JSONResponse:
        """Whether the service takes executions (under its concurrency limit)."""
        running = sum(1 for ex in service.executions() if not ex.done)
        limit = settings.max_concurrent_executions
        state = "ok" if running < limit else "full"
        body = {"status": state, "executions": running, "limit": limit}
        return JSONResponse(body, status_code=200 if running < limit else 503)

    @app.websocket("/ws")
    async def events(socket: WebSocket) -> None:
        """Serve executions' events as JSON frames, both ways (``arachne.server.stream``)."""
        if not origin_allowed(
            socket.headers.get("origin"), origins, host=socket.headers.get("host")
        ):
            await socket.send_denial_response(
                error_response(403, "origin_refused", "this page's origin may not open sockets")
            )
            return
        try:
            caller = gate.caller(socket.headers, token=socket.query_params.get("token"))
            gate.allow(caller, "viewer")
        except Denied as exc:  # (answered as HTTP, with the reason, before any socket opens)
            await socket.send_denial_response(error_response(exc.status, exc.code, exc.message))
            return
        await socket.accept()
        stream = ClientStream(
            service,
            socket.send_json,
            may_operate=_may(caller, "operator"),
            events_per_second=settings.max_events_per_second,
        )
        pump = asyncio.create_task(stream.pump())
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    await _frame_error(socket, "invalid_frame", "send JSON text frames")
                    continue
                try:
                    frame = json.loads(text)
                except (ValueError, RecursionError) as exc:
                    await _frame_error(socket, "invalid_json", f"the frame is not JSON: {exc}")
                    continue
                await stream.handle(frame)
        except WebSocketDisconnect:
            pass
        finally:
            stream.close()
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump

    install_dashboard(app)

    prometheus = CollectorRegistry()
    prometheus.register(ArachneCollector(service.runtime))

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=[need("viewer")])
    def metrics() -> Response:
        """Every execution's metrics in the Prometheus text format."""
        return Response(generate_latest(prometheus), media_type=CONTENT_TYPE_LATEST)

    return app


async def _frame_error(socket: WebSocket, code: str, message: str) -> None:
    await socket.send_json({"event": "error", "data": {"code": code, "message": message}})


def _methods_at(app: FastAPI, request: Request) -> list[str]:
    """Return every method some route serves at ``request``'s path (for ``Allow``)."""
    # Asked of each route with each method, so routes of included routers answer too.
    methods: set[str] = set()
    for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in app.routes):
            methods.add(method)
    return sorted(methods)


def _may(caller: Caller, role: Role) -> bool:
    return ROLES.index(caller.role) >= ROLES.index(role)
