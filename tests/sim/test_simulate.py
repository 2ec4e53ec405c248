"""Simulation: virtual time, one seed for every choice, reproducible runs, faults and coverage."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any

import pytest

from arachne import Input, IterSource, Message, Node, Output, Retry, Subgraph, node
from arachne.components.builtins import Delay, Merge
from arachne.runtime import Execution
from arachne.sim import (
    Livelock,
    SimLoop,
    Stalled,
    always,
    explore,
    fault,
    simulate,
    sometimes,
)
from arachne.sim import run as run_module
from arachne.sim.run import _trusted
from tests.runtime.nodes import Collect, line


def fan(n: int = 30, *, ordered: bool = True, policy: Any = "fail") -> Subgraph:
    """A source fanning out to a thread-mode map and a retried map, merged, delayed, collected.

    Thread-mode calls complete when the seed says; ties in the ready queue go as it says.
    """
    g = Subgraph()
    g.add_node(IterSource(range(n), name="src"))
    g.add_node(
        node(
            lambda x: x * 2,
            name="double",
            inputs={"in": int},
            outputs={"out": int},
            mode="thread",
            concurrency=4,
            ordered=ordered,
        )()
    )
    g.add_node(
        node(
            lambda x: x + 1,
            name="inc",
            inputs={"in": int},
            outputs={"out": int},
            error_policy=policy,
        )()
    )
    g.add_node(Merge(name="merge"))
    g.add_node(Delay(ms=500, name="later"))
    g.add_node(Collect(name="sink"))
    g.connect(("src", "out"), ("double", "in"))
    g.connect(("src", "out"), ("inc", "in"))
    g.connect(("double", "out"), ("merge", "in"))
    g.connect(("inc", "out"), ("merge", "in"))
    g.connect(("merge", "out"), ("later", "in"))
    g.connect(("later", "out"), ("sink", "in"))
    return g


def sink_of(execution: Execution) -> Collect:
    sink = execution.instances["sink"]
    assert isinstance(sink, Collect)
    return sink


def test_two_hundred_seeds_each_reproduce_their_run_exactly() -> None:
    explored = explore(fan, range(200), twice=True)
    assert explored.unreproducible == []
    assert all(result.ok for result in explored.results)
    assert {result.state for result in explored.results} == {"completed"}
    # The seeds do choose: they do not all give one schedule.
    assert len({result.trace_hash for result in explored.results}) > 20


def test_a_seed_decides_the_order_unordered_calls_land_in() -> None:
    orders: dict[int, list[int]] = {}

    def build() -> Subgraph:
        return fan(12, ordered=False)

    for seed in range(6):

        def keep(execution: Execution, seed: int = seed) -> None:
            orders[seed] = list(sink_of(execution).payloads)

        assert simulate(build, seed, check=keep).ok
    again: list[list[int]] = []
    simulate(build, 3, check=lambda execution: again.append(list(sink_of(execution).payloads)))
    assert again == [orders[3]]
    assert len({tuple(order) for order in orders.values()}) > 1
    assert all(sorted(order) == sorted(orders[0]) for order in orders.values())


def test_timers_pass_in_virtual_time() -> None:
    result = simulate(lambda: fan(5), 0)
    assert result.ok
    assert result.virtual_seconds >= 0.5  # the delay's half second passed...
    assert result.real_seconds < result.virtual_seconds  # ...without waiting for it


def test_a_seeded_crash_goes_to_the_node_s_error_policy() -> None:
    skipped = simulate(lambda: fan(40, policy="skip"), 7, faults=0.05, crashes=True, max_faults=100)
    fired = skipped.coverage.fired["node.crash"]
    assert fired > 0
    assert skipped.coverage.reached["node.crash"] > fired
    failing = simulate(lambda: fan(40), 7, faults=0.5, crashes=True)
    assert not failing.ok
    assert failing.failure is not None
    assert "SimulatedCrash: simulated crash of" in failing.failure


def test_liveness_mode_caps_the_faults_and_safety_mode_does_not() -> None:
    capped = simulate(lambda: fan(40, policy="skip"), 1, faults=1.0, crashes=True, max_faults=3)
    assert capped.coverage.fired.total() == 3
    unlimited = simulate(
        lambda: fan(40, policy="skip"), 1, faults=1.0, crashes=True, mode="safety", max_faults=3
    )
    assert unlimited.coverage.fired.total() > 3


class Checked(Node):
    """Declares an invariant and a case on every value, and a fault point."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        always(msg.payload < 100, "values stay under 100")
        sometimes(msg.payload > 40, "a value over 40 arrived")
        if fault("checked.drop"):
            return
        self.emit("out", msg.payload)


def test_always_and_sometimes_are_reported_and_a_broken_always_fails_the_run() -> None:
    good = simulate(lambda: line(IterSource(range(50), name="src"), Checked(), Collect("sink")), 0)
    assert good.ok
    assert good.coverage.checked["values stay under 100"] == 50
    assert good.coverage.seen == {"a value over 40 arrived": True}
    assert good.coverage.reached["checked.drop"] == 50
    assert "checked.drop: 50, 0" in good.coverage.report()
    bad = simulate(lambda: line(IterSource([5, 150], name="src"), Checked(), Collect("sink")), 0)
    assert bad.failure == "invariants broken: values stay under 100"
    assert "a value over 40 arrived: yes" in bad.coverage.report()


def test_outside_a_simulation_the_points_do_nothing() -> None:
    assert fault("anything") is False
    always(False, "not judged here")
    sometimes(True, "not counted here")


class Sleeper(Node):
    inp = Input(int, name="in")

    def on_message(self, port: str, msg: Message) -> None:
        time.sleep(0.5)


def test_real_sleep_inside_a_run_is_an_error_naming_its_caller() -> None:
    result = simulate(lambda: line(IterSource([1], name="src"), Sleeper(name="sleeper")), 0)
    assert result.failure is not None
    assert "RealTimeUsed" in result.failure
    assert "test_simulate.py" in result.failure
    assert "on_message" in result.failure
    time.sleep(0)  # (and outside, time.sleep is itself again)


class Stamps(Node):
    """Emits each value with a clock reading: a real clock's (``clock`` names it), or ``now()``."""

    inp = Input(int, name="in")
    out = Output(tuple)

    def __init__(self, clock: str | None = None, **kwargs: Any) -> None:
        self.clock = clock
        super().__init__(**kwargs)

    def on_message(self, port: str, msg: Message) -> None:
        read = self.now if self.clock is None else getattr(time, self.clock)
        self.emit("out", (msg.payload, read()))


@pytest.mark.parametrize("clock", ["time", "time_ns", "monotonic", "perf_counter"])
def test_reading_a_real_clock_in_node_code_is_an_error_naming_it(clock: str) -> None:
    result = simulate(lambda: line(IterSource([1], name="src"), Stamps(clock, name="stamps")), 0)
    assert result.failure is not None
    assert f"RealTimeUsed: time.{clock}() at " in result.failure
    assert "test_simulate.py" in result.failure
    assert "on_message" in result.failure
    assert "Node.now()" in result.failure  # (and what to use instead)
    assert time.time() > 0  # (outside, the clocks are themselves again)


class Factory(Node):
    """Installs a log record factory of its own that reads the real clock, and calls it."""

    inp = Input(int, name="in")

    def on_message(self, port: str, msg: Message) -> None:
        def factory(*args: object, **kwargs: object) -> float:
            return time.time()

        logging.setLogRecordFactory(factory)  # type: ignore[arg-type]
        logging.getLogRecordFactory()()  # type: ignore[call-arg]


def test_a_log_record_factory_a_node_installs_gets_no_pass_for_real_time() -> None:
    """Only a factory an installed library set before the run may stamp records with it."""
    before = logging.getLogRecordFactory()
    try:
        result = simulate(lambda: line(IterSource([1], name="src"), Factory(name="f")), 0)
    finally:
        logging.setLogRecordFactory(before)
    assert result.failure is not None
    assert "RealTimeUsed: time.time() at " in result.failure


class Dates(Node):
    """Reads the wall clock as a date: with no time given (refused), or with one (allowed)."""

    inp = Input(int, name="in")

    def on_message(self, port: str, msg: Message) -> None:
        time.strftime("%Y", time.localtime(0))  # (a given time: no clock read)
        time.localtime()


def test_reading_the_wall_clock_as_a_date_is_refused_and_a_given_time_is_not() -> None:
    result = simulate(lambda: line(IterSource([1], name="src"), Dates(name="dates")), 0)
    assert result.failure is not None
    assert "RealTimeUsed: time.localtime() at " in result.failure


def test_libraries_installed_beside_python_are_not_trusted_with_real_clocks() -> None:
    assert _trusted(inspect.__file__)  # (Python's own library)
    assert _trusted(run_module.__file__)  # (Arachne)
    assert not _trusted(pytest.__file__)  # (a library in site-packages, as a node's would be)
    assert not _trusted(__file__)


def test_node_now_reads_virtual_time_under_simulation() -> None:
    seen: list[tuple[int, float]] = []
    result = simulate(
        lambda: line(
            IterSource([1, 2], name="src"),
            Delay(ms=1500, name="later"),
            Stamps(name="stamps"),
            Collect(name="sink"),
        ),
        0,
        check=lambda execution: seen.extend(sink_of(execution).payloads),
    )
    assert result.ok, result.failure
    assert [value for value, _ in seen] == [1, 2]
    # (virtual seconds: released at the delay's first tick past 1.5 s, with no real wait)
    assert all(1.5 <= stamp <= result.virtual_seconds for _, stamp in seen)


def test_faults_may_be_given_per_fault_point() -> None:
    only_crashes = simulate(
        lambda: fan(20, policy="skip"), 3, faults={"node.crash": 1.0}, crashes=True, max_faults=4
    )
    assert only_crashes.coverage.fired == {"node.crash": 4}
    none = simulate(lambda: fan(20, policy="skip"), 3, faults={"node.crash": 0.0}, crashes=True)
    assert none.coverage.fired.total() == 0
    assert none.coverage.reached["node.crash"] > 0
    with pytest.raises(ValueError, match=r"nobody declared: node\.crsh; the declared ones: .*"):
        simulate(lambda: fan(5), 0, faults={"node.crsh": 0.5})
    with pytest.raises(ValueError, match=r"faults\['node\.crash'\] is a probability"):
        simulate(lambda: fan(5), 0, faults={"node.crash": 2})


class Waits(Node):
    """Waits in an async hook for something nobody will ever set."""

    inp = Input(int, name="in")
    mode = "async"

    async def on_message(self, port: str, msg: Message) -> None:  # type: ignore[override]
        await asyncio.Event().wait()


def test_a_run_that_can_never_wake_is_reported_as_stalled() -> None:
    build = lambda: line(IterSource([1], name="src"), Waits(name="waits"))  # noqa: E731
    result = simulate(build, 0, timeout=None)
    assert result.failure is not None
    assert result.failure.startswith("Stalled: ")
    # With a timeout (an hour by default) the run ends there instead, in virtual time.
    timed = simulate(build, 0)
    assert timed.failure is not None
    assert timed.failure.startswith("ExecutionTimeout")
    assert timed.virtual_seconds >= 3600


class Forever(Node):
    """A source that never finishes and never waits."""

    out = Output(int)
    keep_alive = True

    def on_tick(self) -> None:
        self.emit("out", 1)


def test_a_run_whose_time_stands_still_is_cut_off_as_a_livelock() -> None:
    result = simulate(lambda: line(Forever(name="forever"), Collect("sink")), 0, max_steps=500)
    assert result.failure is not None
    assert "Livelock" in result.failure


def test_the_virtual_loop_refuses_to_go_back() -> None:
    loop = SimLoop(start=10.0)
    try:
        assert loop.time() == 10.0
        loop.advance(2.5)
        assert loop.time() == 12.5
        with pytest.raises(ValueError, match="cannot go back"):
            loop.advance(-1)
    finally:
        loop.close()
    assert issubclass(Stalled, RuntimeError)
    assert issubclass(Livelock, RuntimeError)


def test_a_retry_back_off_is_waited_in_virtual_time() -> None:
    tries: list[float] = []

    def flaky(x: int) -> int:
        tries.append(asyncio.get_event_loop().time())
        if len(tries) < 3:
            raise ValueError("not yet")
        return x

    def build() -> Subgraph:
        stage = node(
            flaky,
            name="flaky",
            inputs={"in": int},
            outputs={"out": int},
            error_policy=Retry(max_attempts=5, backoff=30.0, jitter=0.0),
        )
        return line(IterSource([1], name="src"), stage(), Collect("sink"))

    result = simulate(build, 0)
    assert result.ok
    assert result.virtual_seconds >= 60  # two back-offs of 30 s or more
    assert tries[2] - tries[0] >= 60


def test_what_a_scheduled_callback_raises_fails_the_run() -> None:
    def broken(execution: Execution, loop: SimLoop, rng: Any) -> None:
        loop.call_later(0.0001, lambda: execution.request_stop(True))  # type: ignore[misc]

    result = simulate(lambda: fan(5), 0, during=broken)
    assert result.failure is not None
    assert result.failure.startswith("a callback failed: ")
    assert "TypeError" in result.failure


def squeezed() -> Subgraph:
    """A source held back by a one-message edge into a slow node: backpressure on every item."""
    g = Subgraph()
    g.add_node(IterSource(range(40), name="src"))
    g.add_node(Delay(ms=20, name="slow"))
    g.add_node(Collect(name="sink"))
    g.connect(("src", "out"), ("slow", "in"), capacity=1)
    g.connect(("slow", "out"), ("sink", "in"))
    return g


def test_a_run_under_backpressure_reproduces_its_trace() -> None:
    # BackpressureEnded says how long a producer was blocked, measured on the real clock:
    # the trace leaves it out, so a seed gives one trace whatever the machine's speed.
    explored = explore(squeezed, range(10), twice=True)
    assert explored.unreproducible == []
    assert all(result.ok for result in explored.results)
