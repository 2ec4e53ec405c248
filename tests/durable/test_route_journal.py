"""RouteJournal: route steps kept in the store, in order, across a reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from arachne.durable import SqliteStore
from arachne.durable.route_journal import RouteJournal


def test_steps_come_back_in_order_after_the_store_is_opened_again(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "routes.db") as store:
        journal = RouteJournal(store, "totals", clock=lambda: 5.0)
        first = journal.append("moving", 0, 16, 1, "range [0, 16) moving", '{"at": 3}')
        journal.append("drained", 0, 16, 1, "a has handled 3 items")
        RouteJournal(store, "other").append("moving", 16, 32, 1, "another node's")
    assert first.seq == 1
    with SqliteStore(tmp_path / "routes.db") as store:
        entries = RouteJournal(store, "totals").entries()
    assert [(e.seq, e.step, e.start, e.stop, e.epoch) for e in entries] == [
        (1, "moving", 0, 16, 1),
        (2, "drained", 0, 16, 1),
    ]
    assert entries[0].data == '{"at": 3}'
    assert entries[1].data is None
    assert entries[0].at == 5.0


def test_a_journal_needs_a_name(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "routes.db") as store, pytest.raises(ValueError, match="name"):
        RouteJournal(store, "")
