"""``arachne mcp``: the query plane and the controls of executions as MCP tools, over stdio.

An agent (an MCP client: Claude Desktop, an IDE, a script on the ``mcp`` package's client)
starts ``arachne mcp graph.yaml ...`` and talks to it on its standard input and output. The
process runs a :class:`~arachne.server.service.RuntimeService` of its own, loads and starts
each document given (their inputs stay open, as for executions the REST API starts), and
serves the tools of :class:`ArachneTools` until the client disconnects; then every execution
stops gracefully.

Reading is open to the client: the executions and graphs, and each execution's topology,
flow, load and backpressure (``arachne.observability.query``; the same snapshots as the REST
API's ``.../query/...`` routes, from one plane per execution, so rates are over the interval
since the previous call for the same snapshot). Acting (start, pause, resume, stop, inject,
plan and commit a change) needs the operator token as the ``token`` argument: the value of
``ARACHNE_MCP_TOKEN`` (or the variable ``--token-env`` names) in the server's environment,
never its command line, which other users of the machine can read. Without one, those tools
refuse and say how to enable them. See docs/mcp.md.
"""

from __future__ import annotations

import contextlib
import hmac
import importlib.metadata
import logging
import os
import signal
import threading
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from arachne.model.errors import ArachneError
from arachne.observability.query import LineageOff
from arachne.runtime.events import ExecutionStateChanged
from arachne.runtime.lineage import RECENT
from arachne.server.changes import MAX_OPERATIONS, Operation, commit_change, plan_change
from arachne.server.planes import QueryPlanes
from arachne.server.service import Full, NotFound, RuntimeService
from arachne.server.settings import ServerSettings
from arachne.spec import read_document

if TYPE_CHECKING:  # (a tool's parameter types must resolve at run time: none of these is one)
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from pathlib import Path

    from arachne.components.registry import Registry
    from arachne.model.delta import GraphDelta
    from arachne.observability.query import QueryPlane
    from arachne.runtime import Execution

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "TOOLS",
    "ArachneTools",
    "ChangeArg",
    "OperatorToken",
    "mcp_server",
    "serve_mcp",
    "start_documents",
]

log = logging.getLogger("arachne.server")

DEFAULT_TOKEN_ENV: Final = "ARACHNE_MCP_TOKEN"  # noqa: S105  # (a variable's name)
"""The environment variable the operator token is read from, unless ``--token-env`` names one."""

MIN_TOKEN_LENGTH: Final = 16
"""The shortest operator token taken (as for ``API_KEYS``)."""

SETTLE: Final = 5.0
"""Seconds pause, resume and stop wait for the execution to reach the state asked for."""

_ENDED: Final = frozenset({"completed", "failed", "cancelled"})

# What the agent reads of each argument (the tools' input schemas carry it).
ExecutionId = Annotated[
    str, Field(min_length=1, description="An execution's id, as list_executions gives it.")
]
Token = Annotated[
    str,
    Field(
        description="The operator token: the value of the environment variable named when "
        "arachne mcp was started (ARACHNE_MCP_TOKEN by default), as its user gave it to you."
    ),
]
ChangeArg = Annotated[
    list[Operation],
    Field(
        min_length=1,
        max_length=MAX_OPERATIONS,
        description="Operations made in order, then planned or committed as one; each has "
        "'op': add_node, remove_node, configure, connect, disconnect or retune.",
    ),
]


class OperatorToken:
    """The operator token control tools ask for; ``None``: control tools are off."""

    def __init__(self, secret: str | None, variable: str = DEFAULT_TOKEN_ENV) -> None:
        if secret is not None and len(secret) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"{variable} holds {len(secret)} characters; an operator token needs at least "
                f"{MIN_TOKEN_LENGTH} (make one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(24))')"
            )
        self._secret = secret
        self.variable = variable

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str], variable: str = DEFAULT_TOKEN_ENV
    ) -> OperatorToken:
        """Return the token in ``environ[variable]`` (unset or empty: control tools are off)."""
        return cls(environ.get(variable) or None, variable)

    @property
    def on(self) -> bool:
        """Whether a token is configured (else every control tool refuses)."""
        return self._secret is not None

    def check(self, given: str) -> None:
        """Return if ``given`` is the token; ``ToolError`` saying why not otherwise."""
        if self._secret is None:
            raise ToolError(
                "control tools are off: this server was started without an operator token. "
                f"Set {self.variable} (at least {MIN_TOKEN_LENGTH} characters) in the "
                "environment of arachne mcp, restart it, and pass the same value as token"
            )
        if not given:
            raise ToolError("this tool needs the operator token: pass it as token")
        if not hmac.compare_digest(
            self._secret.encode(errors="surrogatepass"), given.encode(errors="surrogatepass")
        ):
            raise ToolError("the operator token is not valid")


class ArachneTools:
    """The MCP tools over one service: each method is a tool, named and documented as it is.

    A method's docstring is what the agent reads; its annotated parameters become the tool's
    input schema; it answers JSON data (the query plane's snapshots as their ``to_dict()``).
    Errors the agent can fix are ``ToolError`` naming the field or the thing and the fix.
    """

    def __init__(self, service: RuntimeService, token: OperatorToken) -> None:
        self.service = service
        self.token = token
        self.planes = QueryPlanes(service)
        self._changing = threading.Lock()  # (one change at a time: each flips the commit mode)

    def close(self) -> None:
        """Close the executions' query planes."""
        self.planes.close()

    # -- reading -------------------------------------------------------------------------------

    def list_graphs(self) -> dict[str, Any]:
        """List the graphs loaded: id, name, version, node and edge counts, topology."""
        return {"graphs": [graph.summary() for graph in list(self.service.graphs.values())]}

    def list_executions(self) -> dict[str, Any]:
        """List the executions, oldest first: id, graphId, graphName, state, times, metrics.

        state is one of pending, initializing, running, paused, completed, failed, cancelled.
        """
        service = self.service
        past = list(service.past.values())
        return {"executions": past + [service.describe(ex) for ex in service.executions()]}

    def topology(self, execution_id: ExecutionId) -> dict[str, Any]:
        """Return the running graph's manifest: its nodes, routes and edges with their policies.

        Stamped, like every snapshot, with the manifest's SHA-256 (digest), the execution's
        state and when it was observed.
        """
        return self._plane(execution_id).topology().to_dict()

    def flow(self, execution_id: ExecutionId) -> dict[str, Any]:
        """Return each edge's flow: depth against capacity, blocked ms per second, drops.

        backpressured says the edge is full and holds its producer back now. Rates are over
        intervalSeconds since the previous flow call for this execution (its start, first).
        """
        return self._plane(execution_id).flow().to_dict()

    def load(self, execution_id: ExecutionId) -> dict[str, Any]:
        """Return each node's busy, back-pressured and idle milliseconds per second.

        Over intervalSeconds since the previous load call for this execution (its start, the
        first time). A node busy near 1000 is the bottleneck.
        """
        return self._plane(execution_id).load().to_dict()

    def backpressure(self, execution_id: ExecutionId) -> dict[str, Any]:
        """Return each full block edge with the node that causes it and the path of full edges."""
        return self._plane(execution_id).backpressure().to_dict()

    def lineage(
        self,
        execution_id: ExecutionId,
        node: Annotated[
            str, Field(min_length=1, description="The node whose latest outputs to explain.")
        ],
        last: Annotated[
            int, Field(ge=1, le=RECENT, description="How many of its latest handlings.")
        ] = 10,
    ) -> dict[str, Any]:
        """Explain a node's latest outputs: the inputs and the nodes behind each.

        For a sink, what it handles is the graph's output. Each output lists its origins (a
        source's n-th message, or an injected value's text) and the nodes the data went
        through, in order. Needs an execution started with lineage (start_execution's
        lineage, arachne mcp --lineage).
        """
        plane = self._plane(execution_id)
        try:
            return plane.lineage(node, last=last).to_dict()
        except (LineageOff, ValueError) as exc:
            raise ToolError(str(exc)) from None

    def taints(self, execution_id: ExecutionId) -> dict[str, Any]:
        """Return per input route (node, port) and taint label the messages that arrived with it.

        Labels such as retried (from a retried call: maybe a duplicate), replayed or
        untrusted-input travel with the data until a node repairs them (a dedupe repairs
        retried).
        """
        return self._plane(execution_id).taints().to_dict()

    def primitives(self, execution_id: ExecutionId) -> dict[str, Any]:
        """Return each primitive installed in the execution's graph (a rate limiter, ...).

        Each with its contract and version, its maturity (named ... stable) and the health
        its nodes report: a state such as healthy or limiting, and its own counters.
        """
        return self._plane(execution_id).primitives().to_dict()

    def watermarks(self, execution_id: ExecutionId) -> dict[str, Any]:
        """Return the event time of each node a watermark has reached (windows, joins).

        Each with its input watermark (null before any), the input edge that holds it there,
        whether it is idle, and the watermark it last sent on.
        """
        return self._plane(execution_id).watermarks().to_dict()

    # -- acting (the operator token) -----------------------------------------------------------

    def start_execution(
        self,
        graph_id: Annotated[
            str, Field(min_length=1, description="A graph's id, as list_graphs gives it.")
        ],
        token: Token,
        lineage: Annotated[
            float | None,
            Field(
                gt=0,
                le=1,
                description="Record lineage for this share of its messages (1: all); "
                "off when left out.",
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Start a new execution of a loaded graph; its input nodes take values through inject."""
        self.token.check(token)
        if graph_id not in self.service.graphs:
            known = ", ".join(self.service.graphs) or "none"
            raise ToolError(f"no graph {graph_id!r}; the graphs: {known} (see list_graphs)")
        with _refusals():
            ex = self.service.execute(graph_id, lineage=lineage)
        log.info("arachne mcp: started execution %s of graph %s", ex.id, graph_id)
        return {"executionId": ex.id, "graphId": graph_id, "state": ex.state.value}

    def pause(self, execution_id: ExecutionId, token: Token) -> dict[str, Any]:
        """Pause an execution: no node runs, messages queue on its edges (idempotent).

        Answers once it is paused (or after five seconds), with its state then.
        """
        return self._control(execution_id, token, "pause", lambda ex: ex.pause(), {"paused"})

    def resume(self, execution_id: ExecutionId, token: Token) -> dict[str, Any]:
        """Resume a paused execution; what queued drains first (idempotent)."""
        return self._control(execution_id, token, "resume", lambda ex: ex.resume(), {"running"})

    def stop(self, execution_id: ExecutionId, token: Token) -> dict[str, Any]:
        """Stop an execution gracefully: what is queued drains, then it completes.

        It cannot be started again (start_execution starts a new one of its graph).
        """
        return self._control(
            execution_id, token, "stop", lambda ex: ex.request_stop(drain=True), set()
        )

    def inject(
        self,
        execution_id: ExecutionId,
        node: Annotated[str, Field(min_length=1, description="The node to feed, e.g. input.")],
        port: Annotated[str, Field(min_length=1, description="Its input port, e.g. in.")],
        value: Annotated[Any, Field(description="The value (JSON), checked against the port.")],
        token: Token,
    ) -> dict[str, Any]:
        """Offer a value to an input port of a running execution; it is checked first.

        Refused past MAX_INJECT_BYTES of JSON, or when the input's queue is full.
        """
        self.token.check(token)
        ex = self._execution(execution_id)
        with _refusals():
            self.service.inject(ex, node, port, value)
        return {"executionId": ex.id, "accepted": True}

    def plan(self, execution_id: ExecutionId, change: ChangeArg, token: Token) -> dict[str, Any]:
        """Return what committing a change would do to the running graph, changing nothing.

        Each operation is checked as a commit would check it. The answer's delta lists the
        nodes and links added, removed, reconfigured and retuned, text says it one line per
        change, and digest is the running graph's manifest digest to pass to commit.
        """
        self.token.check(token)
        ex = self._execution(execution_id)
        with self._changing, _refusals():
            digest = self._digest(ex)
            delta = plan_change(self.service, ex, change)
        return {**self._answer(ex, delta), "digest": digest, "committed": False}

    def commit(
        self,
        execution_id: ExecutionId,
        change: ChangeArg,
        token: Token,
        expected_digest: Annotated[
            str | None,
            Field(
                description="The digest plan answered: the commit is refused if the running "
                "graph has changed since. Omit it to commit whatever the graph is now."
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Commit a change to a running execution: all of it or nothing.

        Added nodes start before they join, configs are hot-reloaded, messages on kept edges
        are never lost. If a node's on_start or on_config fails, everything is rolled back and
        the error names the node. Answers the delta committed and the new digest.
        """
        self.token.check(token)
        ex = self._execution(execution_id)
        with self._changing, _refusals():
            if expected_digest is not None and expected_digest != self._digest(ex):
                raise ToolError(
                    f"the running graph of {ex.id} has changed since it was planned (its digest "
                    "is no longer expected_digest); read its topology and plan again"
                )
            delta = commit_change(self.service, ex, change)
            digest = self._digest(ex)
        shown = str(self.service.redactor.delta(delta)).replace("\n", "; ")  # (no secret)
        log.info("arachne mcp: committed to %s: %s", ex.id, shown)
        return {**self._answer(ex, delta), "digest": digest, "committed": True}

    # -- helpers -------------------------------------------------------------------------------

    def _execution(self, execution_id: str) -> Execution:
        try:
            return self.service.execution(execution_id)
        except NotFound:
            known = ", ".join(ex.id for ex in self.service.executions()) or "none"
            raise ToolError(
                f"no execution {execution_id!r}; the executions: {known} (see list_executions)"
            ) from None

    def _plane(self, execution_id: str) -> QueryPlane:
        return self.planes.of(self._execution(execution_id))

    def _digest(self, ex: Execution) -> str:
        return str(self.planes.of(ex).topology().stamp.digest)

    def _answer(self, ex: Execution, delta: GraphDelta) -> dict[str, Any]:
        redactor = self.service.redactor
        return {
            "executionId": ex.id,
            "delta": redactor.delta_data(delta),
            "text": str(redactor.delta(delta)),
        }

    def _control(
        self,
        execution_id: str,
        token: str,
        name: str,
        act: Callable[[Execution], None],
        wanted: set[str],
    ) -> dict[str, Any]:
        self.token.check(token)
        ex = self._execution(execution_id)
        if ex.done:
            raise ToolError(f"execution {ex.id} has ended ({ex.state.value})")
        with _refusals():
            state = _settled(ex, act, wanted | _ENDED)
        log.info("arachne mcp: %s %s, now %s", name, ex.id, state)
        return {"executionId": ex.id, "requested": name, "state": state}


_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_ADD = ToolAnnotations(destructive_hint=False, open_world_hint=False)
_AGAIN = ToolAnnotations(destructive_hint=False, idempotent_hint=True, open_world_hint=False)
_CHANGE = ToolAnnotations(destructive_hint=True, open_world_hint=False)

TOOLS: Final[tuple[tuple[str, ToolAnnotations], ...]] = (
    ("list_graphs", _READ),
    ("list_executions", _READ),
    ("topology", _READ),
    ("flow", _READ),
    ("load", _READ),
    ("backpressure", _READ),
    ("lineage", _READ),
    ("taints", _READ),
    ("primitives", _READ),
    ("watermarks", _READ),
    ("start_execution", _ADD),
    ("pause", _AGAIN),
    ("resume", _AGAIN),
    ("stop", _CHANGE),
    ("inject", _ADD),
    ("plan", _READ),
    ("commit", _CHANGE),
)
"""Each tool: the :class:`ArachneTools` method serving it, and what it promises the client.

A new tool is a method and a line here.
"""

INSTRUCTIONS: Final = (
    "Arachne runs dataflow graphs: nodes linked by bounded edges. list_executions gives the "
    "running executions; topology, flow, load and backpressure read one of them (a full edge "
    "that holds its producer back, the node that causes it, where time goes). Tools that act "
    "(start_execution, pause, resume, stop, inject, plan, commit) need the operator token; "
    "plan a change before you commit it, and pass the digest plan answers to commit."
)
"""What the server tells the client about its tools when it connects."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def mcp_server(tools: ArachneTools, *, log_level: LogLevel = "WARNING") -> MCPServer[Any]:
    """Return an MCP server serving ``tools`` (every entry of :data:`TOOLS`)."""
    try:
        version = importlib.metadata.version("arachne-runtime")
    except importlib.metadata.PackageNotFoundError:  # (run from a source tree)
        version = ""
    server: MCPServer[Any] = MCPServer(
        "arachne",
        title="Arachne",
        version=version,
        instructions=INSTRUCTIONS,
        log_level=log_level,
    )
    for name, promises in TOOLS:
        server.add_tool(getattr(tools, name), annotations=promises, structured_output=True)
    return server


def start_documents(
    service: RuntimeService, paths: Sequence[Path], *, lineage: float | None = None
) -> list[Execution]:
    """Load each document at ``paths`` into ``service`` and start an execution of it.

    ``lineage``: the share of each execution's messages whose lineage it records.
    ``SpecError``, ``ValueError`` or ``OSError`` naming the file of the first that does not
    load or start.
    """
    started = []
    for path in paths:
        document = read_document(path)  # (its errors name the file)
        try:
            graph = service.add_graph(document.to_dict())
            started.append(service.execute(graph.id, lineage=lineage))
        except (ArachneError, ValueError, Full) as exc:
            raise ValueError(f"{path}: {exc}") from exc
    return started


def serve_mcp(
    paths: Sequence[Path],
    registry: Registry,
    *,
    token_env: str = DEFAULT_TOKEN_ENV,
    settings: ServerSettings | None = None,
    log_level: LogLevel = "WARNING",
    lineage: float | None = None,
) -> None:
    """Serve the tools over stdio until the client disconnects (or SIGINT, SIGTERM).

    The service's settings come from the environment (``ServerSettings``), the operator
    token from ``token_env``. The documents' executions record ``lineage`` (a rate) if given.
    Every execution stops gracefully at the end.
    """
    token = OperatorToken.from_environment(os.environ, token_env)
    service = RuntimeService(settings if settings is not None else ServerSettings(), registry)
    tools = ArachneTools(service, token)
    try:
        started = start_documents(service, paths, lineage=lineage)
        log.info(
            "arachne mcp: %d execution(s) started; control tools %s",
            len(started),
            "on" if token.on else f"off (no {token_env})",
        )
        _until_disconnected(mcp_server(tools, log_level=log_level))
    finally:
        tools.close()
        service.close()


class _Interrupted(Exception):
    """SIGINT or SIGTERM arrived while the server was serving."""


def _until_disconnected(server: MCPServer[Any]) -> None:
    """Serve ``server`` on stdio until its input ends, or SIGINT or SIGTERM arrives.

    The server runs in a daemon thread: it reads stdin in a blocking call that nothing can
    cancel, so a signal must not wait for the client's next line. The main thread waits for
    either; a signal ends the wait, and the thread goes with the process.
    """
    failed: list[BaseException] = []
    ended = threading.Event()

    def serve() -> None:
        try:
            anyio.run(server.run_stdio_async)
        except BaseException as exc:  # (handed to the main thread)
            failed.append(exc)
        finally:
            ended.set()

    with _interrupting(signal.SIGINT, signal.SIGTERM):
        threading.Thread(target=serve, name="arachne-mcp", daemon=True).start()
        try:
            ended.wait()
        except _Interrupted:
            log.info("arachne mcp: interrupted, stopping")
            return
    if failed:
        raise failed[0]


@contextlib.contextmanager
def _interrupting(*signals: signal.Signals) -> Iterator[None]:
    """Within, each of ``signals`` raises ``_Interrupted`` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield  # (signals reach the main thread only: there, its handlers stay)
        return

    def interrupt(*_: object) -> None:
        raise _Interrupted

    previous = {sig: signal.signal(sig, interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _settled(ex: Execution, act: Callable[[Execution], None], wanted: set[str]) -> str:
    """Do ``act`` to ``ex``; return its state once in ``wanted`` (or after :data:`SETTLE`)."""
    reached = threading.Event()

    def on_state(event: ExecutionStateChanged) -> None:
        if event.new in wanted:
            reached.set()

    with ex.subscribe(on_state, ExecutionStateChanged):
        act(ex)
        if ex.state.value not in wanted:
            reached.wait(SETTLE)
    return ex.state.value


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """Turn the errors an agent can fix into ``ToolError`` with their message."""
    try:
        yield
    except ToolError:
        raise
    except (ArachneError, ValueError, LookupError, TimeoutError, Full) as exc:
        raise ToolError(str(exc)) from exc
