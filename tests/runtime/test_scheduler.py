"""The scheduler: time-sliced activations, due timers served between them, fairness.

Every test runs on a ``FakeClock``: a busy node's "work" is advancing the clock, so what is
checked is the order of events on the execution's clock, never how long the host took.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from arachne import Input, IterSource, Message, Node, Output, Runtime, Subgraph, node
from arachne.runtime import FakeClock
from arachne.runtime.run_context import SLICE
from tests.runtime.nodes import Forever, Relay

CADENCE = 0.05
COST = 0.002  # the busy node: 2 ms of work per message
# A message just over a slice. At exactly 2 ms an activation's elapsed fake time is the
# difference of two rounded sums, and sometimes 0.0019999...: a second message then fits.
OVER_SLICE = 0.0025
LIMIT = 60.0  # fake seconds: past this a busy node fails the run, so a broken one cannot hang


def work(clock: FakeClock, seconds: float) -> None:
    """Spend ``seconds`` of fake time; fail once past ``LIMIT`` (nothing stopped the run)."""
    if clock.now() > LIMIT:
        raise RuntimeError(f"still running at {clock.now()} s: the ticker never stopped the run")
    clock.advance(seconds)


class Ticker(Node):
    """Counts its timed ticks (recording the clock at each); cancels the run at ``until``."""

    def __init__(self, clock: FakeClock, cadence: float = CADENCE, until: float = 5.0) -> None:
        self.clock, self.until = clock, until
        self.cadence = cadence  # type: ignore[misc]  # per-instance override of the class default
        self.times: list[float] = []

    def on_tick(self) -> None:
        now = self.clock.now()
        self.times.append(now)
        if now >= self.until:
            self.request_stop(drain=False)


class Busy(Node):
    """A sink whose every message takes ``cost`` seconds of the fake clock."""

    inp = Input(int, name="in")

    def __init__(self, clock: FakeClock, cost: float = COST, name: str = "busy") -> None:
        super().__init__(name=name)
        self.clock, self.cost = clock, cost
        self.received = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.received += 1
        work(self.clock, self.cost)


class BusyRelay(Busy):
    """``Busy``, passing each payload on."""

    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        super().on_message(port, msg)
        self.emit("out", msg.payload)


class BusyBatch(Node):
    """Takes its input with ``on_batch``; a batch costs ``per_message`` each plus ``per_call``."""

    inp = Input(int, name="in")

    def __init__(self, clock: FakeClock, *, per_message: float = 0.0, per_call: float = 0.0):
        super().__init__(name="busy")
        self.clock, self.per_message, self.per_call = clock, per_message, per_call
        self.sizes: list[int] = []

    def on_batch(self, port: str, msgs: list[Message]) -> None:
        self.sizes.append(len(msgs))
        work(self.clock, self.per_call + self.per_message * len(msgs))


def busy_function(clock: FakeClock, cost: float = COST) -> Node:
    """Return an ``@node`` function sink (a map emitting nothing) taking ``cost`` per payload."""

    @node
    def busy(x: int) -> None:
        work(clock, cost)

    return busy()


def run(*chain: Node, clock: FakeClock, ticker: Ticker | None = None, **options: Any) -> Runtime:
    """Run ``chain`` (each node feeding the next) beside ``ticker`` on ``clock``."""
    graph = Subgraph()
    for unit in chain:
        graph.add_node(unit)
    for a, b in itertools.pairwise(chain):
        graph.connect((a.name(), "out"), (b.name(), "in"))
    if ticker is not None:
        graph.add_node(ticker)
    runtime = Runtime(clock=clock, **options)
    runtime.register(graph)
    runtime.run()
    return runtime


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


# -- the acceptance test -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["class", "function", "fused function"])
def test_a_50ms_ticker_beside_an_always_busy_2ms_node_ticks_at_least_80_times_in_5s(
    kind: str,
) -> None:
    """Before time slices and timers between activations the ticker never ticked at all."""
    clock = FakeClock()
    ticker = Ticker(clock)
    options: dict[str, Any] = {}
    if kind == "class":
        chain: tuple[Node, ...] = (Forever(), Busy(clock))
    elif kind == "function":
        # Its own edge (no fusion): the function gets activations of its own.
        chain = (Forever(), busy_function(clock))
        options["fusion"] = False
    else:
        # Fused into the relay's emits: the work is timed as part of the relay's turn.
        chain = (Forever(), Relay(), busy_function(clock))
    runtime = run(*chain, clock=clock, ticker=ticker, **options)
    assert runtime.execution.state.value == "cancelled"
    assert clock.now() >= 5.0
    assert len(ticker.times) >= 80  # observed: 101, every deadline from 0 s to 5 s
    # Never late by more than an activation (a message or two), so no tick was skipped.
    assert max(gaps(ticker.times)) <= CADENCE + 2 * COST + 1e-9
    assert runtime.stats().nodes[chain[-1].name()].received >= 2000


def test_a_ticker_beside_an_on_batch_node_whose_calls_take_2ms_ticks_at_least_80_times() -> None:
    """A batch is one call: with a call costing 2 ms the promise holds as for one message.

    (A quantum of 16 only keeps the run short: 2500 batches of the default 256 are 640,000
    messages.)
    """
    clock = FakeClock()
    ticker = Ticker(clock)
    busy = BusyBatch(clock, per_call=COST)
    run(Forever(), busy, clock=clock, ticker=ticker, quantum=16)
    assert len(ticker.times) >= 80
    assert len(busy.sizes) >= 2000
    assert max(busy.sizes) == 16  # batches are not cut down to one message


@pytest.mark.parametrize("quantum", [16, 256])
def test_an_on_batch_node_gets_whole_quanta_so_a_tick_waits_at_most_one_batch(
    quantum: int,
) -> None:
    """The time slice does not cut a batch: ``on_batch`` gets up to a quantum whatever it costs.

    So a timer waits at most one batch (up to ``quantum * 2 ms``): with a quantum of 16
    (32 ms, under the cadence) no tick is lost; with the default 256 (512 ms) ticks are
    skipped, but each still comes right after the batch running at its deadline.
    """
    clock = FakeClock()
    ticker = Ticker(clock)
    busy = BusyBatch(clock, per_message=COST)
    run(
        IterSource(itertools.count(), name="src"), busy, clock=clock, ticker=ticker, quantum=quantum
    )
    assert max(busy.sizes) == quantum
    assert min(busy.sizes) > 1  # a sliced batch would be one 2 ms message
    longest = max(busy.sizes) * COST
    assert max(gaps(ticker.times)) <= CADENCE + longest + 1e-9
    if longest < CADENCE:
        assert len(ticker.times) >= 80
    else:
        assert len(ticker.times) < 80


def test_a_ticker_beside_a_busy_function_fused_to_a_pulled_source_ticks_80_times() -> None:
    """The function runs inside the source's pulls; their size follows the time they take.

    The first pull, made before that time is known, must not hold the timer back long
    (once 1024 items of 2 ms: no tick for 2 s and 61 ticks in 5 s).
    """
    clock = FakeClock()
    ticker = Ticker(clock)
    run(IterSource(itertools.count(), name="src"), busy_function(clock), clock=clock, ticker=ticker)
    assert len(ticker.times) >= 80
    assert max(gaps(ticker.times)) <= CADENCE + 2 * COST + 1e-9  # after the first pull


def test_a_ticking_source_turn_with_fused_work_is_sliced_by_the_execution_clock() -> None:
    """A class source's ticks run a fused slow function: its turn ends by the fake clock.

    (Bounded by ``time.perf_counter`` instead, the number of 2 ms messages per turn followed
    the host's speed: ticks up to about 22 ms late here.)
    """
    clock = FakeClock()
    ticker = Ticker(clock, until=1.0)
    cost = 2**-8  # more than a slice: one message per turn
    run(Forever(), busy_function(clock, cost), clock=clock, ticker=ticker)
    assert len(ticker.times) >= 20
    assert max(gaps(ticker.times)) <= CADENCE + cost


# -- time slices -----------------------------------------------------------------------------


class Burst(Node):
    """A source that emits ``0..n-1`` in its first tick, then finishes."""

    out = Output(int)

    def __init__(self, n: int) -> None:
        super().__init__(name="src")
        self.n = n

    def on_tick(self) -> None:
        for i in range(self.n):
            self.emit("out", i)
        self.finish()


class Logged(Node):
    """Appends its name to a shared log per message; each message takes ``cost`` fake seconds."""

    inp = Input(int, name="in")

    def __init__(self, name: str, clock: FakeClock, cost: float, log: list[str]) -> None:
        super().__init__(name=name)
        self.clock, self.cost, self.log = clock, cost, log

    def on_message(self, port: str, msg: Message) -> None:
        self.log.append(self.name())
        self.clock.advance(self.cost)


def turns(log: list[str]) -> list[tuple[str, int]]:
    """Return the log as runs: (node, messages in a row)."""
    return [(name, len(list(run))) for name, run in itertools.groupby(log)]


def fan_out(costs: dict[str, float], n: int, **options: Any) -> list[tuple[str, int]]:
    """Queue ``n`` messages for each of one ``Logged`` node per entry of ``costs`` at once.

    Return the turns the nodes then took (the source is done before any of them runs).
    """
    clock = FakeClock()
    log: list[str] = []
    graph = Subgraph()
    graph.add_node(Burst(n))
    for name, cost in costs.items():
        graph.add_node(Logged(name, clock, cost, log))
        graph.connect(("src", "out"), (name, "in"))
    runtime = Runtime(clock=clock, **options)
    runtime.register(graph)
    runtime.run()
    assert log.count("a") == n
    return turns(log)


def test_a_node_taking_a_slice_per_message_gets_one_message_per_activation() -> None:
    """Two equal-rank slow nodes with 600 messages each: one each, in turn, to the end."""
    assert fan_out({"a": OVER_SLICE, "b": OVER_SLICE}, 600) == [("a", 1), ("b", 1)] * 600


def test_a_node_whose_messages_take_no_time_gets_its_whole_quantum() -> None:
    assert fan_out({"a": 0.0, "b": 0.0}, 600) == [
        ("a", 256),
        ("b", 256),
        ("a", 256),
        ("b", 256),
        ("a", 88),
        ("b", 88),
    ]
    assert fan_out({"a": 0.0, "b": 0.0}, 20, quantum=8) == [("a", 8), ("b", 8)] * 2 + [
        ("a", 4),
        ("b", 4),
    ]


def test_a_slow_and_a_fast_node_take_turns_each_by_its_own_slice() -> None:
    result = fan_out({"a": OVER_SLICE, "b": 0.0}, 600)
    assert result[:6] == [("a", 1), ("b", 256), ("a", 1), ("b", 256), ("a", 1), ("b", 88)]
    # The fast one is done; the slow one goes on alone.
    assert result[6:] == [("a", 600 - 3)]


def test_an_activation_ends_once_a_slice_has_passed() -> None:
    """A node taking a quarter of a slice per message gets several, never a whole quantum."""
    cost = 2**-11  # about 0.49 ms: dyadic, so the fake clock adds up exactly
    result = fan_out({"a": cost, "b": cost}, 400)
    counts = [count for _, count in result[:-2]]  # the last two may end early, out of input
    assert [name for name, _ in result] == ["a", "b"] * (len(result) // 2)
    for count in counts:
        assert 1 < count < 256
        assert count * cost >= SLICE  # it ran a whole slice ...
        assert (count - 1) * cost < SLICE + SLICE / 2  # ... and at most one chunk more


# -- timers between activations --------------------------------------------------------------


def test_due_timers_fire_between_activations_while_the_ready_queue_is_never_empty() -> None:
    """A source feeds a slow relay feeding a slow sink: there is always a node ready to run.

    A tick is then late by at most one activation: one message of the slow nodes.
    """
    clock = FakeClock()
    cost, cadence = 2**-8, 2**-5  # dyadic: the fake clock adds up exactly
    ticker = Ticker(clock, cadence=cadence, until=1.0)
    first = BusyRelay(clock, cost, name="first")
    second = Busy(clock, cost, name="second")
    runtime = run(Forever(), first, second, clock=clock, ticker=ticker)
    assert len(ticker.times) == 33  # every deadline from 0 to 1 s
    for k, at in enumerate(ticker.times):
        assert 0 <= at - k * cadence <= cost
    stats = runtime.stats().nodes
    assert stats["first"].received > 100
    assert stats["second"].received > 100


def test_without_timers_the_busy_graph_runs_to_completion() -> None:
    """A finite run of the same busy nodes completes, every message taken once."""
    clock = FakeClock()
    first = BusyRelay(clock, COST, name="first")
    second = Busy(clock, COST, name="second")
    runtime = run(IterSource(range(500), name="src"), first, second, clock=clock)
    assert runtime.execution.state.value == "completed"
    assert (first.received, second.received) == (500, 500)
    assert clock.now() == pytest.approx(1000 * COST)
