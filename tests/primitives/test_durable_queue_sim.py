"""DurableQueue's failure rows under simulation, over many seeds (100; 1,000 in the slow suite).

``ARACHNE_SIM_SEEDS=1000 uv run pytest tests/primitives`` is the slow suite. Each seed draws
a workload (how many items, the queue's capacity and batch, how slow its consumer is) and a
schedule; the runs are on virtual time, so leases run out and full queues wait at no real
cost. Two scenarios cover the three rows: a killed and resumed run with crashes (crash, and
duplicate: the leases the killed run held run out, and a slow consumer's too), and a flood
into a small queue (overload). Each scenario keeps one store file for all its seeds, a queue
(and a run) a seed: opening and closing a file a seed cost a quarter of the time. Its
commits are not synced (``synchronous="normal"``): a simulated kill loses none either way
(no ``durable.lost-fsync`` here).
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arachne import Input, IterSource, Message, Node, Retry, Subgraph
from arachne.durable import DurableQueue as StoredQueue
from arachne.durable import SqliteStore
from arachne.primitives import QUEUE_ATTEMPT, QUEUE_ID, DurableQueue, QueueEgress, QueueIngress
from arachne.runtime import Execution
from arachne.runtime.taints import RETRIED, TAINTS
from arachne.sim import SimResult, always, simulate

SEEDS = range(int(os.environ.get("ARACHNE_SIM_SEEDS", "100")))
TIMEOUT = 30.0  # virtual seconds: a run that hangs fails at once, instead of after an hour


class Keep(Node):
    """Keeps ``[value, queue id, attempt, retried]`` of each delivery, ``hold`` seconds each.

    Checkpointed (a resumed sink has what it had at the checkpoint). With ``store``, each
    delivery checks that its item had not been acked (or removed) before: the ``gone`` table
    the store's trigger fills (:func:`watched`). ``watch`` runs at each delivery.
    """

    mode = "async"
    inp = Input(None, name="in")

    def __init__(
        self,
        hold: float = 0.0,
        store: SqliteStore | None = None,
        watch: Callable[[], None] | None = None,
    ) -> None:
        self.hold, self.store, self.watch = hold, store, watch
        self.got: list[list[Any]] = []

    async def on_message(self, port: str, msg: Message) -> None:  # type: ignore[override]
        item = msg.headers[QUEUE_ID]
        if self.store is not None:
            with self.store.transaction() as db:
                gone = db.execute("SELECT 1 FROM temp.gone WHERE id = ?", (item,)).fetchone()
            always(gone is None, "an item came out again after its ack")
        if self.watch is not None:
            self.watch()
        if self.hold:
            await self.sleep(self.hold)
        retried = RETRIED in msg.headers.get(TAINTS, ())
        self.got.append([msg.payload, item, msg.headers[QUEUE_ATTEMPT], retried])

    def snapshot(self) -> dict[str, Any]:
        return {"got": [list(entry) for entry in self.got]}

    def restore(self, state: Any) -> None:
        self.got = [list(entry) for entry in state["got"]]


def watched(path: Path) -> SqliteStore:
    """Return a store at ``path`` whose deleted queue items (acked, removed) are noted."""
    store = SqliteStore(path, synchronous="normal")
    with store.transaction() as db:
        db.execute("CREATE TEMP TABLE gone (id INTEGER PRIMARY KEY)")
        db.execute(
            "CREATE TEMP TRIGGER noted AFTER DELETE ON main.queue_items "
            "BEGIN INSERT OR IGNORE INTO gone (id) VALUES (OLD.id); END"
        )
    return store


def parts(execution: Execution) -> tuple[QueueIngress, QueueEgress, Keep]:
    ingress, egress = execution.instances["jobs/ingress"], execution.instances["jobs/egress"]
    sink = execution.instances["sink"]
    assert isinstance(ingress, QueueIngress)
    assert isinstance(egress, QueueEgress)
    assert isinstance(sink, Keep)
    return ingress, egress, sink


def failed(seed: int, result: SimResult) -> list[str]:
    return [] if result.ok else [f"seed {seed}: {result.failure}"]


# -- crash and duplicate: crashes, a killed run resumed, leases running out ------------------


def crash_case(seed: int) -> dict[str, Any]:
    """The seed's workload; a third of the seeds have a consumer slower than the visibility."""
    rng = random.Random(seed)
    slow = rng.random() < 1 / 3
    return {
        "count": rng.randrange(3, 13),
        "capacity": rng.randrange(1, 7),
        "batch": rng.randrange(1, 5),
        "hold": rng.uniform(0.001, 0.004) if slow else 0.0,
        "visibility": rng.uniform(0.003, 0.008) if slow else 0.02,
        "max_attempts": rng.randrange(2, 5) if slow else 10,
        "kill_at": rng.uniform(0.0, 0.01),  # (most runs take 3 to 15 ms of virtual time)
    }


def crashing(seed: int, store: SqliteStore) -> Subgraph:
    """Items through a queue (its ingress crashing, retried) into a checkpointed sink."""
    case = crash_case(seed)
    g = Subgraph()
    g.add_node(IterSource(range(case["count"]), name="src"))
    jobs = DurableQueue.install(
        g,
        "jobs",
        store=store,
        queue=f"jobs-{seed}",
        capacity=case["capacity"],
        visibility=case["visibility"],
        max_attempts=case["max_attempts"],
        batch=case["batch"],
        poll=0.001,
    )
    jobs.unit.instances()["ingress"].error_policy = Retry(max_attempts=20, backoff=0.001)
    sink = Keep(case["hold"], store)
    sink.error_policy = Retry(max_attempts=20, backoff=0.001)
    g.add_node(sink, name="sink")
    g.connect(("src", "out"), jobs["in"], capacity=4)
    g.connect(jobs["out"], ("sink", "in"), capacity=4)
    return g


def delivered_in_order(got: list[list[Any]]) -> None:
    """Each item's deliveries: one value, rising attempts, ``retried`` on all after the first.

    (A first one may carry ``retried`` too: the sink's own crashes are retried.)
    """
    attempts: dict[int, list[int]] = defaultdict(list)
    values: dict[int, set[Any]] = defaultdict(set)
    for value, item, attempt, retried in got:
        assert retried or attempt == 1, f"item {item}, attempt {attempt}: not tainted"
        attempts[item].append(attempt)
        values[item].add(value)
    for item, seen in attempts.items():
        assert seen == sorted(set(seen)), f"item {item}: attempts {seen}"
        assert len(values[item]) == 1, f"item {item}: values {values[item]}"


def test_no_acked_item_is_lost_across_crashes_and_a_killed_run(tmp_path: Path) -> None:
    """Crash, duplicate: all out at least once, none after its ack; again under the same id.

    A run checkpointed every 2 ms, whose ingress and sink crash (retried), is killed at a
    seeded moment and resumed from its store. Every item comes out at least once (or is a
    dead letter, kept in the store, once its last attempt ran out); none comes out after it
    was acked; an item delivered again keeps its id, with a higher attempt and ``retried``.
    """
    failures: list[str] = []
    killed = restored = again = buried = crashed = held = 0
    store = watched(tmp_path / "runs.db")  # (one for every seed: a queue and a run each)
    for seed in SEEDS:
        case = crash_case(seed)
        options: dict[str, Any] = {
            "faults": {"node.crash": 0.05},
            "crashes": {"jobs/ingress", "sink"},
            "timeout": TIMEOUT,
        }
        run = {"store": store, "checkpoint_every": 0.002}

        def check(execution: Execution, seed: int = seed, case: dict[str, Any] = case) -> None:
            nonlocal restored, again, buried, held
            ingress, egress, sink = parts(execution)
            queue = StoredQueue(egress.where.store, f"jobs-{seed}", capacity=1, clock=lambda: 0.0)
            dead = queue.dead_letters()
            came = {value for value, *_ in sink.got} | {letter.body for letter in dead}
            assert sorted(came) == list(range(case["count"])), f"came out: {sorted(came)}"
            assert all(letter.attempts == case["max_attempts"] for letter in dead), dead
            delivered_in_order(sink.got)
            stats = egress.stats()
            assert stats is not None
            assert (stats.ready, stats.leased, stats.dead) == (0, 0, len(dead)), stats
            checkpointer = execution.checkpointer
            restored += checkpointer is not None and checkpointer.restored is not None
            again += sum(attempt > 1 for _, _, attempt, _ in sink.got)
            buried += len(dead)
            held += ingress.waits

        def build(seed: int = seed, store: SqliteStore = store) -> Subgraph:
            return crashing(seed, store)

        fresh = {**run, "fresh_runs": True}  # (its first run: the last seed's is not resumed)
        result = simulate(
            build, seed, kill_at=case["kill_at"], check=check, options=fresh, **options
        )
        crashed += result.coverage.fired["node.crash"]
        if (result.failure or "").startswith("Killed"):
            killed += 1
            result = simulate(build, seed, check=check, options=run, **options)
            crashed += result.coverage.fired["node.crash"]
        failures += failed(seed, result)
    store.close()
    assert failures == []
    assert killed > len(SEEDS) / 2  # (most runs were killed part way)
    assert restored > 0  # (some kills came after a checkpoint: resumed from the middle)
    assert again > 0  # (leases ran out, the killed runs' and slow consumers', and came back)
    assert buried > 0  # (some items ran out of attempts: dead letters, kept in the store)
    assert crashed > 0
    assert held > 0  # (full queues held the producer back, checkpointed: no deadlock)


# -- overload: a full queue holds the producer back, and drops nothing -----------------------


def overload_case(seed: int) -> dict[str, Any]:
    """The seed's workload: everything at once, into a small queue, to a slow consumer."""
    rng = random.Random(seed)
    return {
        "count": rng.randrange(3, 16),
        "capacity": rng.randrange(1, 5),
        "batch": rng.randrange(1, 4),
        "hold": rng.uniform(0.0, 0.002),
    }


def flooded(seed: int, store: SqliteStore) -> Subgraph:
    """A flood into a small queue, to a slow consumer that checks the queue's depth each item."""
    case = overload_case(seed)
    g = Subgraph()
    g.add_node(IterSource(range(case["count"]), name="src"))
    jobs = DurableQueue.install(
        g,
        "jobs",
        store=store,
        queue=f"jobs-{seed}",
        capacity=case["capacity"],
        batch=case["batch"],
        poll=0.001,
    )
    egress = jobs.unit.instances()["egress"]
    assert isinstance(egress, QueueEgress)

    def watch() -> None:
        stats = egress.stats()
        depth = -1 if stats is None else stats.ready
        always(0 <= depth <= case["capacity"], "a queue held more items than its capacity")

    g.add_node(Keep(case["hold"], watch=watch), name="sink")
    g.connect(("src", "out"), jobs["in"], capacity=2)
    g.connect(jobs["out"], ("sink", "in"), capacity=2)
    return g


def test_a_full_queue_holds_the_producer_back_and_drops_nothing(tmp_path: Path) -> None:
    """Overload: the producer waits; depth never above capacity; every item once, in order."""
    failures: list[str] = []
    held = backed_up = 0
    store = SqliteStore(tmp_path / "queues.db", synchronous="normal")  # (a queue a seed)
    for seed in SEEDS:

        def check(execution: Execution, seed: int = seed) -> None:
            nonlocal held, backed_up
            ingress, _, sink = parts(execution)
            values = [value for value, *_ in sink.got]
            assert values == list(range(overload_case(seed)["count"])), values
            assert all(attempt == 1 for _, _, attempt, _ in sink.got)
            held += ingress.waits
            edge = execution.stats().edges["src.out->jobs.in"]
            backed_up += ingress.waits > 0 and edge.high_water == edge.capacity

        def build(seed: int = seed) -> Subgraph:
            return flooded(seed, store)

        failures += failed(seed, simulate(build, seed, timeout=TIMEOUT, check=check))
    store.close()
    assert failures == []
    assert held > 0  # (full queues held the ingress back)
    assert backed_up > 0  # (and its input edge filled: the producer waited)
