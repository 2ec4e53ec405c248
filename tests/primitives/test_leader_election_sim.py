"""LeaderElection under simulation: epochs only grow and late leaders are fenced, over many seeds.

``ARACHNE_SIM_SEEDS=1000 uv run pytest tests/primitives`` is the slow suite. Three candidates
share one lessor and one fenced resource, each with a few writes to make. Each seed draws
how many, and the candidates' clocks: true, or running slow by 10 to 50% (a slow clock's
leader believes its term lasts longer than its lease does). The scenarios add faults:
crashes of the candidates (retried after a while, as a restarted process comes back) and
pauses between a leader's check and its write (the ``lease.pause`` fault point). Every run
checks the election's promises:

- published epochs strictly increase (in the order of the lessor's clock), so no two
  candidates publish one epoch, and every write carries an epoch its writer was elected with;
- each candidate's records alternate ``Elected`` / ``Deposed`` of one epoch, and end deposed;
- the resource accepts epochs in order and refuses only older ones; no write is lost.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from arachne import Execution, IterSource, Retry, Subgraph
from arachne.primitives import (
    Candidate,
    Deposed,
    Elected,
    Fenced,
    FencedWrite,
    LeaderElection,
    Lessor,
)
from arachne.sim import explore
from tests.primitives.test_lease_sim import Keep

SEEDS = range(int(os.environ.get("ARACHNE_SIM_SEEDS", "100")))
CANDIDATES = ("c0", "c1", "c2")
TTL = 0.05
MARGIN = TTL / 10
BACKOFF = TTL * 1.5
"""About how long a crashed candidate stays down (jittered: 0.15 to 2.85 leases)."""


@dataclass(frozen=True)
class Workload:
    """What a seed gives each candidate: the values it writes, and its clock's rate."""

    writes: dict[str, list[Any]]
    rates: dict[str, float]

    @property
    def written(self) -> int:
        return sum(len(values) for values in self.writes.values())


def workload(seed: int) -> Workload:
    """Seed ``seed``'s work: two to seven writes per candidate; a third of the clocks true."""
    rng = random.Random(seed)
    writes, rates = {}, {}
    for name in CANDIDATES:
        writes[name] = [(name, i) for i in range(rng.randrange(2, 8))]
        rates[name] = 1.0 if rng.random() < 1 / 3 else rng.uniform(0.5, 0.9)
    return Workload(writes, rates)


def election(work: Workload, *, fence: bool = True) -> Subgraph:
    """Three candidates, their writes through them into one resource: fenced, or not.

    One sink, ``sink``, keeps all there is to check: the writes accepted (``Fenced``), the
    writes refused (audit records) and the candidates' terms (``Elected``, ``Deposed``).
    """
    lessor = Lessor(TTL)
    g = Subgraph()
    g.add_node(Keep(), name="sink")
    into: tuple[str, str] = ("sink", "in")
    if fence:
        resource = FencedWrite.install(g, "resource")
        g.connect(resource["out"], ("sink", "in"))
        g.connect(resource["rejected"], ("sink", "in"))
        into = resource["in"]
    for name in CANDIDATES:
        rate = work.rates[name]
        options: dict[str, Any] = {
            "lessor": lessor,
            "key": "k",
            "candidate": name,
            "margin": MARGIN,
            "clock": lambda t, rate=rate: t * rate,
            "pause": TTL * 1.5,
        }
        if fence:
            installed = LeaderElection.install(g, name, **options)
            node = installed.unit.members[0].unit
            assert isinstance(node, Candidate)
            ports = (installed["in"], installed["out"], installed["leader"])
        else:  # (refused without a fence behind it, so built by hand)
            node = Candidate(heartbeat=(TTL - MARGIN) / 3, **options)
            g.add_node(node, name=name)
            ports = ((name, "in"), (name, "out"), (name, "leader"))
        node.error_policy = Retry(max_attempts=20, backoff=BACKOFF, factor=1.0, jitter=0.9)
        g.add_node(IterSource(work.writes[name], name=f"{name}_src"))
        g.connect((f"{name}_src", "out"), ports[0], capacity=4)
        g.connect(ports[1], into, capacity=4)
        g.connect(ports[2], ("sink", "in"))
    return g


@dataclass
class Seen:
    """What the seeds of one scenario showed, summed."""

    refused: int = 0  # late writes the fence refused
    superseded: int = 0  # terms a leader lost to another before it learnt it
    takeovers: int = 0  # leaders elected before their predecessor learnt it was deposed
    refused_on_true_clocks: int = 0  # of those, writes by candidates whose clock is true


def checked(work: Workload, seen: Seen) -> Any:
    """Return the check of one run of ``work``: the election's promises (module's text)."""

    def check(execution: Execution) -> None:
        sink = execution.instances["sink"]
        assert isinstance(sink, Keep)
        accepted = [got for got in sink.got if isinstance(got, Fenced)]
        refused = [got for got in sink.got if isinstance(got, dict)]
        terms = [got for got in sink.got if isinstance(got, Elected | Deposed)]
        elected = sorted(
            (r for r in terms if isinstance(r, Elected)), key=lambda r: (r.at, r.epoch)
        )
        epochs = [r.epoch for r in elected]
        assert all(a < b for a, b in pairwise(epochs)), f"an epoch went back or repeated: {epochs}"
        holder = {r.epoch: r.holder for r in elected}
        deposed = {r.epoch: r for r in terms if isinstance(r, Deposed)}
        for name in CANDIDATES:
            mine = [r for r in terms if r.holder == name]
            assert [type(r) for r in mine] == [Elected, Deposed] * (len(mine) // 2), mine
            assert all(e.epoch == d.epoch for e, d in zip(mine[::2], mine[1::2], strict=True))
        tokens = [write.token for write in accepted]
        assert tokens == sorted(tokens), f"a stale write was accepted: {tokens}"
        assert all(holder[w.token] == w.holder for w in accepted), "a write under no term"
        assert all(r["token"] < r["highest"] for r in refused)
        assert all(holder[r["token"]] == r["holder"] for r in refused)
        assert len(accepted) + len(refused) == work.written, "a write was lost"
        seen.refused += len(refused)
        seen.refused_on_true_clocks += sum(work.rates[r["holder"]] == 1.0 for r in refused)
        seen.superseded += sum(r.reason == "superseded" for r in deposed.values())
        seen.takeovers += sum(
            deposed[before.epoch].at > after.at for before, after in pairwise(elected)
        )

    return check


def run(faults: dict[str, float]) -> tuple[Seen, int]:
    """Run every seed with candidates crashing under ``faults``; return what they showed.

    ``AssertionError`` names the seeds whose run broke a promise; the second value is how
    often the ``lease.pause`` fault point fired.
    """
    seen, failures, paused = Seen(), [], 0
    for seed in SEEDS:
        work = workload(seed)
        explored = explore(
            lambda work=work: election(work),
            [seed],
            faults=faults,
            crashes={f"{name}/candidate" for name in CANDIDATES},
            max_faults=20,
            check=checked(work, seen),
        )
        failures += [f"seed {r.seed}: {r.failure}" for r in explored.failures]
        paused += explored.coverage.fired["lease.pause"]
    assert failures == []
    return seen, paused


def test_a_crashed_leader_is_replaced_and_its_late_writes_are_fenced() -> None:
    """Crash, clock skew: a leader down longer than its lease is replaced; epochs only grow.

    Its lease runs out while it is down (nothing releases it) and another candidate is
    elected with a higher epoch. Back on a true clock, it sees its term ran out and waits
    for a new one. Back on a slow clock, it may believe it still leads and write under its
    old epoch while its successor already writes: the fence refuses that, every time. With
    no pauses, only slow clocks ever write late.
    """
    seen, paused = run({"node.crash": 0.1})
    assert paused == 0
    assert seen.takeovers > 0  # (successors were elected while a crashed leader was down)
    assert seen.refused > 0  # (slow clocks wrote late, and were refused)
    assert seen.refused_on_true_clocks == 0  # (never a candidate on a true clock)


def test_a_paused_leader_is_superseded_and_its_late_write_is_refused() -> None:
    """Stale owner, timeout: a leader paused past its lease loses it; its late write refused.

    Pauses between a leader's check and its write (the ``lease.pause`` fault point), on
    true and slow clocks, with crashes too: the paused leader misses its renewals, another
    is elected with a higher epoch, and the paused write reaches the fence after the newer
    epoch wrote. The deposed leader learns it at its next renewal and publishes it.
    """
    seen, paused = run({"lease.pause": 0.2, "node.crash": 0.05})
    assert paused > 0  # (the lease.pause fault point fired)
    assert seen.superseded > 0  # (leaders were superseded while they believed they led)
    assert seen.refused > 0
    assert seen.refused_on_true_clocks > 0  # (a pause makes a true clock's leader late too)


def test_without_a_fence_a_deposed_leader_writes_after_its_successor() -> None:
    """Why the fence: behind a plain sink, some seeds' writes go back to an older epoch."""
    went_back = 0
    for seed in SEEDS[:50]:
        work = workload(seed)
        tokens: list[int] = []

        def keep(execution: Execution, tokens: list[int] = tokens) -> None:
            sink = execution.instances["sink"]
            assert isinstance(sink, Keep)
            tokens.extend(write.token for write in sink.got if isinstance(write, Fenced))

        explored = explore(
            lambda work=work: election(work, fence=False),
            [seed],
            faults={"lease.pause": 0.2},
            check=keep,
        )
        assert explored.failures == []
        went_back += tokens != sorted(tokens)
    assert went_back > 0
