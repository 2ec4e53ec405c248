"""Every built-in that keeps values has a bound; a flood never grows one past it.

The table below is the walk: each built-in either keeps values (and names the bound and the
attribute that holds them) or says why it keeps none. A built-in added without an entry
fails the first test. The others flood each one from an endless source on a fake clock and
watch what it keeps after every message it takes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sized

import pytest

from arachne import DeadLetters, ErrorRecord, Input, IterSource, Message, Node, Runtime, Subgraph
from arachne.components.builtins import BUILTINS, Accumulator, Dedupe, Delay, Passthrough
from arachne.components.builtins.accumulator import MAX_BATCH
from arachne.model.dead_letters import DEFAULT_LIMIT
from arachne.runtime import FakeClock
from tests.runtime.nodes import Collect

KEEPS: dict[str, str] = {
    "arachne.core.delay": "values waiting: max_waiting (default 10,000), then input is held",
    "arachne.core.accumulator": "one batch: count, or MAX_BATCH with only interval_ms",
    "arachne.core.dead-letters": "records: limit (default 10,000), then the oldest go",
    "arachne.core.dedupe": "keys: remember (default 10,000), then the oldest go",
}
KEEPS_NOTHING: dict[str, str] = {
    "arachne.core.passthrough": "emits each value in the call that took it",
    "arachne.core.logger": "logs and emits each value in the call that took it",
    "arachne.core.filter": "emits or drops each value in the call that took it",
    "arachne.core.map": "emits each result in the call that took the value",
    "arachne.core.merge": "emits each value in the call that took it",
    "arachne.core.split": "emits each item in the call that took the value",
    "arachne.data.json-transform": "emits each result in the call that took the value",
    "arachne.io.http-request": "at most `concurrency` requests in flight; bodies capped",
    "arachne.io.jsonl-source": "reads a line only when its output has room",
    "arachne.io.jsonl-sink": "writes each value in the call that took it",
    "arachne.core.rate_limiter": "one value at a time; what waits stays on its bounded input",
    "arachne.core.kill_switch": "emits each value in the call that took it",
    "arachne.core.event_clock": "emits each value in the call that took it; keeps one time",
    "arachne.core.window": "one aggregate per open window and key, dropped as each closes",
    "arachne.core.join": "per key, each side's kept values: `complete` frees them as it emits",
    "arachne.core.interval_join": "per key, the items the watermark has not yet evicted",
    "arachne.durable.queue-writer": "enqueues each value in the call that took it (on disk)",
    "arachne.durable.queue-reader": "leases `batch` at a time; what waits is on disk, bounded",
}


def test_every_builtin_says_what_it_keeps() -> None:
    ids = {definition.id for definition in BUILTINS}
    assert ids == set(KEEPS) | set(KEEPS_NOTHING)
    assert not set(KEEPS) & set(KEEPS_NOTHING)


class Last(Node):
    """A sink that counts what it gets and stops the run after ``n``."""

    inp = Input(None, name="in")

    def __init__(self, n: int) -> None:
        self.n, self.got = n, 0

    def on_message(self, port: str, msg: Message) -> None:
        payload = msg.payload
        self.got += len(payload) if isinstance(payload, list) else 1
        if self.got >= self.n:
            self.request_stop(drain=False)


def flood(node: Node, kept: str, n: int) -> int:
    """Feed ``node`` an endless stream until ``n`` values came out; return the most it kept."""
    most = 0
    held: Sized = getattr(node, kept)
    take = node.on_message

    def watched(port: str, msg: Message) -> None:
        nonlocal most, held
        take(port, msg)
        held = getattr(node, kept)
        most = max(most, len(held))

    node.on_message = watched  # type: ignore[method-assign]
    graph = Subgraph()
    graph.add_node(IterSource(itertools.count(), name="source"))
    graph.add_node(node, name="kept")
    sink = Last(n)
    graph.add_node(sink, name="sink")
    graph.connect(("source", "out"), ("kept", "in"), capacity=64)
    graph.connect(("kept", "out"), ("sink", "in"), capacity=64)
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    runtime.run()
    assert sink.got >= n
    return most


def test_a_flooded_delay_holds_its_input_at_max_waiting() -> None:
    most = flood(Delay(ms=100, max_waiting=500), "_waiting", n=5_000)
    assert most == 500  # the hold takes effect after the message that asked for it


def test_a_flooded_delay_with_the_default_bound_stays_under_it() -> None:
    most = flood(Delay(ms=1000), "_waiting", n=30_000)
    assert most <= Delay(ms=1).max_waiting


def test_a_flooded_time_only_accumulator_closes_batches_at_max_batch() -> None:
    most = flood(Accumulator(interval_ms=60_000), "_batch", n=3 * MAX_BATCH)
    assert most == MAX_BATCH - 1  # it closes the batch as the MAX_BATCH-th value arrives


def test_a_flooded_dedupe_remembers_at_most_its_keys() -> None:
    most = flood(Dedupe(remember=300), "_seen", n=2_000)
    assert most == 300


@pytest.mark.parametrize("limit", [DEFAULT_LIMIT, 3])
def test_dead_letters_keep_at_most_their_limit(limit: int) -> None:
    letters = DeadLetters() if limit == DEFAULT_LIMIT else DeadLetters(limit=limit)
    for i in range(limit + 5):
        letters.on_message("in", Message(ErrorRecord("n", "in", "ValueError", "bad", 1, i)))
    assert len(letters.records) == limit
    assert letters.overflowed == 5
    assert letters.records[0].payload == 5


def test_a_delay_holding_one_value_at_a_time_lets_every_value_through_in_order() -> None:
    # Regression: with max_waiting=1 the delay took a whole chunk past its bound, then,
    # held with its input ended, never finished: "stalled with unfinished nodes".
    sink = Collect()
    graph = Subgraph()
    graph.add_node(IterSource(range(10), name="source"))
    graph.add_node(Passthrough(), name="parse")
    graph.add_node(Delay(ms=20, max_waiting=1), name="slow")
    graph.add_node(sink, name="out")
    graph.connect(("source", "out"), ("parse", "in"))
    graph.connect(("parse", "out"), ("slow", "in"), capacity=4)
    graph.connect(("slow", "out"), ("out", "in"), capacity=4)
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == list(range(10))
