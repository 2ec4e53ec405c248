"""Checkpoints of a running execution: barriers from the sources, aligned at fan-in, saved whole.

Every ``every`` seconds (on the execution's clock) a checkpoint begins: each source, between
two of its turns, saves its position and puts a barrier on each of its output edges, after
the last message it sent. A barrier travels in order with the messages (an edge hands out
nothing past it, see ``Edge.take``). A node whose every input edge has handed it all it held
before the barrier, and which has no call in flight, is aligned: its state is saved
(``Node.snapshot``), the barriers on its inputs are lifted and new ones go after the newest
message on each of its outputs. An input whose barrier came early waits meanwhile, so nothing
after the barrier reaches the node before its state is saved (Flink's aligned checkpoints). A
fused chain runs its stages within its producer's turn, so they align the moment their
producer passes: their edges are empty. Once every node has passed, the saved parts go to
the store in one transaction, and each node hears ``on_checkpoint``.

One checkpoint is in flight at a time. A node that has finished passes at once (its state is
final, and saved as finished: a resumed run starts it finished, with no ``on_finish``); one
that finishes while a barrier is on its way to it has taken all its input, so the barrier
passes it as it begins to finish (``on_finish`` then emits after the barrier). A commit of a
graph change gives up the checkpoint in flight and starts another at once: the changed graph
is saved whole. (A running graph has no cycle, which a barrier would wait on for ever: the wiring
refuses one.)
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any, Final, Protocol

from arachne.model.errors import ExecutionError, describe
from arachne.model.manifest import Manifest, manifest_of
from arachne.runtime.events import CheckpointAborted, CheckpointCommitted

if TYPE_CHECKING:
    from collections.abc import Mapping

    from arachne.model.graph import Graph
    from arachne.model.policies import Delivery
    from arachne.runtime.edge import Edge
    from arachne.runtime.recording import Recording
    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import RunningNode
    from arachne.runtime.wiring import Wiring

__all__ = [
    "STUCK_AFTER",
    "CheckpointTarget",
    "Checkpointer",
    "RunStore",
    "check_every",
    "checksum_or_none",
    "weakest",
]

STUCK_AFTER: Final = 10
"""Intervals a checkpoint may stay in flight before it is given up (and the barriers lifted)."""

log = logging.getLogger("arachne.runtime")


class CheckpointTarget(Protocol):
    """Where one run's checkpoints go (``arachne.durable`` gives one in a SQLite file)."""

    def latest(self) -> tuple[int, Mapping[str, Mapping[str, Any]]] | None:
        """Return the newest committed checkpoint: its number and parts by kind and node id."""
        ...

    def write(self, parts: Mapping[str, Mapping[str, str]]) -> int:
        """Commit a checkpoint of ``parts`` (JSON texts by kind and node id); its number."""
        ...

    def ended(self, state: str) -> None:
        """Record that the run ended in ``state`` (``completed``: nothing left to resume)."""
        ...


class RunStore(Protocol):
    """A store that keeps the checkpoints of named runs (``Runtime(store=...)``)."""

    def open_run(
        self,
        name: str,
        *,
        checksum: str | None,
        fresh: bool = False,
        manifest: Manifest | None = None,
        upgrade: bool = False,
    ) -> CheckpointTarget:
        """Return the checkpoints of the run ``name`` (resumed unless ended, or ``fresh``).

        ``manifest`` describes the graph; ``upgrade`` resumes a run begun with another graph
        if its saved state can follow the diff of their manifests.
        """
        ...


def checksum_or_none(graph: Graph) -> str | None:
    """Return the graph's checksum, or ``None`` if a config has no JSON form (a function)."""
    try:
        return graph.checksum()
    except (TypeError, ValueError):
        return None


def check_every(every: object) -> float:
    """Return ``every`` (seconds between checkpoints) or raise ``ValueError`` naming the fix."""
    if isinstance(every, bool) or not isinstance(every, int | float) or not every > 0:
        raise ValueError(
            f"checkpoint_every must be a number of seconds > 0, got {every!r}; 1.0 is a good start"
        )
    return float(every)


def weakest(deliveries: list[Delivery]) -> Delivery:
    """Return the weakest of ``deliveries`` (``exactly-once`` if there are none)."""
    for level in ("at-most-once", "at-least-once"):
        if level in deliveries:
            return level
    return "exactly-once"


class Checkpointer:
    """Takes one execution's checkpoints into ``target``, one every ``every`` seconds."""

    __slots__ = (
        "_arrived",
        "_began",
        "_changed",
        "_outgoing",
        "_parts",
        "_waiting",
        "closed",
        "ctx",
        "every",
        "in_flight",
        "last",
        "recorded",
        "recording",
        "restored",
        "target",
        "wiring",
        "written",
    )

    def __init__(
        self, ctx: RunContext, wiring: Wiring, target: CheckpointTarget, *, every: float = 1.0
    ) -> None:
        self.ctx = ctx
        self.wiring = wiring
        self.target = target
        self.every = check_every(every)
        self.closed = False  # no more checkpoints this run
        self.in_flight = False
        self.last = 0  # number of the newest checkpoint committed (or restored)
        self.restored: int | None = None  # the checkpoint the run resumed from, if any
        self.written = 0  # bytes of state written, all checkpoints
        self.recorded: dict[str, int] = {}  # messages logged per recorded edge, at the restore
        self.recording: Recording | None = None  # the event log, flushed before each commit
        self._began = 0.0
        # The graph's checksum and manifest (JSON texts) after a live change.
        self._changed: tuple[str, str] | None = None
        self._waiting = 0  # nodes the barrier has not passed yet
        self._arrived: dict[str, int] = {}  # node id -> input links carrying the barrier
        self._outgoing: dict[str, list[Edge]] = {}
        self._parts: dict[str, dict[str, str]] = {}

    # -- before the run ------------------------------------------------------------------------

    def restore(self) -> list[str]:
        """Give every node its saved state from the newest checkpoint (before any ``on_start``).

        Returns the ids of the nodes that had finished: the execution starts them finished. A
        node the checkpoint does not name starts afresh.
        """
        latest = self.target.latest()
        if latest is None:
            return []
        number, parts = latest
        saved: dict[str, Any] = {}
        for kind, by_node in parts.items():
            if kind not in ("finished", "recorded", "graph"):
                saved.update(by_node)
        self.recorded = {edge: int(count) for edge, count in parts.get("recorded", {}).items()}
        for node_id, rn in self.wiring.nodes.items():
            if node_id in saved:
                try:
                    rn.node.restore(saved[node_id])
                except Exception as exc:
                    raise ExecutionError(
                        f"node {node_id!r} could not take back its checkpointed state: "
                        f"{describe(exc)}; start afresh (a new store, or --fresh)"
                    ) from exc
        self.restored = self.last = number
        return [node_id for node_id in parts.get("finished", {}) if node_id in self.wiring.nodes]

    def start(self) -> None:
        """Take checkpoint zero now (a fresh run), then arm the next ``every`` seconds on.

        Checkpoint zero holds where every node starts (a sink appending to a file, its
        length): a run killed before its first timed checkpoint resumes from there.
        """
        if self.restored is None:
            self.begin()
        self._arm()

    def _arm(self) -> None:
        self.ctx.timers.add(self.ctx.clock.now() + self.every, self._due)

    def _due(self) -> None:
        if self.closed:
            return
        if not self.in_flight:
            self.begin()
        else:
            # A node whose turn ended where no hook told us (a timed tick, a retry) is looked
            # at again; one that still holds the barrier past STUCK_AFTER intervals gives the
            # checkpoint up, so a barrier can never hold part of the graph for ever.
            self._advance([rn for rn in self.wiring.nodes.values() if rn.aligning])
            if self.in_flight and time.perf_counter() - self._began > STUCK_AFTER * self.every:
                held = [rn.id for rn in self.wiring.nodes.values() if rn.aligning]
                self.abort(
                    f"the barrier did not pass {', '.join(held[:5])}"
                    + (f" and {len(held) - 5} more" if len(held) > 5 else "")
                    + f" within {STUCK_AFTER} intervals"
                )
        self._arm()

    # -- a checkpoint in flight --------------------------------------------------------------

    def begin(self) -> None:
        """Start a checkpoint now: every source saves its position and sends a barrier on."""
        if self.closed or self.in_flight:
            return
        nodes = self.wiring.nodes
        self.in_flight = True
        self._began = time.perf_counter()
        self._parts = {}
        self._waiting = len(nodes)
        self._arrived = dict.fromkeys(nodes, 0)
        outgoing: dict[str, list[Edge]] = {node_id: [] for node_id in nodes}
        for edge in self.wiring.edges.values():
            if edge.kind == "link":
                outgoing[edge.source.id].append(edge)
        self._outgoing = outgoing
        for rn in nodes.values():
            rn.aligning = True
        self._advance([rn for rn in nodes.values() if not rn.links_in or rn.finished])

    def turn_ended(self, rn: RunningNode) -> None:
        """Let the barrier pass ``rn`` if it is aligned now (after a turn or call of it)."""
        if self.in_flight and rn.aligning:
            self._advance([rn])

    def _advance(self, work: list[RunningNode]) -> None:
        arrived = self._arrived
        while work and self.in_flight:
            rn = work.pop()
            if not rn.aligning:
                continue
            if not rn.finished and (
                rn.busy
                or arrived.get(rn.id, 0) < rn.links_in
                or not all(edge.barrier_reached for edge in rn.inputs)
            ):
                continue
            if not self._pass(rn, work):
                return
        if self.in_flight and self._waiting == 0:
            self._commit()

    def _pass(self, rn: RunningNode, work: list[RunningNode]) -> bool:
        """Save ``rn``'s state, lift the barriers on its inputs, send them on its outputs."""
        rn.aligning = False
        self._waiting -= 1
        try:
            state = rn.node.snapshot()
            text = None if state is None else _json_text(state)
        except Exception as exc:
            self.abort(f"node {rn.id!r} could not save its state: {describe(exc)}")
            self.closed = True
            self.ctx.fail_soon(
                ExecutionError(
                    f"node {rn.id!r}: checkpointing saves its state (context.state, or what "
                    f"its snapshot() returns) as JSON data, but {describe(exc)}; keep numbers, "
                    "strings, lists and dicts with string keys (a list for a set or a tuple)"
                )
            )
            return False
        if text is not None:
            kind = "position" if not rn.links_in else "sink" if _is_sink(rn) else "state"
            self._parts.setdefault(kind, {})[rn.id] = text
        if rn.finished:
            self._parts.setdefault("finished", {})[rn.id] = "true"
        for edge in rn.inputs:
            edge.barrier_at = -1
            recorder = edge.recorder
            if recorder is not None:
                self._parts.setdefault("recorded", {})[edge.id] = str(recorder.count)
        arrived = self._arrived
        for edge in self._outgoing.get(rn.id, ()):
            edge.set_barrier()
            target = edge.target
            arrived[target.id] = arrived.get(target.id, 0) + 1
            work.append(target)
        self._wake(rn)
        return True

    def _wake(self, rn: RunningNode) -> None:
        """Queue ``rn`` if its inputs hold what it may take now (a barrier held them)."""
        if (
            rn.started
            and not (rn.finished or rn.blocked or rn.held)
            and (rn.inline or rn.pending < rn.concurrency)
            and rn.has_input()
        ):
            self.ctx.ready.add(rn, rn.top_rank())

    def _commit(self) -> None:
        self.in_flight = False
        parts = self._parts
        self._parts = {}
        if self._changed is not None:  # the first checkpoint of a graph changed live
            parts["graph"] = {"checksum": self._changed[0], "manifest": self._changed[1]}
        try:
            if self.recording is not None:
                self.recording.flush()  # the messages the checkpoint counts are in the log
            number = self.target.write(parts)
        except Exception as exc:
            self.closed = True
            self.ctx.fail_soon(
                ExecutionError(f"checkpoint could not be written to the store: {describe(exc)}")
            )
            return
        self.last = number
        self._changed = None
        size = sum(len(text) for by_node in parts.values() for text in by_node.values())
        self.written += size
        ctx = self.ctx
        if CheckpointCommitted in ctx.bus.wanted:
            ctx.bus.publish(
                CheckpointCommitted(
                    execution_id=ctx.execution_id,
                    checkpoint=number,
                    seconds=time.perf_counter() - self._began,
                    size=size,
                )
            )
        for rn in list(self.wiring.nodes.values()):
            try:
                rn.node.on_checkpoint(number)
            except Exception as exc:
                log.warning(
                    "execution %s: node %s: on_checkpoint(%d) raised %s",
                    ctx.execution_id,
                    rn.id,
                    number,
                    describe(exc),
                )

    def abort(self, reason: str) -> None:
        """Give up the checkpoint in flight (if any): lift every barrier, let the nodes on."""
        if not self.in_flight:
            return
        self.in_flight = False
        self._parts = {}
        ctx = self.ctx
        for edge in self.wiring.edges.values():
            edge.barrier_at = -1
        for rn in self.wiring.nodes.values():
            rn.aligning = False
            self._wake(rn)
        if CheckpointAborted in ctx.bus.wanted:
            ctx.bus.publish(CheckpointAborted(execution_id=ctx.execution_id, reason=reason))

    def node_finishing(self, rn: RunningNode) -> None:
        """Let the barrier pass ``rn`` before its ``on_finish``: it has taken all its input."""
        if self.in_flight and rn.aligning:
            self._advance_forced(rn)

    def node_finished(self, rn: RunningNode) -> None:
        """Let the barrier pass ``rn`` now that its ``on_finish`` is done and outputs closed."""
        if self.in_flight and rn.aligning:
            self._advance([rn])

    def _advance_forced(self, rn: RunningNode) -> None:
        work: list[RunningNode] = []
        if self._pass(rn, work):
            self._advance(work)

    def graph_changed(self) -> None:
        """Start over with a checkpoint of the graph a commit just changed.

        Its first checkpoint carries the changed graph's checksum: the run resumes with that
        graph from then on, and is refused with the one it started with.
        """
        graph = self.wiring.running_graph()
        instances = {node_id: rn.node for node_id, rn in self.wiring.nodes.items()}
        self._changed = (
            json.dumps(checksum_or_none(graph)),
            json.dumps(manifest_of(graph, instances=instances).canonical().decode()),
        )
        self.abort("the graph changed")
        self.begin()

    def ended(self, state: str) -> None:
        """Record the end of the run in the target."""
        try:
            self.target.ended(state)
        except Exception as exc:
            log.warning(
                "execution %s: could not record its end in the store: %s",
                self.ctx.execution_id,
                describe(exc),
            )


def _json_text(state: Any) -> str:
    """Return ``state`` as JSON text; ``ValueError`` if it would not come back the same."""
    text = json.dumps(state, allow_nan=False, separators=(",", ":"))
    if json.loads(text) != state:
        raise ValueError(
            "it would not come back the same from JSON (dict keys that are not strings turn "
            "into strings, tuples into lists)"
        )
    return text


def _is_sink(rn: RunningNode) -> bool:
    return not any(outlets for port, outlets in rn.outputs.items() if port != "error")
