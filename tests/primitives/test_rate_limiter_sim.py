"""RateLimiter's failure rows under simulation, over many seeds (100; 1,000 in the slow suite).

``ARACHNE_SIM_SEEDS=1000 uv run pytest tests/primitives`` is the slow suite. Each seed draws
a rate, a burst, a mode and the gaps between arrivals; the run is on virtual time, so the
limiter's waits cost nothing real.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from arachne import Input, IterSource, Message, Node, Output, Retry, Subgraph
from arachne.durable import SqliteStore
from arachne.primitives import RateGate, RateLimiter
from arachne.runtime import Execution
from arachne.sim import explore, simulate

SEEDS = range(int(os.environ.get("ARACHNE_SIM_SEEDS", "100")))
EPSILON = 1e-9


class Arrive(Node):
    """Lets each value go after its own gap (virtual seconds): the arrivals' schedule."""

    mode = "async"
    inp = Input(None, name="in")
    out = Output(None)

    async def on_message(self, port: str, msg: Message) -> None:  # type: ignore[override]
        value, gap = msg.payload
        await self.sleep(gap)
        self.emit("out", value)


class Stamp(Node):
    """Keeps each value with the runtime's clock reading when it came."""

    inp = Input(None, name="in")

    def __init__(self) -> None:
        self.seen: list[tuple[Any, float]] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.seen.append((msg.payload, self.now()))


def case(seed: int) -> dict[str, Any]:
    """The seed's workload: rate, burst, mode and arrivals (bursty: many gaps are 0)."""
    rng = random.Random(seed)
    count = rng.randrange(1, 60)
    return {
        "rate": rng.choice([0.5, 2.0, 10.0, 100.0]),
        "burst": rng.randrange(1, 6),
        "mode": rng.choice(["shape", "police"]),
        "arrivals": [
            (value, 0.0 if rng.random() < 0.5 else rng.expovariate(5.0)) for value in range(count)
        ],
    }


def limited(seed: int, *, error_policy: Any = "fail") -> Subgraph:
    spec = case(seed)
    g = Subgraph()
    g.add_node(IterSource(spec["arrivals"], name="src"))
    g.add_node(Arrive(), name="arrive")
    limiter = RateLimiter.install(
        g,
        "limit",
        rate=spec["rate"],
        burst=spec["burst"],
        mode=spec["mode"],
        error_policy=error_policy,
    )
    g.add_node(Stamp(), name="out")
    g.add_node(Stamp(), name="rejected")
    g.connect(("src", "out"), ("arrive", "in"), capacity=4)
    g.connect(("arrive", "out"), limiter["in"], capacity=4)
    g.connect(limiter["out"], ("out", "in"))
    g.connect(limiter["rejected"], ("rejected", "in"))
    return g


def within_rate(seed: int, times: list[float]) -> None:
    """No span of the passed items' times holds more than burst + span * rate of them."""
    spec = case(seed)
    rate, burst = spec["rate"], spec["burst"]
    times = sorted(times)
    for i, first in enumerate(times):
        for j in range(i, len(times)):
            span = times[j] - first
            assert j - i + 1 <= burst + span * rate + EPSILON, (
                f"seed {seed}: {j - i + 1} items passed in {span:.6f} s at rate {rate}, "
                f"burst {burst}"
            )


def checked(seed: int) -> Any:
    def check(execution: Execution) -> None:
        out, rejected = execution.instances["out"], execution.instances["rejected"]
        assert isinstance(out, Stamp)
        assert isinstance(rejected, Stamp)
        spec = case(seed)
        passed = [value for value, _ in out.seen]
        refused = [value for value, _ in rejected.seen]
        everything = [value for value, _ in spec["arrivals"]]
        assert sorted(passed + refused) == everything, f"seed {seed}: out + rejected != input"
        if spec["mode"] == "shape":
            assert passed == everything, f"seed {seed}: shaping lost or reordered an item"
        within_rate(seed, [at for _, at in out.seen])

    return check


def test_no_span_passes_more_than_the_rate_allows() -> None:
    """Overload: at most burst + d * rate in any d seconds; out + rejected == input."""
    failures = []
    shaped = policed = 0
    for seed in SEEDS:
        explored = explore(lambda seed=seed: limited(seed), [seed], check=checked(seed))
        failures += [f"seed {r.seed}: {r.failure}" for r in explored.failures]
        spec = case(seed)
        shaped += spec["mode"] == "shape"
        policed += spec["mode"] == "police"
    assert failures == []
    assert shaped > 0  # (both modes were drawn)
    assert policed > 0


def test_crashes_retried_pass_every_item_once_within_the_rate() -> None:
    """Crash: a crash before an item passes leaves the schedule; retried, it passes once."""
    failures = []
    crashed = 0
    for seed in SEEDS:
        explored = explore(
            lambda seed=seed: limited(seed, error_policy=Retry(max_attempts=20, backoff=0.01)),
            [seed],
            faults=0.2,
            crashes={"limit/gate"},
            max_faults=15,
            check=checked(seed),
        )
        failures += [f"seed {r.seed}: {r.failure}" for r in explored.failures]
        crashed += explored.coverage.fired["node.crash"]
    assert failures == []
    assert crashed > len(SEEDS)  # (crashes did happen, many per run)


def test_a_killed_run_resumes_without_a_burst_the_interrupted_one_had_used(
    tmp_path: Path,
) -> None:
    """Crash (a kill): the checkpointed debt carries the schedule over; the rate holds across.

    The passes of the killed run up to its checkpoint, and those of the resumed run shifted to
    start where the checkpoint stood, make one timeline: no span of it passes more than
    burst + span * rate.
    """
    failures, resumed = [], 0
    for seed in SEEDS:
        if case(seed)["mode"] != "shape":
            continue
        saved: list[dict[str, Any]] = []  # (the states the resumed run restored)
        sinks: list[Stamp] = []  # (each run's sink, to read its passes after)

        def build(
            seed: int = seed, saved: list[dict[str, Any]] = saved, sinks: list[Stamp] = sinks
        ) -> Subgraph:
            g = limited(seed)
            gate, sink = g.instances()["limit/gate"], g.instances()["out"]
            assert isinstance(gate, RateGate)
            assert isinstance(sink, Stamp)
            sinks.append(sink)
            take, keep = gate.snapshot, gate.restore

            def snapshot() -> dict[str, Any]:  # (marked with when, and how many had passed)
                return {**take(), "at": gate.now(), "passed": gate.passed}

            def restore(state: Any) -> None:
                saved.append(state)
                keep(state)

            gate.snapshot = snapshot  # type: ignore[method-assign]
            gate.restore = restore  # type: ignore[method-assign]
            return g

        whole = simulate(build, seed)
        moment = random.Random(seed).uniform(0, whole.virtual_seconds)
        with SqliteStore(tmp_path / f"run-{seed}.db") as store:
            options = {"store": store, "checkpoint_every": 0.01}
            killed = simulate(build, seed, kill_at=moment, options=options)
            if killed.ok:
                continue  # (it ended before the moment came)
            second = simulate(build, seed, options=options)
        if not second.ok:
            failures.append(f"seed {seed}: {second.failure}")
            continue
        if not saved:
            continue  # (killed before its first checkpoint: the resumed run began anew)
        resumed += 1
        last, first, again = saved[-1], sinks[-2], sinks[-1]
        timeline = [at for _, at in first.seen][: last["passed"]]
        timeline += [last["at"] + at for _, at in again.seen]
        assert len(timeline) == len(case(seed)["arrivals"])  # (none lost, none twice)
        try:
            within_rate(seed, timeline)
        except AssertionError as exc:
            failures.append(str(exc))
    assert failures == []
    assert resumed > 0
