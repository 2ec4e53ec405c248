"""A key range moved across processes or actors with its first controller crashed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

import pytest

from arachne.distributed.moves import STEPS, MoveInterrupted, OwnershipMove
from arachne.distributed.partition_map import GroupRange
from arachne.durable.route_journal import RouteJournal
from arachne.durable.sqlite import SqliteStore


class Movable(Protocol):
    def move(
        self, node: str, span: GroupRange, to: str, *, journal: RouteJournal, crash: Any = None
    ) -> OwnershipMove: ...


def move_past_a_crashed_controller(
    cluster: Movable, store: SqliteStore, span: GroupRange
) -> OwnershipMove:
    """Move ``span`` of ``totals`` to ``b``: the first controller dies after loading ``b``,
    a second one reading the journal finishes; return the second."""
    journal = RouteJournal(store, "totals")
    first = cluster.move("totals", span, "b", journal=journal, crash=("loaded", "action"))
    with pytest.raises(MoveInterrupted):
        asyncio.run(first.run())
    second = cluster.move("totals", span, "b", journal=journal)
    pmap = asyncio.run(second.run())
    assert (span, "b") in pmap.ranges
    return second


def check_moved(
    out: Path, reference: Path, move: OwnershipMove, reports: dict[str, dict[str, Any]]
) -> None:
    """Every total equals one process's; the audit has each step; b took part of the stream."""
    assert sorted(out.read_text().splitlines()) == sorted(reference.read_text().splitlines())
    assert [e.step for e in move.audit.entries] == list(STEPS)
    assert reports["b"]["nodes"]["totals~b"] > 0
    assert "after the 0 items" not in move.audit.entries[0].detail  # (a had had items)
