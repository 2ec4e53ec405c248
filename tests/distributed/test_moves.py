"""The ownership move of a key-group range between two replicas, with its controller crashed.

``source -> totals (sharded over a and b by key) -> ledger`` runs over four hosts on a faulty
in-memory network, in virtual time. Part way, a range of ``a``'s key groups moves to ``b``;
the move's controller is crashed right after one of its steps' actions, or right after the
step's journal entry, and a new controller made with the same journal (in a SQLite store)
finishes it. The ledger (an idempotent table by item number) must equal the single-process
run: a lost item leaves a number out, and an item handled twice, or by a replica without the
key's state, makes every later total of its key wrong.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from arachne.distributed.channels import LinkOptions
from arachne.distributed.cluster import MemoryCluster
from arachne.distributed.memory import MemoryNetwork, NetworkFaults
from arachne.distributed.moves import STEPS, MoveInterrupted
from arachne.distributed.partition_map import GroupRange
from arachne.distributed.placement import KEY_GROUPS, key_group
from arachne.durable import SqliteStore
from arachne.durable.route_journal import RouteJournal
from arachne.sim import SimClock, SimLoop
from tests.distributed.pipelines import KEYS, ledger_graph, single_ledger, trades

PLACEMENT: dict[str, list[str]] = {"src": ["source"], "a": [], "b": [], "out": ["ledger"]}
SHARDS = {"totals": {"key": 1, "owners": ["a", "b"]}}
CRASHES = [(step, where) for step in STEPS for where in ("action", "entry")]


def moving_range() -> GroupRange:
    """The key group of a key that ``a`` owns at first (``a`` holds groups 0 to 63)."""
    groups = sorted(key_group(key, KEY_GROUPS) for key in KEYS)
    return GroupRange(groups[0], groups[0] + 1)


def run_with_move(
    data: list[list[Any]],
    db: Path,
    seed: int,
    crash: tuple[str, str] | None,
    *,
    back_after: float | None = None,
) -> tuple[dict[int, list[Any]], MemoryCluster, list[str]]:
    """Run the cluster; move ``moving_range()`` to ``b`` part way; return what it left."""
    rng = random.Random(seed)
    table: dict[int, list[Any]] = {}
    loop = SimLoop()
    interrupted: list[str] = []
    try:
        faults = NetworkFaults(
            delay=(0.0005, 0.002), drop=rng.choice([0.0, 0.05]), duplicate=rng.choice([0.0, 0.05])
        )
        cluster = MemoryCluster(
            ledger_graph(data, table),
            PLACEMENT,
            network=MemoryNetwork(faults, seed=seed),
            options=LinkOptions(credits=2, frame_items=4, retransmit=0.01),
            clock=SimClock(loop),
            shards=SHARDS,
        )
        with SqliteStore(db) as store:
            journal = RouteJournal(store, "totals", clock=loop.time)

            async def mover() -> None:
                await asyncio.sleep(rng.uniform(0.0, 0.02))
                span = moving_range()
                try:
                    await cluster.move("totals", span, "b", journal=journal, crash=crash).run()
                except MoveInterrupted as exc:
                    interrupted.append(str(exc))
                    pause = rng.uniform(0.0, 0.01) if back_after is None else back_after
                    await asyncio.sleep(pause)  # (the next controller comes)
                    await cluster.move("totals", span, "b", journal=journal).run()

            async def both() -> None:
                await asyncio.gather(cluster.run(), mover())

            loop.run_until_complete(asyncio.wait_for(both(), 120.0))
            assert not loop.errors, loop.errors
    finally:
        loop.close()
    return table, cluster, interrupted


@pytest.mark.parametrize(("step", "where"), CRASHES)
def test_a_move_crashed_at_any_step_loses_and_doubles_nothing(
    step: str, where: str, tmp_path: Path
) -> None:
    for seed in range(3):
        data = trades(seed, 300)
        table, cluster, interrupted = run_with_move(
            data, tmp_path / f"{seed}.db", seed, (step, where)
        )
        assert interrupted, "the crash was not injected"
        assert table == single_ledger(data), f"seed {seed}"
        routes = cluster.query()["routes"]["totals"]
        assert [row["step"] for row in routes["audit"]] == list(STEPS)  # each once, in order
        span = moving_range()
        assert {"start": span.start, "stop": span.stop, "owner": "b", "epoch": 1} in routes["map"]
        moved = next(key for key in KEYS if key_group(key, KEY_GROUPS) in span)
        a, b = cluster.instances["a"]["totals~a"], cluster.instances["b"]["totals~b"]
        assert moved not in a.context.state  # (a forgot it; b holds its total)
        assert b.context.state[moved] == sum(v for _, k, v in data if k == moved)


def test_a_router_whose_input_ends_mid_move_waits_for_the_move_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """The controller dies holding the range; the source ends; a controller a second later
    finishes the move, and the router, waiting in its finish, sends on what it held."""
    data = trades(3, 120)
    table, cluster, interrupted = run_with_move(
        data, tmp_path / "run.db", 3, ("drained", "entry"), back_after=1.0
    )
    assert interrupted
    assert table == single_ledger(data)
    assert cluster.ended["src"] > 1.0  # (its router waited for the move)
    assert (
        "items that waited went to b" in cluster.query()["routes"]["totals"]["audit"][-1]["detail"]
    )


def test_a_move_without_crashes_is_explained_by_its_audit(tmp_path: Path) -> None:
    data = trades(7, 300)
    table, cluster, _ = run_with_move(data, tmp_path / "run.db", 7, None)
    assert table == single_ledger(data)
    audit = cluster.query()["routes"]["totals"]["audit"]
    details = {row["step"]: row["detail"] for row in audit}
    assert "moving from a to b under epoch 1" in details["moving"]
    assert "log position" in details["moving"]
    assert "keys of" in details["snapshot"]
    assert "is b's" in details["flipped"]
    with SqliteStore(tmp_path / "run.db") as store:  # (the journal keeps every step)
        assert [e.step for e in RouteJournal(store, "totals").entries()] == list(STEPS)


def test_a_range_across_owners_or_an_unknown_owner_is_refused(tmp_path: Path) -> None:
    cluster = MemoryCluster(ledger_graph(trades(0, 5), {}), PLACEMENT, shards=SHARDS)
    with pytest.raises(ValueError, match="no replica 'c'"):
        cluster.move("totals", GroupRange(0, 1), "c")
    with pytest.raises(ValueError, match="not sharded"):
        cluster.move("ledger", GroupRange(0, 1), "b")
    move = cluster.move("totals", GroupRange(60, 70), "b")
    with pytest.raises(ValueError, match="must lie in one owner's range"):
        asyncio.run(move.run())


def test_a_move_to_the_owner_it_has_or_after_the_input_ended_changes_nothing() -> None:
    """Refused before any step: no key is dropped, nothing is held, the audit stays empty."""
    data = trades(0, 50)
    table: dict[int, list[Any]] = {}
    cluster = MemoryCluster(ledger_graph(data, table), PLACEMENT, shards=SHARDS)
    span = moving_range()  # (a's)

    async def main() -> None:
        with pytest.raises(ValueError, match="is a's already"):
            await cluster.move("totals", span, "a").run()
        await cluster.run()  # (to its end: the router's input has ended)
        with pytest.raises(ValueError, match="has finished"):
            await cluster.move("totals", span, "b").run()

    asyncio.run(main())
    assert table == single_ledger(data)
    assert cluster.query()["routes"]["totals"]["audit"] == []
    assert cluster.instances["src"]["totals~router"].holding is None


def run_with_router_crash(
    data: list[list[Any]], tmp: Path, seed: int, when: str, delay: float
) -> tuple[dict[int, list[Any]], MemoryCluster]:
    """Checkpointed partitions; the router's partition crashes ``delay`` s after the router
    began holding (``when="hold"``) or took the flip (``"flip"``), and restarts 10 ms later."""
    table: dict[int, list[Any]] = {}
    loop = SimLoop()
    try:
        with SqliteStore(tmp / "run.db") as store, SqliteStore(tmp / "journal.db") as kept:
            cluster = MemoryCluster(
                lambda: ledger_graph(data, table, pause=0.0005),
                {**PLACEMENT, "src": ["source", "paced"]},
                network=MemoryNetwork(NetworkFaults(delay=(0.0005, 0.002)), seed=seed),
                options=LinkOptions(credits=2, frame_items=4, retransmit=0.01, heartbeat=0.2),
                clock=SimClock(loop),
                shards=SHARDS,
                store=store,
                checkpoint_every=0.05,
            )
            journal = RouteJournal(kept, "totals", clock=loop.time)

            def router() -> Any:
                return cluster.instances["src"]["totals~router"]

            async def mover() -> None:
                await asyncio.sleep(0.01)
                await cluster.move("totals", moving_range(), "b", journal=journal).run()

            async def crasher() -> None:
                seen = (
                    (lambda: router().holding is not None)
                    if when == "hold"
                    else (lambda: router().pmap.epoch >= 1)
                )
                while not seen():
                    await asyncio.sleep(0.0002)
                await asyncio.sleep(delay)
                cluster.crash("src")
                await asyncio.sleep(0.01)
                cluster.restart("src")

            async def all_of_it() -> None:
                await asyncio.gather(cluster.run(), mover(), crasher())

            loop.run_until_complete(asyncio.wait_for(all_of_it(), 120.0))
            assert not loop.errors, loop.errors
    finally:
        loop.close()
    return table, cluster


@pytest.mark.parametrize("when", ["hold", "flip"])
@pytest.mark.parametrize("delay", [0.001, 0.005, 0.02])
def test_a_router_restarted_mid_move_sends_the_new_owner_what_it_sent_before(
    tmp_path: Path, when: str, delay: float
) -> None:
    """The router's partition crashes while it holds the range, or just after the flip (before
    a checkpoint saved it), and resumes from its checkpoint: restored mid-move, the router
    routes nothing until the map is offered again, and takes the flip at the input position
    it took it first; the controller waits for a checkpoint begun after each step. The new
    owner is sent the same items in the same order: the ledger is one process's."""
    for seed in range(4):
        data = trades(seed, 1500)
        (tmp_path / str(seed)).mkdir()
        table, cluster = run_with_router_crash(data, tmp_path / str(seed), seed, when, delay)
        assert table == single_ledger(data), f"seed {seed}"
        routes = cluster.query()["routes"]["totals"]
        assert [row["step"] for row in routes["audit"]] == list(STEPS)
