"""A store under simulation: a commit whose fsync was lost is gone after a power loss."""

from __future__ import annotations

from pathlib import Path

from arachne.durable import SqliteStore
from arachne.runtime.simulation import simulating
from arachne.sim import Oracle, SimLoop


def names(store: SqliteStore) -> list[str]:
    with store.transaction() as db:
        return [row[0] for row in db.execute("SELECT name FROM runs ORDER BY name")]


def add(store: SqliteStore, name: str) -> None:
    with store.transaction() as db:
        db.execute("INSERT INTO runs (name, state, started_at) VALUES (?, 'running', 0)", (name,))


def oracle(lost: float) -> Oracle:
    loop = SimLoop()
    loop.close()  # (no run here: the oracle only decides the store's fault points)
    return Oracle(0, loop, faults={"durable.lost-fsync": lost})


def test_a_power_loss_takes_back_the_commits_since_a_lost_fsync(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        add(store, "synced")  # (before the simulation: durable)
        lossy = oracle(1.0)
        with simulating(lossy):
            add(store, "a")
            add(store, "b")
            assert names(store) == ["a", "b", "synced"]  # (the process sees its commits)
        assert lossy.coverage.fired["durable.lost-fsync"] == 2  # (the writes: a read syncs nothing)
        lossy.lose_power()
        assert names(store) == ["synced"]
        add(store, "after")  # (the store goes on from what the disk held)
        assert names(store) == ["after", "synced"]


def test_a_later_commit_that_syncs_makes_the_earlier_ones_durable(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        lossy = oracle(1.0)
        with simulating(lossy):
            add(store, "a")
        lossy.rates = {}  # (from here on, every fsync reaches the disk)
        with simulating(lossy):
            add(store, "b")
        lossy.lose_power()
        assert names(store) == ["a", "b"]


def test_closing_a_store_syncs_it(tmp_path: Path) -> None:
    lossy = oracle(1.0)
    with SqliteStore(tmp_path / "s.db") as store, simulating(lossy):
        add(store, "a")
    lossy.lose_power()  # (the store was closed first: nothing to take back)
    with SqliteStore(tmp_path / "s.db") as store:
        assert names(store) == ["a"]


def test_without_a_simulation_commits_are_durable_at_once(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        add(store, "a")
    with SqliteStore(tmp_path / "s.db", read_only=True) as store:
        assert names(store) == ["a"]


def test_a_read_after_a_lost_fsync_does_not_make_it_durable(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        lossy = oracle(1.0)
        with simulating(lossy):
            add(store, "a")
        lossy.rates = {}
        with simulating(lossy):
            assert names(store) == ["a"]  # (a commit that wrote nothing)
        lossy.lose_power()
        assert names(store) == []


def test_a_later_simulation_s_power_loss_takes_back_what_an_earlier_one_left_unsynced(
    tmp_path: Path,
) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        add(store, "synced")
        first, second = oracle(1.0), oracle(1.0)
        with simulating(first):
            add(store, "a")  # (and that run ends without a kill: still unsynced)
        with simulating(second):
            add(store, "b")
        second.lose_power()
        assert names(store) == ["synced"]
