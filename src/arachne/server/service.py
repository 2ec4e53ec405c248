"""The Runtime Service's state: stored graphs, and the runtime that runs their executions.

Graphs are kept in memory, checked and analysed when loaded (a graph that cannot be built is
refused then, not at its first execution). Each execution of a graph is built afresh from the
stored document, so executions never share node instances. Everything the REST routes do goes
through here; the routes only translate HTTP.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arachne.components.code import CEILINGS, CodeHost, IsolatePool, enable_code
from arachne.components.code.host import CEILINGS_VARIABLE, ceilings_from_environment
from arachne.components.files import DataRoot
from arachne.durable import SqliteStore
from arachne.durable.catalog import Catalog
from arachne.durable.runs import run_state
from arachne.model.errors import ExecutionError, SpecError
from arachne.runtime import Execution, Runtime
from arachne.runtime.events import ExecutionStateChanged
from arachne.server.secrets import Redactor
from arachne.spec import analyze, build, parse_document

if TYPE_CHECKING:
    from collections.abc import Mapping

    from arachne.components.definition import ComponentDefinition
    from arachne.components.registry import Registry
    from arachne.server.settings import ServerSettings
    from arachne.spec import GraphDocument, TopologyReport

__all__ = ["Full", "NotFound", "PayloadTooLarge", "RuntimeService", "SingleRun", "StoredGraph"]

log = logging.getLogger("arachne.server")


class NotFound(LookupError):
    """A graph or an execution the service does not have; the message names what is known."""


class PayloadTooLarge(ValueError):
    """An injected value whose JSON is over ``MAX_INJECT_BYTES``."""


class Full(Exception):
    """The service holds as many graphs as it may (``MAX_GRAPHS``)."""


class SingleRun(ExecutionError):
    """The service shows one run (``arachne run --dashboard``): it loads and starts nothing."""


@dataclass(frozen=True, slots=True)
class StoredGraph:
    """A graph loaded into the service: its document as sent, checked and analysed."""

    id: str
    document: GraphDocument
    definition: dict[str, Any]
    topology: TopologyReport
    created_at: float

    def summary(self) -> dict[str, Any]:
        """Return what the service says of the graph in lists and on load."""
        return {
            "id": self.id,
            "name": self.document.name,
            "version": self.document.version,
            "topology": self.topology.to_dict(),
            "nodeCount": len(self.document.nodes),
            "edgeCount": len(self.document.edges),
            "createdAt": self.created_at,
        }


class RuntimeService:
    """Stored graphs and their executions, on one ``Runtime`` built from the settings."""

    def __init__(
        self, settings: ServerSettings, registry: Registry, runtime: Runtime | None = None
    ) -> None:
        """Serve graphs on a new runtime built from ``settings``, or on ``runtime``.

        A runtime given is its owner's: :meth:`close` leaves it running (``arachne run
        --dashboard`` serves the run's own execution, then shuts its runtime down itself).
        """
        self.settings = settings
        # Graphs come from elsewhere: the files they name must lie inside the data root.
        self.registry = registry.confined(DataRoot(settings.data_root))
        self.code = _code_host(settings, self.registry) if settings.allow_code else None
        self.redactor = Redactor(self.registry)  # secret config values are never shown back
        self._owns_runtime = runtime is None
        # With a store: graphs, execution records and checkpoints outlive the process.
        self.store = _open_store(settings) if runtime is None else None
        self.catalog = Catalog(self.store) if self.store is not None else None
        self.runtime = (
            runtime
            if runtime is not None
            else Runtime(
                metrics=settings.enable_metrics,
                execution_timeout=settings.execution_timeout_seconds,
                max_concurrent_executions=settings.max_concurrent_executions,
                max_backpressure_queue=settings.max_backpressure_queue,
                store=self.store,
                checkpoint_every=settings.checkpoint_every,
            )
        )
        self.graphs: dict[str, StoredGraph] = {}
        self._graph_of: dict[str, str] = {}  # execution id -> graph id
        self._name_of: dict[str, str] = {}  # execution id -> graph name
        self.past: dict[str, dict[str, Any]] = {}  # records of executions a former process ran
        self._lock = threading.Lock()
        if self.catalog is not None:
            self.runtime.subscribe(self._moved, ExecutionStateChanged)
            self._load()

    # -- graphs -------------------------------------------------------------------------------

    def check_graph(self, definition: dict[str, Any]) -> tuple[GraphDocument, TopologyReport]:
        """Check and analyse ``definition`` as loading would, storing nothing.

        ``SpecError`` naming every problem (each with the JSON path it concerns).
        """
        document = parse_document(definition)
        topology = analyze(document)
        build(document, self.registry)  # every component, config and port checked now
        return document, topology

    def add_graph(self, definition: dict[str, Any]) -> StoredGraph:
        """Check, analyse and store ``definition``; ``SpecError`` naming every problem."""
        self._may_start()
        document, topology = self.check_graph(definition)
        graph = StoredGraph(
            id=f"graph-{uuid.uuid4()}",
            document=document,
            definition=definition,
            topology=topology,
            created_at=time.time(),
        )
        with self._lock:
            if len(self.graphs) >= self.settings.max_graphs:
                raise Full(
                    f"the service holds {len(self.graphs)} graphs, its limit (MAX_GRAPHS); "
                    "delete one first"
                )
            self.graphs[graph.id] = graph
        if self.catalog is not None:
            self.catalog.save_graph(graph.id, definition, graph.created_at)
        return graph

    def graph(self, graph_id: str) -> StoredGraph:
        """Return the stored graph ``graph_id``; ``NotFound`` if none."""
        graph = self.graphs.get(graph_id)
        if graph is None:
            raise NotFound(f"no graph {graph_id!r}; GET /api/graphs lists the graphs loaded")
        return graph

    def remove_graph(self, graph_id: str) -> None:
        """Forget graph ``graph_id`` (its executions run on); ``NotFound`` if none."""
        with self._lock:
            if self.graphs.pop(graph_id, None) is None:
                raise NotFound(f"no graph {graph_id!r}; GET /api/graphs lists the graphs loaded")
        if self.catalog is not None:
            self.catalog.remove_graph(graph_id)

    # -- executions ---------------------------------------------------------------------------

    def execute(
        self, graph_id: str, *, execution_id: str | None = None, lineage: float | None = None
    ) -> Execution:
        """Build graph ``graph_id`` afresh and start it; its inputs stay open for inject.

        With a store, ``execution_id`` names one to resume from its checkpoint. ``lineage``
        (a rate in (0, 1]) records the lineage of that share of its messages.
        """
        self._may_start()
        graph = self.graph(graph_id)
        self._forget_oldest_ended()
        unit = build(graph.document, self.registry)
        ex = self.runtime.open_execution(
            unit,
            execution_id=execution_id,
            timeout=self.settings.execution_timeout_seconds,
            lineage=lineage,
        )
        with self._lock:
            self._graph_of[ex.id] = graph_id
            self._name_of[ex.id] = graph.document.name
            self.past.pop(ex.id, None)
        if self.catalog is not None:
            self.catalog.started(ex.id, graph_id)
        try:
            self.runtime.launch(ex)
        except BaseException:
            with contextlib.suppress(ExecutionError):
                self.runtime.forget(ex.id)
            with self._lock:
                self._graph_of.pop(ex.id, None)
                self._name_of.pop(ex.id, None)
            if self.catalog is not None and execution_id is None:  # never ran: no resuming
                self.catalog.forget(ex.id)
            raise
        return ex

    def adopt(self, ex: Execution, document: GraphDocument) -> StoredGraph:
        """Serve ``ex``, an execution of ``document`` started elsewhere on this runtime.

        The document is stored as a graph (listed, executable again); ``ex`` is listed, shown
        and steered as if the service had started it.
        """
        graph = StoredGraph(
            id=f"graph-{uuid.uuid4()}",
            document=document,
            definition=document.to_dict(),
            topology=analyze(document),
            created_at=time.time(),
        )
        with self._lock:
            self.graphs[graph.id] = graph
            self._graph_of[ex.id] = graph.id
            self._name_of[ex.id] = document.name
        return graph

    @property
    def single_run(self) -> bool:
        """Whether the service shows one run started elsewhere (and starts nothing itself)."""
        return not self._owns_runtime

    def _may_start(self) -> None:
        if not self._owns_runtime:
            raise SingleRun(
                "this service shows one run (arachne run --dashboard) and loads or starts no "
                "graph; use arachne serve for that"
            )

    def inject(self, ex: Execution, node_id: str, port: str, value: Any) -> None:
        """Offer ``value`` to ``node_id.port`` of ``ex``, refusing one past ``MAX_INJECT_BYTES``.

        ``PayloadTooLarge`` if its JSON is too long; then as ``Execution.inject`` (without
        waiting: a full input raises ``TimeoutError``).
        """
        try:
            size = len(json.dumps(value, allow_nan=False).encode())
        except ValueError:
            raise ValueError(
                "value: NaN and infinities are not JSON; send a number, a string or null"
            ) from None
        if size > self.settings.max_inject_bytes:
            raise PayloadTooLarge(
                f"value: {size} bytes of JSON, over MAX_INJECT_BYTES "
                f"({self.settings.max_inject_bytes}); send smaller values"
            )
        ex.inject(node_id, port, value, timeout=0)

    def forget(self, execution_id: str) -> None:
        """Drop an execution that has ended; ``ExecutionError`` if it still runs."""
        if execution_id in self.past:
            with self._lock:
                self.past.pop(execution_id, None)
        else:
            self.runtime.forget(execution_id)
            with self._lock:
                self._graph_of.pop(execution_id, None)
                self._name_of.pop(execution_id, None)
        if self.catalog is not None:
            self.catalog.forget(execution_id)

    def _forget_oldest_ended(self) -> None:
        """Keep at most ``MAX_ENDED_EXECUTIONS`` ended executions: the oldest go first."""
        ended = [ex for ex in self.executions() if ex.done]
        for ex in ended[: max(0, len(ended) - self.settings.max_ended_executions + 1)]:
            with contextlib.suppress(ExecutionError):
                self.forget(ex.id)

    def execution(self, execution_id: str) -> Execution:
        """Return execution ``execution_id``; ``NotFound`` if none."""
        ex = self.runtime.executions.get(execution_id)
        if ex is None or execution_id not in self._graph_of:
            raise NotFound(
                f"no execution {execution_id!r}; GET /api/executions lists the executions"
            )
        return ex

    def graph_of(self, execution_id: str) -> str | None:
        """Return the id of the graph execution ``execution_id`` runs, if the service ran it."""
        return self._graph_of.get(execution_id)

    def executions(self) -> list[Execution]:
        """Every execution the service started, oldest first."""
        return [
            self.runtime.executions[e] for e in list(self._graph_of) if e in self.runtime.executions
        ]

    def describe(self, ex: Execution) -> dict[str, Any]:
        """Return the execution's record under the service's names, with its graph's id."""
        record = ex.record().to_dict()
        record["checksum"] = self.redactor.digest(record["checksum"])  # (no secret guessing)
        record["graphId"] = self._graph_of.get(ex.id, record["graphId"])
        record["graphName"] = self._name_of.get(ex.id, ex.graph.name)
        return record

    # -- the store ----------------------------------------------------------------------------

    def add_component(self, definition: Mapping[str, Any]) -> ComponentDefinition:
        """Register a code component (``SpecError`` naming the field); kept in the store."""
        added = self.registry.add_code(definition, where="body")
        if self.catalog is not None:
            self.catalog.save_component(added.id, definition)
        return added

    def _load_components(self, catalog: Catalog) -> None:
        kept = catalog.components()
        if kept and self.code is None:
            log.warning(
                "%d code component(s) in the store are not loaded, nor the graphs using them: "
                "start the service with --allow-code (ARACHNE_ALLOW_CODE=true)",
                len(kept),
            )
            return
        for definition in kept:
            try:
                self.registry.add_code(definition, where="stored component")
            except SpecError as exc:
                log.warning("a code component in the store no longer loads, left out: %s", exc)

    def _load(self) -> None:
        """Load the graphs kept in the store; list ended executions; resume the others."""
        assert self.catalog is not None  # noqa: S101  # called only with one
        self._load_components(self.catalog)
        for entry in self.catalog.graphs():
            try:
                document, topology = self.check_graph(entry.definition)
            except (SpecError, ValueError) as exc:
                log.warning("graph %s in the store no longer loads, left out: %s", entry.id, exc)
                continue
            self.graphs[entry.id] = StoredGraph(
                entry.id, document, entry.definition, topology, entry.created_at
            )
        assert self.store is not None  # noqa: S101  # (the catalog's)
        for execution in self.catalog.executions():
            if execution.resume and run_state(self.store, execution.id) == "completed":
                # It completed, but the process ended before the catalog heard: never again.
                self.catalog.moved(execution.id, "completed", execution.record)
            elif execution.resume and execution.graph_id not in self.graphs:
                log.warning(
                    "execution %s was running, but its graph %s did not load: it is not "
                    "resumed now (its checkpoints are kept for a start with that graph)",
                    execution.id,
                    execution.graph_id,
                )
            elif execution.resume:
                try:
                    self.execute(execution.graph_id, execution_id=execution.id)
                except Exception as exc:  # one that cannot resume stays listed
                    log.warning("execution %s could not be resumed: %s", execution.id, exc)
                    name = self.graphs[execution.graph_id].document.name
                    failed = _unresumed(execution.id, execution.graph_id, name, exc)
                    self.catalog.moved(execution.id, "failed", failed)
                    self.past[execution.id] = failed
                    continue
                log.info("execution %s resumed from the store", execution.id)
                continue
            if execution.record is not None:
                self.past[execution.id] = execution.record

    def _moved(self, event: ExecutionStateChanged) -> None:
        """Keep an execution's state (and its record once it ended) in the store."""
        if self.catalog is None or event.execution_id not in self._graph_of:
            return
        record = None
        if event.new in ("completed", "failed", "cancelled"):
            ex = self.runtime.executions.get(event.execution_id)
            if ex is not None:
                record = self.describe(ex)
        try:
            self.catalog.moved(event.execution_id, event.new, record)
        except Exception as exc:  # the store's trouble is not the run's
            log.warning("execution %s: its state could not be kept: %s", event.execution_id, exc)

    def close(self, timeout: float = 5.0) -> None:
        """Stop every execution gracefully (cancelling past ``timeout``) and the runtime.

        Not a runtime the service was given: its owner stops that.
        """
        if self._owns_runtime:
            self._close(timeout)
        if self.code is not None:
            self.code.close()  # after the executions: their code nodes' cleanup ran

    def _close(self, timeout: float) -> None:
        running = sum(1 for ex in self.executions() if ex.launched and not ex.done)
        kept = ""
        if self.catalog is not None:
            kept = " and kept to resume" if running else ""
            # Kept to resume: cancelled now (nothing drains into an end of stream), resumed
            # from their checkpoints when the service starts again on the store.
            for ex in self.executions():
                if ex.launched and not ex.done:
                    self.catalog.interrupted(ex.id)
                    ex.request_stop(drain=False)
        ended = self.runtime.shutdown(timeout)
        if self.store is not None:
            self.store.close()
        log.info(
            "the service stopped: %d running execution(s) %s%s",
            running,
            "stopped" if ended else "stopped, some only by a cancel",
            kept,
        )


def _open_store(settings: ServerSettings) -> SqliteStore | None:
    """Open the service's store, if it has one, readable by its owner only.

    It holds graph definitions, secret config values included (the settings keep it outside
    the data root, where graphs may write files).
    """
    if not settings.store:
        return None
    path = Path(settings.store).resolve()
    # Made 0600 before SQLite opens it: SQLite gives its -wal and -shm files the same mode.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(OSError):
            part.chmod(0o600)  # (one made earlier, or by another tool)
    return SqliteStore(path)


def _unresumed(execution_id: str, graph_id: str, name: str, exc: BaseException) -> dict[str, Any]:
    """Return the record of an execution the service could not resume after a restart."""
    return {
        "id": execution_id,
        "graphId": graph_id,
        "checksum": None,
        "state": "failed",
        "createdAt": None,
        "startedAt": None,
        "completedAt": time.time(),
        "error": {
            "type": type(exc).__name__,
            "message": f"could not be resumed after the service restarted: {exc}",
            "nodeId": None,
        },
        "metrics": {},
        "graphName": name,
    }


def _code_host(settings: ServerSettings, registry: Registry) -> CodeHost:
    """Enable code components on ``registry``, with the pool size and ceilings of ``settings``."""
    ceilings = CEILINGS
    if settings.code_ceilings:
        ceilings = ceilings_from_environment({CEILINGS_VARIABLE: settings.code_ceilings})
    host = CodeHost(IsolatePool(settings.isolate_pool_size), ceilings=ceilings)
    return enable_code(registry, host)
