"""Replay: run a graph again on the messages its recorded edges carried, to reproduce a run.

``replay_into(execution, log)`` changes an execution that has not started: each edge the log
recorded is fed by a source of its logged messages (the same edge id, capacity and policy)
instead of by its producer, and every node that then feeds nothing (the producers, and what
fed only them) is taken out. The rest of the graph runs as it did, so what it computes from
those messages comes out again: a failure seen in production can be reproduced at a desk.
Each edge gets its messages in their order; how messages of several recorded edges
interleave is the scheduler's, as in any run, so record the edges into a node whose output
must not depend on that (a fan-in's inputs, or one edge above it). Every replayed message
carries the ``replayed`` taint (docs/query-plane.md, "Taints"), and so does what is made
from it, unless a node repairs it (``arachne.core.dedupe`` does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from arachne.model.sources import IterSource

if TYPE_CHECKING:
    from arachne.durable.event_log import EventLog
    from arachne.runtime.execution import Execution

__all__ = ["REPLAY_PREFIX", "ReplaySource", "replay_into"]

REPLAY_PREFIX = "replay-"
"""The ids of the sources a replay adds: ``replay-1``, ``replay-2``, ... in recording order."""


class ReplaySource(IterSource):
    """A recorded edge's messages, fed again: each carries the ``replayed`` taint."""

    introduces: ClassVar[frozenset[str]] = frozenset({"replayed"})


def replay_into(execution: Execution, log: EventLog) -> dict[str, int]:
    """Feed ``execution`` its run's recorded messages; return how many per edge.

    ``ValueError`` if the log recorded no edge, or one the graph does not have;
    ``ReplayGap`` if the log's retention pruned the first messages of an edge.
    """
    if execution.launched:
        raise ValueError("replay_into needs an execution that has not started")
    recorded = log.recorded_edges()
    if not recorded:
        raise ValueError(
            f"run {log.run!r} recorded no edge, so there is nothing to replay; record the "
            "edges that carry its input (Runtime(record=[...]), arachne run --record EDGE)"
        )
    graph = execution.graph
    missing = [edge for edge in recorded if edge not in graph.links]
    if missing:
        raise ValueError(
            f"the graph has no link {', '.join(map(repr, missing))} that run {log.run!r} "
            "recorded; replay it with the graph it ran"
        )
    values = {edge: log.messages(edge) for edge in recorded}
    feeding = {link.source.node for link in graph.links.values()}
    for index, edge in enumerate(recorded, start=1):
        link = execution.graph.links[edge]
        execution.disconnect(edge)
        source = f"{REPLAY_PREFIX}{index}"
        execution.add_node(ReplaySource(values[edge], name=source), node_id=source)
        execution.connect(
            (source, "out"),
            (link.target.node, link.target.port),
            edge_id=edge,
            capacity=link.capacity,
            overflow=link.overflow,
            priority=link.priority,
            control=link.control,
        )
    _drop_unneeded(execution, feeding)
    return {edge: len(messages) for edge, messages in values.items()}


def _drop_unneeded(execution: Execution, feeding: set[str]) -> None:
    """Take out every node that fed something before and feeds nothing now (and its links)."""
    while True:
        graph = execution.graph
        still = {link.source.node for link in graph.links.values()}
        idle = [node for node in graph.nodes if node in feeding and node not in still]
        if not idle:
            return
        for node in idle:
            for link in list(execution.graph.links.values()):
                if link.target.node == node:
                    execution.disconnect(link.id)
            execution.remove_node(node)
