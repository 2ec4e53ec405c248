"""Lease and FencedWrite under simulation: no stale write accepted, over many seeds.

``ARACHNE_SIM_SEEDS=1000 uv run pytest tests/primitives`` is the slow suite. Three writers
share one lessor; each seed draws their clock skews (slow clocks: a holder believes its lease
lasts longer than it does), their arrivals, pauses between a holder's check and its write
(the ``lease.pause`` fault point) and crashes of the guards (retried).
"""

from __future__ import annotations

import os
import random
from typing import Any

from arachne import Execution, Input, IterSource, Message, Node, Retry, Subgraph
from arachne.primitives import Fenced, FencedWrite, Lease, LeaseGuard, Lessor
from arachne.sim import explore
from tests.primitives.test_rate_limiter_sim import Arrive

SEEDS = range(int(os.environ.get("ARACHNE_SIM_SEEDS", "100")))
WRITERS = ("w0", "w1", "w2")
TTL = 0.05


class Keep(Node):
    """Keeps what arrives, in order."""

    inp = Input(None, name="in")

    def __init__(self) -> None:
        self.got: list[Any] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.got.append(msg.payload)


def fenced(seed: int, *, fence: bool = True) -> Subgraph:
    """Three writers, each through its lease guard, into one resource: fenced, or not."""
    rng = random.Random(seed)
    lessor = Lessor(TTL)
    g = Subgraph()
    g.add_node(Keep(), name="accepted")
    g.add_node(Keep(), name="refused")
    into: tuple[str, str] = ("accepted", "in")
    if fence:
        resource = FencedWrite.install(g, "resource")
        g.connect(resource["out"], ("accepted", "in"))
        g.connect(resource["rejected"], ("refused", "in"))
        into = resource["in"]
    for writer in WRITERS:
        arrivals = [((writer, i), rng.expovariate(200.0)) for i in range(rng.randrange(5, 30))]
        skew = rng.uniform(0.7, 1.0)  # (its clock runs slow by up to 30%)
        g.add_node(IterSource(arrivals, name=f"{writer}_src"))
        g.add_node(Arrive(), name=f"{writer}_arrive")
        options: dict[str, Any] = {
            "lessor": lessor,
            "key": "k",
            "holder": writer,
            "margin": TTL / 5,
            "clock": lambda t, skew=skew: t * skew,
            "pause": TTL * 1.5,
        }
        if fence:
            guard = Lease.install(g, writer, **options)
            node = guard.unit.instances()["guard"]
            endpoint_in, endpoint_out = guard["in"], guard["out"]
        else:  # (the guard alone: a Lease is refused without a fence, so built by hand)
            node = LeaseGuard(**options)
            g.add_node(node, name=writer)
            endpoint_in, endpoint_out = (writer, "in"), (writer, "out")
        node.error_policy = Retry(max_attempts=10, backoff=0.001)
        g.connect((f"{writer}_src", "out"), (f"{writer}_arrive", "in"), capacity=4)
        g.connect((f"{writer}_arrive", "out"), endpoint_in, capacity=4)
        g.connect(endpoint_out, into, capacity=4)
    return g


def written(seed: int) -> int:
    """How many writes seed ``seed``'s workload makes, over all writers."""
    rng = random.Random(seed)
    total = 0
    for _ in WRITERS:
        count = rng.randrange(5, 30)
        for _ in range(count):
            rng.expovariate(200.0)
        rng.uniform(0.7, 1.0)
        total += count
    return total


def checked(seed: int, refused_total: list[int]) -> Any:
    def check(execution: Execution) -> None:
        accepted, refused = execution.instances["accepted"], execution.instances["refused"]
        assert isinstance(accepted, Keep)
        assert isinstance(refused, Keep)
        tokens = [write.token for write in accepted.got]
        assert tokens == sorted(tokens), f"a stale write was accepted: {tokens}"
        assert all(record["token"] < record["highest"] for record in refused.got)
        assert len(accepted.got) + len(refused.got) == written(seed), "a write was lost"
        refused_total[0] += len(refused.got)

    return check


def test_no_stale_write_is_accepted_under_skew_pauses_and_crashes() -> None:
    """Stale owner, clock skew, timeout, crash: accepted tokens never go back; none lost."""
    refused_total = [0]
    paused = 0
    failures = []
    for seed in SEEDS:
        explored = explore(
            lambda seed=seed: fenced(seed),
            [seed],
            faults={"lease.pause": 0.2, "node.crash": 0.05},
            crashes={f"{writer}/guard" for writer in WRITERS},
            max_faults=20,
            check=checked(seed, refused_total),
        )
        failures += [f"seed {r.seed}: {r.failure}" for r in explored.failures]
        paused += explored.coverage.fired["lease.pause"]
    assert failures == []
    assert refused_total[0] > 0  # (stale writes did come, late, and were refused)
    assert paused > 0  # (the lease.pause fault point fired)


def test_without_a_fence_the_same_workloads_write_out_of_token_order() -> None:
    """Why the fence: behind a plain sink, some seeds' writes go back to an older token."""
    went_back = 0
    for seed in SEEDS[:50]:
        tokens: list[int] = []

        def keep(execution: Execution, tokens: list[int] = tokens) -> None:
            accepted = execution.instances["accepted"]
            assert isinstance(accepted, Keep)
            tokens.extend(write.token for write in accepted.got if isinstance(write, Fenced))

        explored = explore(
            lambda seed=seed: fenced(seed, fence=False),
            [seed],
            faults={"lease.pause": 0.2},
            check=keep,
        )
        assert explored.failures == []
        went_back += tokens != sorted(tokens)
    assert went_back > 0
