"""A bug planted on purpose is found by simulation and shrunk by Hypothesis to a small case.

The bug (``PLANTED``, test-only): a class node's third try at a message is skipped and
counted a success, so the message is lost. It takes two failures in a row at one message: a
rare path that plain tests walk past. Hypothesis draws the workload (the values, how often
nodes crash, the seed), each example one simulated run to the end. With the bug planted a
run loses a value, Hypothesis finds it and shrinks it; without it, every example passes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arachne import Input, IterSource, Message, Node, Output, Retry, Subgraph
from arachne.runtime.simulation import PLANTED
from arachne.sim import simulate
from tests.runtime.nodes import Collect

FOUND: list[tuple[list[int], float, int]] = []


class Steady(Node):
    """Passes each value on; a failure is tried again (so often that it always gets through)."""

    inp = Input(int, name="in")
    out = Output(int)
    error_policy = Retry(max_attempts=60, backoff=0.5)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload)


def run(values: list[int], faults: float, seed: int) -> None:
    """Simulate values through two retrying nodes that crash at ``faults``; none may be lost."""

    def build() -> Subgraph:
        g = Subgraph()
        g.add_node(IterSource(values, name="src"))
        g.add_node(Steady(name="a"))
        g.add_node(Steady(name="b"))
        g.add_node(Collect(name="sink"))
        g.connect(("src", "out"), ("a", "in"))
        g.connect(("a", "out"), ("b", "in"))
        g.connect(("b", "out"), ("sink", "in"))
        return g

    def same(execution: Any) -> None:
        sink = execution.instances["sink"]
        assert Counter(sink.payloads) == Counter(values), "a value was lost"

    result = simulate(build, seed, faults=faults, crashes={"a", "b"}, mode="safety", check=same)
    if not result.ok:
        FOUND.append((values, faults, seed))
    assert result.ok, f"seed {seed}: {result.failure}"


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # (the same examples every run: the test itself is reproducible)
    database=None,  # (and no examples saved by one test replayed in the other)
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    values=st.lists(st.integers(0, 1000), max_size=40),
    faults=st.sampled_from([0.0, 0.05, 0.1, 0.2, 0.4]),
    seed=st.integers(0, 10_000),
)
def no_value_lost(values: list[int], faults: float, seed: int) -> None:
    run(values, faults, seed)


@pytest.fixture
def planted() -> Iterator[None]:
    PLANTED.add("retry.third.drop")
    try:
        yield
    finally:
        PLANTED.discard("retry.third.drop")


def test_without_the_bug_every_workload_passes() -> None:
    no_value_lost()


def test_the_planted_bug_is_found_and_shrunk(planted: None) -> None:
    FOUND.clear()
    with pytest.raises(AssertionError, match="a value was lost"):
        no_value_lost()
    assert FOUND, "the bug was never hit"
    # The last example Hypothesis ran is the shrunk one: a handful of values (one, run alone;
    # how far shrinking gets depends on what else Hypothesis ran in the process).
    values, _faults, _seed = FOUND[-1]
    assert 1 <= len(values) <= 5, FOUND[-1]
    assert len(FOUND) > 1  # (found, then shrunk)
