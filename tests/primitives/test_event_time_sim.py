"""Windows and joins under simulation: out of order, idle, crashed and retried, over many seeds.

``ARACHNE_SIM_SEEDS=1000 uv run pytest tests/primitives`` is the slow suite. Each seed draws
two streams: when each item arrives (virtual seconds), how far its event time lags behind
(out of order), how long one stream goes quiet (long enough, on some seeds, to be marked
idle), the clocks' ``max_delay`` and the window's lateness; the scheduler's choices and the
crashes of the window's and joins' handlings (retried) come from the seed too. What must
hold whatever the interleaving: every item is in a window or late, never both, never lost;
each window equals a batch computation over the on-time items; the interval join's rows equal
a nested loop over its on-time items; the keyed join's rows equal a nested loop over what it
was handed, in that order.
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

from arachne import Execution, Input, IterSource, Message, Node, Retry, Subgraph
from arachne.components.builtins import JsonlSink
from arachne.durable import SqliteStore
from arachne.primitives import (
    EventClock,
    IntervalJoin,
    Join,
    Sliding,
    Tumbling,
    Window,
    WindowResult,
)
from arachne.sim import explore, simulate
from tests.primitives.test_joins import nested_loop
from tests.primitives.test_rate_limiter_sim import Arrive

SEEDS = range(int(os.environ.get("ARACHNE_SIM_SEEDS", "100")))
SIZE = 5.0  # the windows' size, seconds of event time


class Keep(Node):
    """Keeps what arrives, in order."""

    inp = Input(None, name="in")

    def __init__(self) -> None:
        self.got: list[Any] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.got.append(msg.payload)


def streams(seed: int) -> tuple[list[Any], list[Any], float, float, float]:
    """Draw the seed's two streams ((item, gap) each), max_delay, lateness and idle_after."""
    rng = random.Random(seed)
    max_delay, lateness = rng.choice([0.0, 0.5, 2.0]), rng.choice([0.0, 1.0])
    idle_after = rng.choice([0.3, 1.0, 5.0])
    sides = []
    for side in ("L", "R"):
        now, items = 0.0, []
        quiet_at = rng.randrange(5, 30)  # (from here, one long gap: idle on some seeds)
        for i in range(rng.randrange(10, 40)):
            gap = rng.expovariate(10.0) + (rng.uniform(0.5, 3.0) if i == quiet_at else 0.0)
            now += gap
            t = round(max(0.0, now * 4 - rng.expovariate(1.0)), 3)  # (lags: out of order)
            items.append(({"side": side, "i": i, "k": rng.choice("ab"), "t": t}, gap))
        sides.append(items)
    return sides[0], sides[1], max_delay, lateness, idle_after


def graph(seed: int) -> Subgraph:
    """Two streams, each through its clock, into one window and an interval join."""
    left, right, max_delay, lateness, idle_after = streams(seed)
    g = Subgraph()
    clocks = {}
    for side, items in (("left", left), ("right", right)):
        g.add_node(IterSource(items, name=f"{side}_src"))
        g.add_node(Arrive(), name=f"{side}_arrive")
        clocks[side] = EventClock.install(
            g, f"{side}_clock", timestamp="t", max_delay=max_delay, idle_after=idle_after
        )
        g.connect((f"{side}_src", "out"), (f"{side}_arrive", "in"), capacity=4)
        g.connect((f"{side}_arrive", "out"), clocks[side]["in"], capacity=4)
    retry = Retry(max_attempts=20, backoff=0.001)
    window = Window.install(
        g, "win", window=Tumbling(SIZE), key="k", timestamp="t", allowed_lateness=lateness,
        error_policy=retry,
    )  # fmt: skip
    join = IntervalJoin.install(
        g, "ij", key="k", timestamp="t", lower=-1.0, upper=1.5, error_policy=retry
    )
    for name in ("out", "late", "rows", "join_late"):
        g.add_node(Keep(), name=name)
    for side, clock in clocks.items():
        g.connect(clock["out"], window["in"], capacity=4)
        g.connect(clock["out"], join[side], capacity=4)
    g.connect(window["out"], ("out", "in"))
    g.connect(window["late"], ("late", "in"))
    g.connect(join["out"], ("rows", "in"))
    g.connect(join["late"], ("join_late", "in"))
    return g


def kept(execution: Execution, name: str) -> list[Any]:
    node = execution.instances[name]
    assert isinstance(node, Keep)
    return node.got


def checked(seed: int, counts: Counter[str]) -> Any:
    left, right, _, lateness, _ = streams(seed)
    items = [item for item, _ in left + right]

    def check(execution: Execution) -> None:
        out, late = kept(execution, "out"), kept(execution, "late")
        results = [r for r in out if isinstance(r, WindowResult)]
        late_ids = Counter((r.item["side"], r.item["i"]) for r in late)
        # every item is in a window or late, once: out + late == input
        assert sum(r.count for r in results) + len(late) == len(items)
        assert all(n == 1 for n in late_ids.values())
        assert all(r.time < r.watermark - lateness for r in late)
        # each window equals a batch computation over the on-time items
        on_time = [i for i in items if (i["side"], i["i"]) not in late_ids]
        batch = Counter((i["k"], math.floor(i["t"] / SIZE) * SIZE) for i in on_time)
        assert {(r.key, r.start): r.count for r in results} == dict(batch)
        # the interval join: a nested loop over its on-time items
        behind = {(r.item["side"], r.item["i"]) for r in kept(execution, "join_late")}
        lefts = [i for i, _ in left if ("L", i["i"]) not in behind]
        rights = [i for i, _ in right if ("R", i["i"]) not in behind]
        expected = Counter(
            (a["i"], b["i"])
            for a in lefts
            for b in rights
            if a["k"] == b["k"] and a["t"] - 1.0 <= b["t"] <= a["t"] + 1.5
        )
        rows = Counter((row.left["i"], row.right["i"]) for row in kept(execution, "rows"))
        assert rows == expected
        counts["late"] += len(late)
        counts["join_late"] += len(behind)
        counts["idle"] += sum(w.idle_spells for w in execution.watermarks().values())

    return check


def test_windows_and_interval_joins_hold_their_promises_over_the_seeds() -> None:
    """Clock skew, timeout (idleness), crash: out + late = input; batch and nested-loop equal."""
    counts: Counter[str] = Counter()
    failures, crashed = [], 0
    for seed in SEEDS:
        explored = explore(
            lambda seed=seed: graph(seed),
            [seed],
            faults={"node.crash": 0.05},
            crashes={"win/window", "ij/join"},
            max_faults=10,
            check=checked(seed, counts),
        )
        failures += [f"seed {r.seed}: {r.failure}" for r in explored.failures]
        crashed += explored.coverage.fired["node.crash"]
    assert failures == []
    assert counts["late"] > 0  # (items did come behind the watermark)
    assert counts["join_late"] > 0
    assert counts["idle"] > 0  # (some seeds' quiet streams went idle)
    assert crashed > 0  # (handlings did crash, and were retried)


def joined(seed: int) -> Subgraph:
    rng = random.Random(seed)
    g = Subgraph()
    join = Join.install(
        g,
        "join",
        key="k",
        insert_mode=rng.choice(["first", "last", "product"]),
        emit_mode=rng.choice(["complete", "running", "final"]),
        error_policy=Retry(max_attempts=20, backoff=0.001),
    )
    g.add_node(Keep(), name="rows")
    for side in ("left", "right"):
        items = [({"k": rng.choice("ab"), "v": i}, rng.expovariate(50.0)) for i in range(12)]
        g.add_node(IterSource(items, name=f"{side}_src"))
        g.add_node(Arrive(), name=f"{side}_arrive")
        g.connect((f"{side}_src", "out"), (f"{side}_arrive", "in"), capacity=2)
        g.connect((f"{side}_arrive", "out"), join[side], capacity=2)
    g.connect(join["out"], ("rows", "in"))
    return g


def test_keyed_joins_equal_a_nested_loop_whatever_the_interleaving_and_crashes() -> None:
    """Duplicate, crash: each handling retried counts once; rows equal a nested loop."""
    failures, crashed = [], 0
    for seed in SEEDS:
        log: list[tuple[str, Any]] = []

        def build(seed: int = seed, log: list[tuple[str, Any]] = log) -> Subgraph:
            g = joined(seed)
            node = g.instances()["join/join"]
            handle = node.on_message

            def logged(port: str, msg: Message) -> None:
                handle(port, msg)  # (a crash before the call is retried: logged once)
                log.append((port, msg.payload))

            node.on_message = logged  # type: ignore[method-assign]
            return g

        def check(execution: Execution, seed: int = seed, log: list[Any] = log) -> None:
            node = execution.instances["join/join"]
            rows = kept(execution, "rows")
            assert rows == nested_loop(log, node.insert_mode, node.emit_mode)

        explored = explore(
            build, [seed], faults={"node.crash": 0.05}, crashes={"join/join"}, check=check
        )
        failures += [f"seed {r.seed}: {r.failure}" for r in explored.failures]
        crashed += explored.coverage.fired["node.crash"]
    assert failures == []
    assert crashed > 0


# -- checkpoint, kill, resume ----------------------------------------------------------------


def windowed_run(out: str, late: str) -> Subgraph:
    """One out-of-order stream, keyed tumbling and sliding windows, exactly-once sinks."""
    rng = random.Random(7)
    items = [
        (
            {"k": rng.choice("abc"), "t": round(i * 0.5 - rng.expovariate(0.8), 3), "v": i},
            rng.expovariate(100.0),  # (when it arrives: virtual time passes, checkpoints come)
        )
        for i in range(80)
    ]
    g = Subgraph()
    g.add_node(IterSource(items, name="src"))
    g.add_node(Arrive(), name="arrive")
    clock = EventClock.install(g, "clock", timestamp="t", max_delay=1.0)
    tumbling = Window.install(
        g, "tumbling", window=Tumbling(SIZE), key="k", timestamp="t", aggregate="list", value="v"
    )
    sliding = Window.install(
        g, "sliding", window=Sliding(SIZE, 2.0), key="k", timestamp="t", aggregate="sum",
        value="v", allowed_lateness=1.0,
    )  # fmt: skip
    g.add_node(JsonlSink(path=out, name="sink"))
    g.add_node(JsonlSink(path=late, name="late_sink"))
    g.add_node(JsonlSink(path=out + ".sliding", name="sliding_sink"))
    g.add_node(JsonlSink(path=late + ".sliding", name="sliding_late_sink"))
    g.connect(("src", "out"), ("arrive", "in"), capacity=8)
    g.connect(("arrive", "out"), clock["in"], capacity=8)
    g.connect(clock["out"], tumbling["in"], capacity=8)
    g.connect(clock["out"], sliding["in"], capacity=8)
    g.connect(tumbling["out"], ("sink", "in"))
    g.connect(tumbling["late"], ("late_sink", "in"))
    g.connect(sliding["out"], ("sliding_sink", "in"))
    g.connect(sliding["late"], ("sliding_late_sink", "in"))
    return g


def test_windows_killed_at_a_random_moment_resume_to_the_uninterrupted_output(
    tmp_path: Path,
) -> None:
    """Checkpointed (their open windows saved), killed, resumed: the same files, byte for byte."""
    files = ("out", "late", "out.sliding", "late.sliding")
    ref = {name: tmp_path / f"reference.{name}" for name in files}
    whole = simulate(lambda: windowed_run(str(ref["out"]), str(ref["late"])), 0)
    assert whole.ok, whole.failure
    expected = {name: path.read_text() for name, path in ref.items()}
    assert expected["late"]  # (the stream has late items, and they were kept)
    restored = 0
    for seed in SEEDS:
        out, late = tmp_path / f"{seed}.out", tmp_path / f"{seed}.late"
        moment = random.Random(seed).uniform(0, whole.virtual_seconds)

        def build(out: Path = out, late: Path = late) -> Subgraph:
            return windowed_run(str(out), str(late))

        def resumed(execution: Execution) -> None:
            nonlocal restored
            checkpointer = execution.checkpointer
            restored += checkpointer is not None and checkpointer.restored is not None

        with SqliteStore(tmp_path / f"run-{seed}.db") as store:
            options = {"store": store, "checkpoint_every": 0.002}
            killed = simulate(build, seed, kill_at=moment, options=options)
            if not killed.ok:
                assert (killed.failure or "").startswith("Killed"), killed
                again = simulate(build, seed, options=options, check=resumed)
                assert again.ok, f"seed {seed}: {again.failure}"
        got = {
            "out": out.read_text(),
            "late": late.read_text(),
            "out.sliding": Path(f"{out}.sliding").read_text(),
            "late.sliding": Path(f"{late}.sliding").read_text(),
        }
        assert got == expected, f"seed {seed}: the output differs"
    assert restored > len(SEEDS) // 2  # (most kills came mid-run: resumed from the middle)
