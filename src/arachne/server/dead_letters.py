"""Dead letters over the API: what an execution's dead-letter sinks keep, and their replay.

A sink is a ``DeadLetters`` node (the ``arachne.core.dead-letters`` component) that nodes'
``error`` ports link to; it numbers each record on arrival (``seq``). ``GET`` shows the newest
records of every sink. ``POST .../replay`` offers chosen records again where they failed
(``Execution.replay``: all or nothing, never waiting for room), then removes exactly those
from their sink, so records that arrive meanwhile stay. A refused replay removes nothing, so
nothing is lost; a replayed message that fails again comes back as a new record.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from arachne.model.errors import EdgeFull, ExecutionError, GraphError
from arachne.server.coalescer import event_value
from arachne.server.errors import Problem, documented

if TYPE_CHECKING:
    from arachne.model.dead_letters import KeptLetters
    from arachne.model.error_record import ErrorRecord
    from arachne.runtime import Execution
    from arachne.server.auth import Role
    from arachne.server.service import RuntimeService

__all__ = ["MAX_SHOWN", "SHOWN", "dead_letter_routes"]

_STRICT: Final = ConfigDict(extra="forbid")  # (a misspelt field is named, not ignored)

SHOWN: Final = 100
"""Records of each sink ``GET .../dead-letters`` shows by default (the newest)."""

MAX_SHOWN: Final = 1000
"""The most records of each sink one answer shows (``?limit=``)."""


class Replay(BaseModel):
    """Which dead letters to replay: records of one sink by number (all it keeps if none)."""

    model_config = _STRICT

    sink: str | None = Field(
        default=None,
        min_length=1,
        examples=["dead"],
        description="The sink's node id; may be left out when the execution has one sink",
    )
    seqs: list[int] | None = Field(
        default=None,
        min_length=1,
        examples=[[1, 2]],
        description="Numbers of the records to replay; left out, every one the sink keeps",
    )


def dead_letter_routes(
    service: RuntimeService,
    execution: Callable[[str], Execution],
    need: Callable[[Role], Any],
) -> APIRouter:
    """Return the dead-letter routes for ``service``'s executions.

    ``need(role)`` is the dependency that lets in callers with that role: viewers read the
    records, operators replay them.
    """
    router = APIRouter(prefix="/api/executions/{execution_id}/dead-letters", tags=["dead letters"])
    operator, viewer = [need("operator")], [need("viewer")]
    # One replay of an execution at a time: two of the same records would both deliver them.
    locks: weakref.WeakKeyDictionary[Execution, threading.Lock] = weakref.WeakKeyDictionary()
    locks_lock = threading.Lock()

    def lock_of(ex: Execution) -> threading.Lock:
        with locks_lock:
            return locks.setdefault(ex, threading.Lock())

    @router.get("", dependencies=viewer, responses=documented(404))
    def dead_letters(
        execution_id: str,
        limit: Annotated[
            int, Query(ge=1, le=MAX_SHOWN, description="Records shown per sink, the newest")
        ] = SHOWN,
    ) -> dict[str, Any]:
        """Return the execution's dead-letter sinks (by node id) and their newest records.

        Each sink's records come oldest first, at most ``limit`` of them.
        """
        ex = execution(execution_id)
        sinks = dict(sorted(ex.dead_letters().items()))
        return {
            "executionId": ex.id,
            "sinks": [
                {"nodeId": node_id, "kept": len(kept), "overflowed": kept.overflowed}
                for node_id, kept in sinks.items()
            ],
            "records": [
                _shown(node_id, seq, record)
                for node_id, kept in sinks.items()
                for seq, record in zip(kept.seqs[-limit:], kept.records[-limit:], strict=True)
            ],
        }

    @router.post(
        "/replay",
        status_code=202,
        dependencies=operator,
        responses=documented(400, 404, 409, 429),
    )
    def replay(execution_id: str, body: Replay | None = None) -> dict[str, Any]:
        """Offer records again where they failed, all or none; those replayed leave the sink."""
        ex = execution(execution_id)
        asked = body if body is not None else Replay()
        with lock_of(ex):
            if ex.done:
                raise Problem(
                    409,
                    "execution_ended",
                    f"execution {ex.id} has ended ({ex.state.value}); its dead letters can "
                    "be read but no longer replayed",
                )
            sinks = ex.dead_letters()
            sink = _sink(ex, sinks, asked.sink)
            seqs, records = _chosen(ex, sink, sinks[sink], asked.seqs)
            replayed = _replay(ex, records)
            with contextlib.suppress(GraphError):  # (the sink, and what it kept, went meanwhile)
                ex.remove_dead_letters(sink, seqs)
            remaining = len(ex.dead_letters().get(sink, ()))
        return {"executionId": ex.id, "replayed": replayed, "remaining": remaining}

    return router


def _shown(sink: str, seq: int, record: ErrorRecord) -> dict[str, Any]:
    """Return one record as the API shows it; a payload past ``VALUE_CHARS`` is cut, marked."""
    payload, cut = event_value(record.payload)
    headers, headers_cut = event_value(dict(record.headers))
    return {
        "sink": sink,
        "seq": seq,
        "nodeId": record.node_id,
        "port": record.port,
        "errorType": record.error_type,
        "error": record.error,
        "attempts": record.attempts,
        "payload": payload,
        "headers": headers,
        "truncated": cut or headers_cut,
    }


def _sink(ex: Execution, sinks: dict[str, KeptLetters], asked: str | None) -> str:
    """Return the sink a replay names, or the execution's only one; ``Problem`` 400 if none."""
    names = ", ".join(sorted(sinks)) or "none"
    if asked is not None:
        if asked not in sinks:
            raise Problem(
                400,
                "invalid_replay",
                f"sink: {asked!r} is not a dead-letter sink of execution {ex.id}; its sinks: "
                f"{names}",
            )
        return asked
    if len(sinks) == 1:
        return next(iter(sinks))
    if not sinks:
        raise Problem(
            400,
            "invalid_replay",
            f"execution {ex.id} has no dead-letter sink; link a node's error port to an "
            "arachne.core.dead-letters node",
        )
    raise Problem(
        400,
        "invalid_replay",
        f"sink: execution {ex.id} has {len(sinks)} dead-letter sinks ({names}); name one",
    )


def _chosen(
    ex: Execution, sink: str, kept: KeptLetters, asked: list[int] | None
) -> tuple[list[int], list[ErrorRecord]]:
    """Return the numbers and records to replay, in arrival order; ``Problem`` 400 if unknown.

    Without ``asked``: every record the sink keeps but those of failed ticks (they have no
    input to go back to), which stay.
    """
    pairs = zip(kept.seqs, kept.records, strict=True)
    if asked is None:
        chosen = [(seq, record) for seq, record in pairs if record.port is not None]
    else:
        wanted = set(asked)
        known = {seq: record for seq, record in pairs if seq in wanted}
        missing = sorted(wanted - known.keys())
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
            raise Problem(
                400,
                "invalid_replay",
                f"seqs: sink {sink!r} keeps no record {shown} (replayed, or dropped past its "
                f"limit); GET /api/executions/{ex.id}/dead-letters lists the ones it keeps",
            )
        ticks = [seq for seq, record in known.items() if record.port is None]
        if ticks:
            raise Problem(
                400,
                "invalid_replay",
                f"seqs: record {ticks[0]} of sink {sink!r} is of a failed tick (it has no "
                "input port to go back to) and cannot be replayed; leave it out",
            )
        chosen = list(known.items())
    return [seq for seq, _ in chosen], [record for _, record in chosen]


def _replay(ex: Execution, records: list[ErrorRecord]) -> int:
    """Replay ``records`` without waiting for room; map a refusal to its ``Problem``."""
    kept = "every record is kept"
    try:
        return ex.replay(records, timeout=0)
    except EdgeFull as exc:  # (before ExecutionError, its base)
        raise Problem(
            429,
            "queue_full",
            f"{exc}; {kept}, though some may have been queued before the input filled: look "
            "at what arrived before replaying again",
        ) from None
    except TimeoutError as exc:
        raise Problem(
            429, "queue_full", f"{exc}; {kept}: replay again once the input has drained"
        ) from None
    except ExecutionError as exc:
        if ex.done:
            raise Problem(
                409, "execution_ended", f"{exc.__cause__ or exc}; nothing was replayed"
            ) from None
        raise Problem(
            409, "replay_refused", f"{exc.__cause__ or exc}; nothing was replayed, {kept}"
        ) from None
    except (GraphError, ValueError) as exc:
        raise Problem(
            400,
            "invalid_replay",
            f"a record cannot be replayed, so none was and {kept}: {exc.__cause__ or exc}; "
            "fix that (a node's config, the graph) and replay again",
        ) from None
