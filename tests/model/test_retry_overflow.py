"""Retry delays stay finite however long an outage lasts (issue 10, item 8)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from arachne import Input, IterSource, Node, Output, Retry, Runtime, Subgraph
from arachne.model import policies
from arachne.model.policies import error_policy_from_data, error_policy_to_data
from arachne.runtime import FakeClock
from tests.runtime.nodes import Collect


def test_delay_saturates_at_max_backoff_instead_of_overflowing() -> None:
    policy = Retry(max_attempts=2**62, backoff=0.1, max_backoff=1.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0])
    for attempt in (1024, 1025, 1100, 10**6, 10**400):
        assert policy.delay(attempt) == 1.0, attempt


@pytest.mark.parametrize("spread", [-1.0, 0.0, 1.0])
def test_jittered_delay_of_a_late_attempt_stays_in_the_band(spread: float) -> None:
    policy = Retry(max_attempts=2**62, backoff=0.5, max_backoff=2.0, jitter=0.5)
    assert policy.delay(5_000, spread) == pytest.approx(2.0 * (1 + 0.5 * spread))


@pytest.mark.parametrize("cap", [None, math.inf])
def test_no_cap_saturates_at_the_longest_delay(cap: float | None) -> None:
    policy = Retry(max_attempts=2**62, backoff=0.1, max_backoff=cap, factor=3)
    assert policy.delay(3) == pytest.approx(0.9)
    assert policy.delay(2_000) == policies.LONGEST_DELAY == 86_400.0
    assert policy.delay(10**9) == policies.LONGEST_DELAY


@pytest.mark.parametrize("cap", [None, math.inf])
def test_zero_backoff_never_waits_even_when_the_power_overflows(cap: float | None) -> None:
    policy = Retry(max_attempts=2**62, backoff=0.0, max_backoff=cap)
    assert policy.delay(10**6) == 0.0


def test_uncapped_retry_round_trips_through_data() -> None:
    policy = Retry(max_attempts=10, max_backoff=None)
    data = error_policy_to_data(policy)
    assert data == {"retry": {**data["retry"], "max_backoff": None}}  # type: ignore[index]
    assert error_policy_from_data(data) == policy


def test_a_nan_max_backoff_is_refused() -> None:
    with pytest.raises(ValueError, match="Retry.max_backoff must be a number >= 0"):
        Retry(max_backoff=math.nan)


class Outage(Node):
    """Fails its first ``failures`` calls, then passes every value on; records call times."""

    error_policy = Retry(max_attempts=1_000_000, backoff=0.1, max_backoff=1.0)
    inp = Input(int, name="in")
    out = Output(int)

    def __init__(self, failures: int, clock: FakeClock) -> None:
        super().__init__(name="outage")
        self.failures = failures
        self.clock = clock
        self.times: list[float] = []

    def on_message(self, port: str, msg: Any) -> None:
        self.times.append(self.clock.now())
        if len(self.times) <= self.failures:
            raise ConnectionError("service down")
        self.emit("out", msg.payload)


def test_a_run_retrying_through_a_long_outage_completes() -> None:
    clock = FakeClock()
    outage = Outage(1_100, clock)
    graph = Subgraph()
    graph.add_node(IterSource([7], name="src", schema=int))
    graph.add_node(outage)
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("outage", "in"))
    graph.connect(("outage", "out"), ("collect", "in"))
    runtime = Runtime(clock=clock)
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [7]
    assert runtime.stats().nodes["outage"].retried == 1_100
    gaps = [b - a for a, b in itertools.pairwise(outage.times)]
    assert gaps[-1] == pytest.approx(1.0)
    assert max(gaps) == pytest.approx(1.0)
