"""The event log of a running execution: its events, and what its recorded edges hand out.

Every event the execution publishes goes to the log as its kind and fields, but for the kinds
that can come with every message (drops, merges, refusals, backpressure spells, late ticks):
those are counted in the stats, and logging them would cost the run a good part of its speed.
Each recorded edge (``Runtime(record=[...])``, ``arachne run --record EDGE``) logs every message its
consumer takes, in order, numbered from 1 on that edge; what a consumer gives back untaken is
taken off again, so each message is logged once. A recorded edge is never fused. Entries
wait in memory and go to the store in one transaction between turns: before each checkpoint
commits (which saves how many messages of each recorded edge its barrier had passed, so a
resumed run cuts the log back to them), when many wait, and when the run ends.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any, Final, Protocol

from arachne.model.errors import ExecutionError, describe
from arachne.model.message import Message
from arachne.runtime.events import (
    EVENT_KINDS,
    BackpressureBegan,
    BackpressureEnded,
    MessageCoalesced,
    MessageDropped,
    MessageRejected,
    TickOverran,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from arachne.runtime.events import Event, Subscription
    from arachne.runtime.run_context import RunContext
    from arachne.runtime.wiring import Wiring

__all__ = ["LOGGED", "PER_MESSAGE", "LogTarget", "Recording"]

PER_MESSAGE: Final = frozenset(
    {
        BackpressureBegan,
        BackpressureEnded,
        MessageCoalesced,
        MessageDropped,
        MessageRejected,
        TickOverran,
    }
)
"""Event kinds that may come with every message: counted in the stats, not logged."""

log = logging.getLogger("arachne.runtime")

LOGGED: Final = tuple(kind for kind in EVENT_KINDS if kind not in PER_MESSAGE)
"""The kinds of event the log keeps: all but those that may come with every message."""

FLUSH_AT: Final = 50_000
"""Entries waiting in memory past which they go to the store at the next take."""

Entry = tuple[str, str, "int | None", str]
"""``(kind, name, n, body)``: an event (kind, fields) or a message (edge, number, payload)."""


class LogTarget(Protocol):
    """Where an execution's event log goes (``arachne.durable.Run``)."""

    def append_log(self, entries: Sequence[Entry]) -> None:
        """Append entries, in order, in one transaction."""
        ...

    def cut_log(self, edges: Iterable[str], counts: Mapping[str, int]) -> None:
        """Keep the first ``counts[edge]`` logged messages of each of ``edges`` (none if absent)."""
        ...


class Recording:
    """Logs one execution's events and the messages of ``edges`` into ``target``."""

    __slots__ = ("_subscription", "ctx", "edges", "pending", "target", "wiring")

    def __init__(
        self, ctx: RunContext, wiring: Wiring, target: LogTarget, edges: Iterable[str] = ()
    ) -> None:
        self.ctx = ctx
        self.wiring = wiring
        self.target = target
        self.edges = list(dict.fromkeys(edges))
        for edge_id in self.edges:
            edge = wiring.edges.get(edge_id)
            if edge is None or edge.kind != "link":
                known = ", ".join(e.id for e in wiring.edges.values() if e.kind == "link")
                raise ValueError(
                    f"cannot record edge {edge_id!r}: the graph has no such link; its links: "
                    f"{known or 'none'}"
                )
        self.pending: list[Entry] = []
        self._subscription: Subscription | None = None

    def start(self, counts: Mapping[str, int]) -> None:
        """Begin logging: recorded edges cut back to ``counts`` (a checkpoint's), then taps on."""
        self.target.cut_log(self.edges, counts)
        for edge_id in self.edges:
            edge = self.wiring.edges[edge_id]
            edge.recorder = _EdgeLog(self, edge_id, counts.get(edge_id, 0))
        self._subscription = self.ctx.bus.subscribe(
            self._event, *LOGGED, execution_id=self.ctx.execution_id
        )

    def counts(self) -> dict[str, int]:
        """Return how many messages each recorded edge has logged (taken, not given back)."""
        counts = {}
        for edge_id in self.edges:
            edge = self.wiring.edges.get(edge_id)
            if edge is not None and isinstance(edge.recorder, _EdgeLog):
                counts[edge_id] = edge.recorder.count
        return counts

    def _event(self, event: Event) -> None:
        fields = {
            f.name: getattr(event, f.name)
            for f in dataclasses.fields(event)
            if f.name not in ("execution_id", "ts_ns")
        }
        body = json.dumps(fields, default=_plain, separators=(",", ":"))
        self.pending.append(("event", type(event).__name__, None, body))

    def flush(self) -> None:
        """Send what waits to the store (one transaction)."""
        if not self.pending:
            return
        entries, self.pending = self.pending, []
        self.target.append_log(entries)

    def close(self) -> None:
        """Stop logging and send what waits (a failure to write is logged, not raised)."""
        if self._subscription is not None:
            self._subscription.unsubscribe()
            self._subscription = None
        for edge_id in self.edges:
            edge = self.wiring.edges.get(edge_id)
            if edge is not None:
                edge.recorder = None
        try:
            self.flush()
        except Exception as exc:
            log.warning(
                "execution %s: its event log could not be written: %s",
                self.ctx.execution_id,
                describe(exc),
            )


class _EdgeLog:
    """The recorder of one edge: numbers and encodes each message its consumer takes."""

    __slots__ = ("count", "edge_id", "recording")

    def __init__(self, recording: Recording, edge_id: str, count: int) -> None:
        self.recording = recording
        self.edge_id = edge_id
        self.count = count

    def took(self, items: list[Any]) -> None:
        recording = self.recording
        if len(recording.pending) >= FLUSH_AT:
            recording.flush()  # (before this take: a give-back takes off only its own)
        pending = recording.pending
        edge_id, n = self.edge_id, self.count
        for item in items:
            payload = item.payload if type(item) is Message else item
            try:
                body = json.dumps(payload, allow_nan=False, separators=(",", ":"))
            except (TypeError, ValueError) as exc:
                recording.ctx.fail_soon(
                    ExecutionError(
                        f"edge {edge_id!r} is recorded, but a message on it has no JSON form "
                        f"({describe(exc)}); record edges that carry JSON data"
                    )
                )
                body = "null"
            n += 1
            pending.append(("message", edge_id, n, body))
        self.count = n

    def gave_back(self, count: int) -> None:
        # The newest ``count`` of this edge's messages (events may have come in between).
        pending, edge_id, left = self.recording.pending, self.edge_id, count
        index = len(pending) - 1
        while left and index >= 0:
            kind, name, _, _ = pending[index]
            if kind == "message" and name == edge_id:
                del pending[index]
                left -= 1
            index -= 1
        self.count -= count


def _plain(value: object) -> object:
    """Return a JSON form of an event field that has none of its own."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
