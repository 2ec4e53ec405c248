"""A partition crashed at a random moment and restarted from its checkpoint, over many seeds.

Each seed runs ``source -> totals -> ledger`` over three hosts on a faulty in-memory network
(delays that reorder, drops, duplicates), every partition checkpointed into one SQLite file;
one partition crashes at a random virtual moment and comes back a little later as its next
incarnation. The ledger, an idempotent sink (a table keyed by the item's number), must end
equal to the single-process run: a lost item leaves a number out, and one handed twice to the
stateful ``totals`` makes every later total of its key wrong. ``ARACHNE_SIM_SEEDS=1000`` runs
the slow suite (100 seeds by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from pathlib import Path
from typing import Any

import pytest

from arachne.distributed.channels import LinkOptions
from arachne.distributed.cluster import MemoryCluster
from arachne.distributed.memory import MemoryNetwork, NetworkFaults
from arachne.durable import SqliteStore
from arachne.sim import SimClock, SimLoop
from tests.distributed.pipelines import ledger_graph, single_ledger, trades

SEEDS = range(int(os.environ.get("ARACHNE_SIM_SEEDS", "100")))
PLACEMENT = {"a": ["source"], "b": ["totals"], "c": ["ledger"]}


def run_cluster(
    data: list[list[Any]],
    db: Path,
    rng: random.Random,
    *,
    crash: tuple[str, float, float] | None = None,
    faults: NetworkFaults | None = None,
    placement: dict[str, list[str]] | None = None,
) -> tuple[dict[int, list[Any]], MemoryCluster, float]:
    """Run the pipeline over three hosts; ``crash = (partition, at, back_after)``."""
    table: dict[int, list[Any]] = {}
    loop = SimLoop()
    try:
        options = LinkOptions(
            credits=rng.choice([1, 2, 10]),
            frame_items=rng.choice([1, 4, 64]),
            retransmit=0.05,
            heartbeat=0.2,
        )
        network = MemoryNetwork(faults, seed=rng.randrange(1 << 30))
        with SqliteStore(db) as store:
            cluster = MemoryCluster(
                lambda: ledger_graph(data, table),
                placement or PLACEMENT,
                network=network,
                options=options,
                clock=SimClock(loop),
                store=store,
                checkpoint_every=0.01,
            )
            if crash is not None:
                name, at, back = crash
                loop.call_at(at, cluster.crash, name)
                loop.call_at(at + back, cluster.restart, name)
            loop.run_until_complete(asyncio.wait_for(cluster.run(), 120.0))
            assert not loop.errors, loop.errors
            return table, cluster, loop.time()
    finally:
        loop.close()


@pytest.mark.parametrize(
    "placement",
    [PLACEMENT, {"a": ["source", "ledger"], "b": ["totals"]}],  # (in a row; there and back)
)
def test_a_checkpointed_cluster_without_crashes_outputs_what_one_process_does(
    tmp_path: Path, placement: dict[str, list[str]]
) -> None:
    """Links both ways between two checkpointed hosts too: neither waits on the other."""
    data = trades(0, 300)
    table, cluster, _ = run_cluster(
        data, tmp_path / "run.db", random.Random(0), placement=placement
    )
    assert table == single_ledger(data)
    for rows in cluster.links().values():
        for row in rows:
            assert "not-durable" not in row["taints"]
            assert "no-replay" not in row["taints"]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_partition_restarted_from_its_checkpoint_loses_and_doubles_nothing(
    seed: int, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    data = trades(seed, rng.randrange(50, 400))
    expected = single_ledger(data)
    faults = NetworkFaults(
        delay=(0.0, rng.choice([0.0, 0.001, 0.01])),
        drop=rng.choice([0.0, 0.05, 0.2]),
        duplicate=rng.choice([0.0, 0.05, 0.2]),
    )
    _, whole, _ = run_cluster(data, tmp_path / "whole.db", random.Random(seed), faults=faults)
    victim = rng.choice(sorted(PLACEMENT))
    # (while the victim still runs: one that completed is never resumed)
    crash = (victim, rng.uniform(0.0, whole.ended[victim]), rng.uniform(0.01, 1.0))
    table, cluster, _ = run_cluster(
        data, tmp_path / "crashed.db", random.Random(seed), crash=crash, faults=faults
    )
    assert table == expected, f"seed {seed}: crash {crash}"
    if cluster.incarnations[victim] == 0:  # (it had completed, or nobody needed it again)
        settling = victim in cluster.completed and cluster.completed[victim] <= crash[1]
        assert settling or max(cluster.ended.values()) < crash[1] + crash[2]


@pytest.mark.parametrize("stop_at", [0.03, 0.05, 0.08])
def test_a_whole_cluster_run_again_over_its_store_resumes_every_partition(
    tmp_path: Path, stop_at: float
) -> None:
    """The whole cluster stopped at once (its process killed, say), then a new one made over
    the same store: every partition resumes as its next incarnation, the output whole."""
    data = trades(1, 400)
    db = tmp_path / "run.db"

    def go(table: dict[int, list[Any]], until: float) -> MemoryCluster:
        loop = SimLoop()
        try:
            with SqliteStore(db) as store:
                cluster = MemoryCluster(
                    lambda: ledger_graph(data, table),
                    PLACEMENT,
                    network=MemoryNetwork(NetworkFaults(delay=(0.0, 0.01)), seed=1),
                    options=LinkOptions(credits=2, frame_items=4, retransmit=0.05, heartbeat=0.2),
                    clock=SimClock(loop),
                    store=store,
                    checkpoint_every=0.01,
                )
                with contextlib.suppress(TimeoutError):
                    loop.run_until_complete(asyncio.wait_for(cluster.run(), until))
                return cluster
        finally:
            loop.close()

    table: dict[int, list[Any]] = {}
    first = go(table, stop_at)
    assert not first.completed  # (stopped part way)
    again = go(table, 120.0)
    assert table == single_ledger(data)
    assert set(again.incarnations.values()) == {1}
