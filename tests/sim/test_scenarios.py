"""Arachne's guarantees under simulation, over many seeds: each seed a different schedule.

100 seeds each by default (as ``.ci/run`` runs them); ``ARACHNE_SIM_SEEDS=1000 uv run pytest
tests/sim`` is the slow suite. A failing seed is named in the assertion: replay it with
``simulate(build, seed, ...)`` and the same options.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

from arachne import DeadLetters, Input, IterSource, Message, Node, Output, Retry, Subgraph, node
from arachne.components.builtins import JsonlSink, Merge
from arachne.durable import SqliteStore
from arachne.runtime import Execution
from arachne.runtime.simulation import FAULT_POINTS
from arachne.sim import Coverage, SimLoop, explore, simulate
from tests.durable.crash_graph import build as crash_graph
from tests.runtime.nodes import Collect, line

SEEDS = range(int(os.environ.get("ARACHNE_SIM_SEEDS", "100")))
VALUES = 40


class Relay(Node):
    """Passes each value on; what fails is dead-lettered."""

    inp = Input(int, name="in")
    out = Output(int)
    error_policy = "dead_letter"

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload)


def failures(explored: Any) -> list[str]:
    return [f"seed {r.seed}: {r.failure}" for r in explored.failures]


# -- exactly once under random node failures, with dead letters ------------------------------


def letters_graph() -> Subgraph:
    """Values through a class node, a thread-mode map and a retried one, each dead-lettering."""
    g = Subgraph()
    g.add_node(IterSource(range(VALUES), name="src"))
    g.add_node(Relay(name="first"))
    g.add_node(
        node(
            lambda x: x,
            name="threaded",
            inputs={"in": int},
            outputs={"out": int},
            mode="thread",
            concurrency=3,
            ordered=False,
            error_policy="dead_letter",
        )()
    )
    g.add_node(
        node(
            lambda x: x,
            name="retried",
            inputs={"in": int},
            outputs={"out": int},
            error_policy=Retry(max_attempts=3, backoff=1.0, then="dead_letter"),
        )()
    )
    g.add_node(Collect(name="sink"))
    g.add_node(DeadLetters(name="dead"))
    g.connect(("src", "out"), ("first", "in"))
    g.connect(("first", "out"), ("threaded", "in"))
    g.connect(("threaded", "out"), ("retried", "in"))
    g.connect(("retried", "out"), ("sink", "in"))
    for failing in ("first", "threaded", "retried"):
        g.connect((failing, "error"), ("dead", "in"))
    return g


def exactly_once(execution: Execution) -> None:
    sink, dead = execution.instances["sink"], execution.instances["dead"]
    assert isinstance(sink, Collect)
    assert isinstance(dead, DeadLetters)
    arrived = Counter(sink.payloads) + Counter(record.payload for record in dead.records)
    assert arrived == Counter(range(VALUES)), f"not exactly once: {arrived}"


def test_each_value_arrives_or_is_dead_lettered_exactly_once_under_crashes() -> None:
    explored = explore(
        letters_graph,
        SEEDS,
        faults=0.05,
        crashes={"first", "threaded", "retried"},
        mode="safety",
        check=exactly_once,
    )
    assert failures(explored) == []
    assert explored.coverage.fired["node.crash"] > len(SEEDS)  # crashes did happen


# -- pause, resume and stop at random moments ------------------------------------------------


def busy_graph() -> Subgraph:
    """Two sources through a thread-mode stage into a merge: calls in flight when it pauses."""
    g = Subgraph()
    g.add_node(IterSource(range(VALUES), name="evens_src"))
    g.add_node(IterSource(range(VALUES, 2 * VALUES), name="odds_src"))
    g.add_node(
        node(
            lambda x: x,
            name="slow",
            inputs={"in": int},
            outputs={"out": int},
            mode="thread",
            concurrency=2,
        )()
    )
    g.add_node(Merge(name="both"))
    g.add_node(Collect(name="sink"))
    g.connect(("evens_src", "out"), ("slow", "in"))
    g.connect(("slow", "out"), ("both", "in"))
    g.connect(("odds_src", "out"), ("both", "in"))
    g.connect(("both", "out"), ("sink", "in"))
    return g


def controls(execution: Execution, loop: SimLoop, rng: random.Random) -> None:
    """Pause and resume a few times at random moments, then stop, draining."""
    moment = 0.0
    for _ in range(rng.randrange(1, 4)):
        moment += rng.uniform(0, 0.002)
        loop.call_later(moment, execution.pause)
        moment += rng.uniform(0, 0.01)
        loop.call_later(moment, execution.resume)
    if rng.random() < 0.5:
        loop.call_later(moment + rng.uniform(0, 0.003), lambda: execution.request_stop(drain=True))


def nothing_lost(execution: Execution) -> None:
    sink = execution.instances["sink"]
    assert isinstance(sink, Collect)
    got = Counter(sink.payloads)
    assert all(n == 1 for n in got.values()), f"duplicates: {got}"
    stats = execution.stats()
    sent = sum(stats.edges[e].enqueued for e in ("evens_src.out->slow.in", "odds_src.out->both.in"))
    assert len(sink.payloads) == sent, f"{sent} values sent, {len(sink.payloads)} arrived"
    assert execution.state.value == "completed"


def test_pause_resume_and_stop_at_random_moments_lose_nothing() -> None:
    explored = explore(busy_graph, SEEDS, during=controls, check=nothing_lost)
    assert failures(explored) == []


# -- live changes under load -----------------------------------------------------------------


def changes(execution: Execution, loop: SimLoop, rng: random.Random) -> None:
    """At random moments, add a tap on the merge, retune an edge, then take the tap out."""
    first = rng.uniform(0, 0.002)
    second = first + rng.uniform(0, 0.004)
    third = second + rng.uniform(0, 0.004)

    def add_tap() -> None:
        execution.add_node(Collect(name="tap"), node_id="tap")
        execution.connect(("both", "out"), ("tap", "in"), edge_id="tapped")

    def retune() -> None:
        execution.set_capacity("both.out->sink.in", rng.randrange(1, 8))

    def remove_tap() -> None:
        execution.disconnect("tapped")
        execution.remove_node("tap")

    loop.call_later(first, add_tap)
    loop.call_later(second, retune)
    loop.call_later(third, remove_tap)


def kept_edges_lose_nothing(execution: Execution) -> None:
    sink = execution.instances["sink"]
    assert isinstance(sink, Collect)
    assert Counter(sink.payloads) == Counter(range(2 * VALUES)), "the kept path lost values"


def test_live_changes_under_load_lose_nothing_on_kept_edges() -> None:
    explored = explore(busy_graph, SEEDS, during=changes, check=kept_edges_lose_nothing)
    assert failures(explored) == []


# -- checkpoint, kill, resume ----------------------------------------------------------------


def test_a_run_killed_at_a_random_moment_resumes_to_the_uninterrupted_output(
    tmp_path: Path,
) -> None:
    """Killed at a seeded moment, resumed from its store: the same file, byte for byte.

    The kill is a power loss too: the store's fsyncs are sometimes lost, so the commits
    since the last one that reached the disk are gone, and the run resumes from an older
    checkpoint than the one it last committed.
    """
    reference = tmp_path / "reference.jsonl"
    whole = simulate(lambda: crash_graph(str(reference), 300), 0)
    assert whole.ok, whole.failure
    expected = reference.read_text()
    restored = went_back = 0
    for seed in SEEDS:
        out, db = tmp_path / f"out-{seed}.jsonl", tmp_path / f"run-{seed}.db"
        moment = random.Random(seed).uniform(0, whole.virtual_seconds)
        last: list[int] = []  # (the newest checkpoint the killed run committed)

        def build(out: Path = out) -> Subgraph:
            return crash_graph(str(out), 300)

        def watch(
            execution: Execution,
            loop: SimLoop,
            rng: random.Random,
            moment: float = moment,
            last: list[int] = last,
        ) -> None:
            def note() -> None:
                checkpointer = execution.checkpointer
                last.append(0 if checkpointer is None else checkpointer.last)

            loop.call_at(moment, note)  # (before the kill, scheduled for the same moment)

        def resumed(execution: Execution, last: list[int] = last) -> None:
            nonlocal restored, went_back
            checkpointer = execution.checkpointer
            number = None if checkpointer is None else checkpointer.restored
            restored += number is not None
            went_back += bool(last) and (number or 0) < last[0]

        with SqliteStore(db) as store:
            options = {"store": store, "checkpoint_every": 0.002}
            killed = simulate(
                build,
                seed,
                kill_at=moment,
                faults={"durable.lost-fsync": 0.2},
                during=watch,
                options=options,
            )
            if not killed.ok:  # (this seed's run may have ended before the moment came)
                assert (killed.failure or "").startswith("Killed"), killed
                again = simulate(build, seed, options=options, check=resumed)
                assert again.ok, f"seed {seed}: {again.failure}"
        assert out.read_text() == expected, f"seed {seed}: the output differs"
    assert restored > 0  # some kills came after a checkpoint: those resumed from the middle
    assert went_back > 0  # some lost the newest checkpoints with their fsyncs


def test_a_store_or_a_file_failing_mid_run_loses_nothing_once_resumed(tmp_path: Path) -> None:
    """The disk fills at a commit, a line is half written: the run fails; resumed, it is whole.

    Then every fault point Arachne declares was reached by these scenarios' seeds.
    """
    reference = tmp_path / "reference.jsonl"
    assert simulate(lambda: crash_graph(str(reference), 200), 0).ok
    expected = reference.read_text()
    coverage = Coverage()
    failed = 0
    for seed in SEEDS:
        out, db = tmp_path / f"out-{seed}.jsonl", tmp_path / f"run-{seed}.db"

        def build(out: Path = out) -> Subgraph:
            graph = crash_graph(str(out), 200)
            graph.instances()["sink"].error_policy = "fail"  # (a failed write ends the run)
            return graph

        with SqliteStore(db) as store:
            options = {"store": store, "checkpoint_every": 0.002}
            faulty = simulate(build, seed, faults=0.02, crashes={"triple"}, options=options)
            coverage.merge(faulty.coverage)
            if not faulty.ok:
                failed += 1
                again = simulate(build, seed, options=options)
                assert again.ok, f"seed {seed}: {again.failure}"
        assert out.read_text() == expected, f"seed {seed}: the output differs"
    assert failed > 0  # faults did end runs part way
    # (a primitive's own points fire in its own scenarios: tests/primitives/*_sim.py)
    never = [n for n in FAULT_POINTS if not coverage.fired[n] and not n.startswith("lease.")]
    assert never == [], f"fault points that never fired: {never}"


def test_a_torn_line_is_cut_so_a_skipping_sink_leaves_whole_lines(tmp_path: Path) -> None:
    """With the JSON-lines sink's own policy (skip), a failed write loses that value only."""
    torn = 0
    for seed in range(20):
        out = tmp_path / f"out-{seed}.jsonl"
        result = simulate(
            lambda out=out: line(IterSource(range(50), name="src"), JsonlSink(path=str(out))),
            seed,
            faults=0.05,
        )
        assert result.ok, result.failure
        torn += result.coverage.fired["jsonl-sink.torn-write"]
        values = [json.loads(text) for text in out.read_text().splitlines()]  # all whole
        assert len(values) == 50 - result.coverage.fired["jsonl-sink.torn-write"]
        assert values == sorted(values)
    assert torn > 0
