"""The service's catalog in the store: its graphs, code components and executions' records.

``arachne serve --store FILE`` keeps here each graph loaded over the API (its definition as
sent), each code component registered over it, and each execution it started: its graph, its
state as it changes, its record once it ends, and whether it is to be resumed. A service
started again on the same file registers the code components again (when it takes code),
loads the graphs back, lists the executions that ended, and resumes the ones that were running
(from their checkpoints, kept in the same file under the execution's id).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from arachne.durable.store import Store

__all__ = ["Catalog", "ExecutionEntry", "GraphEntry"]


@dataclass(frozen=True, slots=True)
class GraphEntry:
    """A graph the service held: its id, its definition as sent, when it was loaded."""

    id: str
    definition: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class ExecutionEntry:
    """An execution the service started: its graph, last state, record, and whether to resume."""

    id: str
    graph_id: str
    state: str
    resume: bool
    record: dict[str, Any] | None
    created_at: float


class Catalog:
    """The graphs and execution records of a service, in ``store``."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    # -- graphs --------------------------------------------------------------------------------

    def save_graph(self, graph_id: str, definition: Mapping[str, Any], created_at: float) -> None:
        """Keep graph ``graph_id`` (its definition is JSON data)."""
        body = json.dumps(definition, separators=(",", ":"))
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO service_graphs (id, definition, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, "
                "created_at = excluded.created_at",
                (graph_id, body, created_at),
            )

    def remove_graph(self, graph_id: str) -> None:
        """Forget graph ``graph_id``."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM service_graphs WHERE id = ?", (graph_id,))

    def graphs(self) -> list[GraphEntry]:
        """Return the graphs kept, oldest first."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT id, definition, created_at FROM service_graphs ORDER BY created_at"
            ).fetchall()
        return [GraphEntry(str(i), json.loads(d), float(c)) for i, d, c in rows]

    # -- code components -----------------------------------------------------------------------

    def save_component(self, component_id: str, definition: Mapping[str, Any]) -> None:
        """Keep code component ``component_id`` (its JSON definition, as registered)."""
        body = json.dumps(definition, separators=(",", ":"))
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO service_components (id, definition, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET definition = excluded.definition",
                (component_id, body, self.clock()),
            )

    def components(self) -> list[dict[str, Any]]:
        """Return the code components' definitions kept, oldest first."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT definition FROM service_components ORDER BY created_at"
            ).fetchall()
        return [json.loads(definition) for (definition,) in rows]

    # -- executions ----------------------------------------------------------------------------

    def started(self, execution_id: str, graph_id: str) -> None:
        """Keep a new execution of ``graph_id`` (to be resumed until it ends)."""
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO service_executions (id, graph_id, state, resume, record, created_at) "
                "VALUES (?, ?, 'pending', 1, NULL, ?) ON CONFLICT (id) DO UPDATE SET "
                "graph_id = excluded.graph_id, state = 'pending', resume = 1, record = NULL",
                (execution_id, graph_id, self.clock()),
            )

    def moved(self, execution_id: str, state: str, record: Mapping[str, Any] | None) -> None:
        """Note the execution's new ``state``; an ended one keeps ``record`` and is not resumed.

        A ``cancelled`` one stays resumable only if :meth:`interrupted` marked it so (the
        service cancelled it on its way down).
        """
        ended = state in ("completed", "failed", "cancelled")
        body = json.dumps(record, separators=(",", ":"), default=str) if record else None
        with self.store.transaction() as db:
            if ended:
                db.execute(
                    "UPDATE service_executions SET state = ?, record = ?, "
                    "resume = CASE WHEN resume = 2 AND ? = 'cancelled' THEN 1 ELSE 0 END "
                    "WHERE id = ?",
                    (state, body, state, execution_id),
                )
            else:
                db.execute(
                    "UPDATE service_executions SET state = ? WHERE id = ?", (state, execution_id)
                )

    def interrupted(self, execution_id: str) -> None:
        """Mark a running execution the service is stopping: it resumes when the service does."""
        with self.store.transaction() as db:
            db.execute(
                "UPDATE service_executions SET resume = 2 WHERE id = ? AND resume = 1",
                (execution_id,),
            )

    def forget(self, execution_id: str) -> None:
        """Drop the execution's record, and its run's checkpoints and event log."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM service_executions WHERE id = ?", (execution_id,))
            for table in ("checkpoint_parts", "checkpoints", "event_log"):
                db.execute(f"DELETE FROM {table} WHERE run = ?", (execution_id,))  # noqa: S608
            db.execute("DELETE FROM runs WHERE name = ?", (execution_id,))

    def executions(self) -> list[ExecutionEntry]:
        """Return every execution kept, oldest first."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT id, graph_id, state, resume, record, created_at FROM service_executions "
                "ORDER BY created_at"
            ).fetchall()
        return [
            ExecutionEntry(
                str(i), str(g), str(s), bool(r), json.loads(rec) if rec else None, float(c)
            )
            for i, g, s, r, rec, c in rows
        ]
