"""Regression tests for the reliability probes: no silent loss, no hang, no unbounded growth.

Each test names the probe it answers (issue 10's list). Time is a ``FakeClock`` wherever the
runtime's clock is what matters; the tests that need real threads or a child process wait on
events with timeouts, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from arachne import (
    DeadLetters,
    ErrorRecord,
    ExecutionError,
    GraphError,
    Input,
    IterSource,
    Message,
    Node,
    NodeFailed,
    Output,
    Retry,
    Runtime,
    Subgraph,
    node,
)
from arachne.components.builtins import Accumulator, Delay
from arachne.runtime import ExecutionState, FakeClock
from arachne.runtime.events import ExecutionStateChanged
from tests.runtime.nodes import Collect

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0  # real seconds a test waits for something that should take milliseconds


def source_into(unit: Node, name: str, n: int) -> Runtime:
    """A runtime whose graph feeds 0..n-1 from ``source`` into ``unit``'s ``in`` port."""
    graph = Subgraph()
    graph.add_node(IterSource(range(n), schema=int, name="source"))
    graph.add_node(unit, name=name)
    graph.connect(("source", "out"), (name, "in"))
    runtime = Runtime()
    runtime.register(graph)
    return runtime


def run_graph(graph: Subgraph, clock: FakeClock | None = None) -> Runtime:
    runtime = Runtime(clock=clock) if clock is not None else Runtime()
    runtime.register(graph)
    runtime.run()
    return runtime


# -- 1. an idle source does not end the run ---------------------------------------------------


class Arrivals(Node):
    """Polls for data that arrives every ``gap`` seconds of the clock; finishes after ``n``."""

    out = Output(int)

    def __init__(self, clock: FakeClock, n: int, gap: float, cadence: float | None) -> None:
        self.clock, self.n, self.gap = clock, n, gap
        self.cadence = cadence  # type: ignore[misc]  # per-instance override
        self.sent = 0
        self.empty_polls = 0

    def on_tick(self) -> None:
        arrived = min(self.n, int(self.clock.now() / self.gap) + 1)
        if self.sent == arrived:
            self.empty_polls += 1
        while self.sent < arrived:
            self.emit("out", self.sent)
            self.sent += 1
        if self.sent == self.n:
            self.finish()


@pytest.mark.parametrize("cadence", [0.001, 0.0])
def test_a_polling_source_that_finds_nothing_yet_keeps_the_run_open(cadence: float) -> None:
    clock = FakeClock()
    source = Arrivals(clock, n=200, gap=0.005, cadence=cadence)
    graph = Subgraph()
    graph.add_node(source, name="poll")
    sink = Collect()
    graph.add_node(sink, name="sink")
    graph.connect(("poll", "out"), ("sink", "in"))
    run_graph(graph, clock)
    assert sink.payloads == list(range(200))  # every item, although most polls found none
    assert source.empty_polls > 0


def test_a_keep_alive_source_without_cadence_keeps_the_run_open() -> None:
    clock = FakeClock()
    source = Arrivals(clock, n=20, gap=0.005, cadence=None)
    source.keep_alive = True  # type: ignore[misc]  # "idle, not done"
    graph = Subgraph()
    graph.add_node(source, name="poll")
    sink = Collect()
    graph.add_node(sink, name="sink")
    graph.connect(("poll", "out"), ("sink", "in"))
    run_graph(graph, clock)
    assert sink.payloads == list(range(20))


class Silent(Node):
    """A timed source that emits ``n`` values and then nothing, never calling finish()."""

    out = Output(int)
    cadence = 0.01

    def __init__(self, n: int) -> None:
        self.n, self.sent = n, 0

    def on_tick(self) -> None:
        if self.sent < self.n:
            self.emit("out", self.sent)
            self.sent += 1


def waiting_sink() -> tuple[Runtime, Collect]:
    """A runtime whose graph waits (a silent timed source) with a sink fed only by inject."""
    graph = Subgraph()
    graph.add_node(Silent(0), name="silent")
    sink = Collect()
    graph.add_node(sink, name="sink")
    graph.connect(("silent", "out"), ("sink", "in"))
    runtime = Runtime()
    runtime.register(graph)
    return runtime, sink


def test_a_silent_timed_source_runs_until_stopped_and_then_completes() -> None:
    seen = threading.Event()

    class Sink(Collect):
        def on_message(self, port: str, msg: Message) -> None:
            super().on_message(port, msg)
            if len(self.payloads) == 3:
                seen.set()

    graph = Subgraph()
    graph.add_node(Silent(3), name="silent")
    sink = Sink()
    graph.add_node(sink, name="sink")
    graph.connect(("silent", "out"), ("sink", "in"))
    runtime = Runtime()
    runtime.register(graph)
    execution = runtime.start()
    assert seen.wait(WAIT)
    assert not execution.wait(0.05)  # silent, not done: still running
    runtime.stop(timeout=WAIT)
    assert execution.state is ExecutionState.COMPLETED
    assert sink.payloads == [0, 1, 2]


def test_a_source_without_cadence_still_ends_when_it_falls_silent() -> None:
    """The blueprint's hello graph: its producer just stops emitting."""

    class Producer(Node):
        out = Output(int)

        def __init__(self) -> None:
            self.i = 0

        def on_tick(self) -> None:
            if self.i < 3:
                self.emit("out", self.i)
                self.i += 1

    graph = Subgraph()
    graph.add_node(Producer(), name="producer")
    sink = Collect()
    graph.add_node(sink, name="sink")
    graph.connect(("producer", "out"), ("sink", "in"))
    runtime = run_graph(graph, FakeClock())
    assert runtime.execution.state is ExecutionState.COMPLETED
    assert sink.payloads == [0, 1, 2]


# -- 4. a blocked thread or process call can be cancelled, and the interpreter exits ----------


BLOCKED_SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    from arachne import Input, IterSource, Node, Runtime, Subgraph
    from tests.runtime.modes_functions import hang_process

    class Hang(Node):
        inp = Input(int, name="in")
        mode = "thread"
        def on_message(self, port, msg):
            print("called", flush=True)
            threading.Event().wait()  # for ever

    mode = sys.argv[1]
    g = Subgraph()
    g.add_node(IterSource(range(3), schema=int, name="source"))
    g.add_node(Hang() if mode == "thread" else hang_process(), name="hang")
    g.connect(("source", "out"), ("hang", "in"))
    rt = Runtime()
    rt.register(g)
    ex = rt.start()
    if mode == "thread":
        assert sys.stdin.readline()  # the parent saw "called"
    else:
        time.sleep(1.0)  # a spawned worker takes a moment to start
    rt.stop(drain=False, timeout=10)
    print("state", ex.state.value, flush=True)
    """
)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_call_blocked_for_ever_is_cancelled_and_the_process_exits(mode: str) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", BLOCKED_SCRIPT, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        if mode == "thread":
            assert proc.stdout.readline().strip() == "called"
            proc.stdin.write("go\n")
            proc.stdin.flush()
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "state cancelled" in out
    assert proc.returncode == 0


# -- 5. on_finish raising off the loop fails the run instead of hanging it --------------------


@pytest.mark.parametrize("mode", ["async", "thread"])
def test_on_finish_raising_in_async_or_thread_mode_fails_the_run(mode: str) -> None:
    class Fails(Node):
        inp = Input(int, name="in")

        def on_message(self, port: str, msg: Message) -> None:
            pass

        def on_finish(self) -> None:
            raise ValueError("cannot flush")

    Fails.mode = mode  # type: ignore[assignment]
    runtime = source_into(Fails(), "fails", 5)
    execution = runtime.start()
    assert execution.wait(WAIT)
    assert execution.state is ExecutionState.FAILED
    with pytest.raises(NodeFailed, match="cannot flush") as caught:
        execution.raise_if_failed()
    assert caught.value.node_id == "fails"


# -- 3. a control call is applied after the current activation, whatever else runs ------------


def test_a_change_for_one_execution_waits_for_one_activation_of_a_busy_neighbour() -> None:
    """A busy execution makes way once something is asked of another on the same loop."""
    runtime = Runtime()
    quiet = Subgraph()
    quiet.add_node(Silent(0), name="silent")
    quiet.add_node(Collect(), name="sink")
    quiet.connect(("silent", "out"), ("sink", "in"))
    target = runtime.open_execution(quiet)
    after: list[int] = []

    class Asker(Node):
        inp = Input(int, name="in")

        def __init__(self) -> None:
            self.n = 0

        def on_message(self, port: str, msg: Message) -> None:
            self.n += 1
            if self.n == 10:
                target.pause()  # from this loop's thread: queued for the other execution
            elif self.n > 10 and target.state is ExecutionState.PAUSED and not after:
                after.append(self.n - 10)
                self.request_stop(drain=False)

    busy = Subgraph()
    busy.add_node(IterSource(iter(int, 1), schema=int, name="source"))  # endless zeros
    busy.add_node(Asker(), name="asker")
    busy.connect(("source", "out"), ("asker", "in"))
    runtime.launch(target)
    asking = runtime.launch(runtime.open_execution(busy))
    assert asking.wait(WAIT)
    runtime.stop(drain=False, timeout=WAIT)
    assert after, "the pause was never applied"
    assert after[0] <= 256  # the rest of the asker's activation at most (its quantum)


# -- 14. a call that hangs is noticed: the node's timeout ------------------------------------


def timeout_graph(hang: Node, n: int = 4) -> tuple[Subgraph, Collect, DeadLetters]:
    graph = Subgraph()
    graph.add_node(IterSource(range(n), schema=int, name="source"))
    graph.add_node(hang, name="hang")
    sink, letters = Collect(), DeadLetters()
    graph.add_node(sink, name="sink")
    graph.add_node(letters, name="letters")
    graph.connect(("source", "out"), ("hang", "in"))
    graph.connect(("hang", "out"), ("sink", "in"))
    graph.connect(("hang", "error"), ("letters", "in"))
    return graph, sink, letters


def test_a_thread_call_past_its_timeout_goes_to_the_error_policy() -> None:
    release = threading.Event()

    class Hang(Node):
        inp = Input(int, name="in")
        out = Output(int)
        mode = "thread"
        timeout = 0.05
        error_policy = "dead_letter"

        def on_message(self, port: str, msg: Message) -> None:
            if msg.payload == 1:
                self.emit("out", -1)  # emitted by a call that is then abandoned: never sent
                release.wait(WAIT)  # hangs until the test ends
            self.emit("out", msg.payload)

    graph, sink, letters = timeout_graph(Hang())
    try:
        runtime = run_graph(graph)
    finally:
        release.set()
    assert sink.payloads == [0, 2, 3]
    [record] = letters.records
    assert (record.payload, record.error_type) == (1, "TimeoutError")
    assert "timeout (0.05 s)" in record.error
    assert runtime.execution.state is ExecutionState.COMPLETED


def test_an_async_call_past_its_timeout_is_cancelled_and_retried() -> None:
    calls: list[int] = []

    @node(timeout=0.05, error_policy=Retry(max_attempts=2, backoff=0.0))
    async def slow_once(x: int) -> int:
        calls.append(x)
        if calls.count(x) == 1 and x == 2:
            await asyncio.sleep(3600)  # cancelled at the timeout
        return x * 10

    graph = Subgraph()
    graph.add_node(IterSource(range(4), schema=int, name="source"))
    graph.add_node(slow_once(), name="slow")
    sink = Collect()
    graph.add_node(sink, name="sink")
    graph.connect(("source", "out"), ("slow", "in"))
    graph.connect(("slow", "out"), ("sink", "in"))
    run_graph(graph)
    assert sink.payloads == [0, 10, 20, 30]
    assert calls == [0, 1, 2, 2, 3]


def test_a_timeout_on_an_inline_node_is_refused_with_the_fix() -> None:
    class Inline(Node):
        inp = Input(int, name="in")
        timeout = 1.0

    graph = Subgraph()
    graph.add_node(IterSource(range(1), schema=int, name="source"))
    graph.add_node(Inline(), name="inline")
    graph.connect(("source", "out"), ("inline", "in"))
    with pytest.raises(ValueError, match="needs mode 'async', 'thread' or 'process'"):
        graph.to_graph()
    with pytest.raises(ValueError, match="number of seconds > 0"):
        node(timeout=0)(lambda x: x)


# -- 11. replay is all or nothing -------------------------------------------------------------


def test_replay_with_one_foreign_record_replays_none_and_says_which() -> None:
    runtime, sink = waiting_sink()
    execution = runtime.execution
    good = ErrorRecord("sink", "in", "ValueError", "bad", 1, 1)
    foreign = ErrorRecord("elsewhere", "in", "ValueError", "bad", 1, 2)
    with pytest.raises(GraphError, match="record 1 cannot be replayed, so none was"):
        execution.replay([good, foreign, good])
    assert execution.replay([good, good]) == 2
    runtime.start()
    runtime.stop(timeout=WAIT)
    assert sink.payloads == [1, 1]  # the two of the second call; none of the first


# -- beyond: injecting into a paused execution is held back, not queued without end ----------


def test_inject_into_a_paused_execution_waits_for_room_then_times_out() -> None:
    from arachne.runtime.injection import INJECT_LOOK, MAX_BACKPRESSURE_QUEUE

    runtime, sink = waiting_sink()
    running = threading.Event()
    runtime.subscribe(lambda event: event.new == "running" and running.set(), ExecutionStateChanged)
    execution = runtime.start()
    assert running.wait(WAIT)
    execution.pause()

    def inject_all() -> int:
        for i in range(3 * MAX_BACKPRESSURE_QUEUE):
            try:
                execution.inject("sink", "in", i, timeout=0.05)
            except TimeoutError as exc:
                assert "still wait to be taken" in str(exc)  # noqa: PT017
                return i
        return 3 * MAX_BACKPRESSURE_QUEUE

    sent = inject_all()
    assert MAX_BACKPRESSURE_QUEUE <= sent <= MAX_BACKPRESSURE_QUEUE + INJECT_LOOK
    execution.resume()
    runtime.stop(timeout=WAIT)
    assert sink.payloads == list(range(sent))  # what was accepted is delivered, in order


# -- 2. timers fire while other nodes stay ready ------------------------------------------------


class Work(Node):
    """Always ready: each message costs ``cost`` seconds of the fake clock."""

    inp = Input(int, name="in")

    def __init__(self, clock: FakeClock, cost: float = 0.002) -> None:
        self.clock, self.cost = clock, cost

    def on_message(self, port: str, msg: Message) -> None:
        if self.clock.now() > 60:
            raise RuntimeError("still busy after 60 fake seconds: the timer never fired")
        self.clock.advance(self.cost)


def with_steady_load(graph: Subgraph, clock: FakeClock) -> None:
    """Add an endless source feeding ``Work``: the ready queue is never empty."""
    graph.add_node(IterSource(iter(int, 1), schema=int, name="load"))
    graph.add_node(Work(clock), name="work")
    graph.connect(("load", "out"), ("work", "in"))


def test_a_retry_backoff_is_kept_under_steady_load() -> None:
    clock = FakeClock()
    attempts: list[float] = []

    class FailsOnce(Node):
        inp = Input(int, name="in")
        error_policy = Retry(max_attempts=2, backoff=0.05)

        def on_message(self, port: str, msg: Message) -> None:
            attempts.append(clock.now())
            if len(attempts) == 1:
                raise ValueError("transient")
            self.request_stop(drain=False)

    graph = Subgraph()
    with_steady_load(graph, clock)
    graph.add_node(IterSource([1], schema=int, name="one"))
    graph.add_node(FailsOnce(), name="flaky")
    graph.connect(("one", "out"), ("flaky", "in"))
    run_graph(graph, clock)
    assert len(attempts) == 2
    assert 0.05 <= attempts[1] - attempts[0] <= 0.05 + 0.0025  # one busy activation at most


def test_a_delay_releases_on_time_under_steady_input() -> None:
    clock = FakeClock()
    lateness: list[float] = []

    class Stamped(Node):
        out = Output(float)

        def on_tick(self) -> None:
            clock.advance(0.0001)  # a value every 0.1 ms, for ever
            self.emit("out", clock.now())

    class Late(Node):
        inp = Input(float, name="in")

        def on_message(self, port: str, msg: Message) -> None:
            lateness.append(clock.now() - msg.payload)
            if len(lateness) == 2_000:
                self.request_stop(drain=False)

    graph = Subgraph()
    graph.add_node(Stamped(), name="stamped")
    delay = Delay(ms=10)
    graph.add_node(delay, name="delay")
    graph.add_node(Late(), name="late")
    graph.connect(("stamped", "out"), ("delay", "in"))
    graph.connect(("delay", "out"), ("late", "in"))
    run_graph(graph, clock)
    assert len(lateness) == 2_000
    assert min(lateness) >= 0.010
    assert max(lateness) <= 0.010 + 2 * 0.001 + 0.001  # ms + two tick steps + a slice


def test_a_raising_on_tick_surfaces_under_steady_load() -> None:
    clock = FakeClock()

    class Broken(Node):
        out = Output(int)
        cadence = 0.01

        def on_tick(self) -> None:
            raise RuntimeError("tick failed")

    graph = Subgraph()
    with_steady_load(graph, clock)
    graph.add_node(Broken(), name="broken")
    with pytest.raises(NodeFailed, match="tick failed") as caught:
        run_graph(graph, clock)
    assert caught.value.node_id == "broken"
    assert clock.now() <= 0.01 + 0.0025


# -- 6. shutdown with a timeout ends even what cannot drain ------------------------------------


def test_shutdown_cancels_what_does_not_drain_within_its_timeout() -> None:
    release = threading.Event()
    entered = threading.Event()

    class Stuck(Node):
        inp = Input(int, name="in")
        mode = "thread"

        def on_message(self, port: str, msg: Message) -> None:
            entered.set()
            release.wait(WAIT)

    runtime = source_into(Stuck(), "stuck", 3)
    execution = runtime.start()
    try:
        assert entered.wait(WAIT)
        assert runtime.shutdown(timeout=0.2)  # the drain waits on the stuck call: cancelled
        assert execution.state is ExecutionState.CANCELLED
    finally:
        release.set()


def test_the_documented_window_keeps_at_most_its_limit_under_a_flood() -> None:
    """docs/runtime.md, "Nodes that keep values": hold_input bounds what a node keeps."""
    clock = FakeClock()
    most = 0

    class Window(Node):
        cadence = 0.1
        inp = Input(int, name="in")
        out = Output(list)

        def __init__(self, limit: int = 1_000) -> None:
            self.limit, self.kept = limit, []

        def on_message(self, port: str, msg: Message) -> None:
            nonlocal most
            self.kept.append(msg.payload)
            most = max(most, len(self.kept))
            if len(self.kept) >= self.limit:
                self.hold_input()

        def on_tick(self) -> None:
            if self.kept:
                self.emit("out", self.kept)
                self.kept = []
            self.hold_input(False)

    class Batches(Node):
        inp = Input(list, name="in")

        def __init__(self) -> None:
            self.values = 0

        def on_message(self, port: str, msg: Message) -> None:
            self.values += len(msg.payload)
            if self.values >= 20_000:
                self.request_stop(drain=False)

    graph = Subgraph()
    graph.add_node(IterSource(iter(int, 1), schema=int, name="flood"))
    graph.add_node(Window(), name="window")
    batches = Batches()
    graph.add_node(batches, name="batches")
    graph.connect(("flood", "out"), ("window", "in"))
    graph.connect(("window", "out"), ("batches", "in"))
    run_graph(graph, clock)
    assert batches.values >= 20_000
    assert 1_000 <= most <= 1_000 + 256


# -- review findings -----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: Delay(ms=10), lambda: Accumulator(interval_ms=10)])
def test_a_timed_node_fed_only_by_inject_completes(make: Any) -> None:
    """A node with input ports and a cadence is not a polling source, linked or not."""
    graph = Subgraph()
    graph.add_node(make(), name="timed")
    sink = Collect()
    graph.add_node(sink, name="sink")
    graph.connect(("timed", "out"), ("sink", "in"))
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    for i in range(3):
        runtime.execution.inject("timed", "in", i)
    runtime.run()
    assert runtime.execution.state is ExecutionState.COMPLETED
    assert sink.payloads in ([0, 1, 2], [[0, 1, 2]])


def test_inject_into_an_ended_execution_raises_instead_of_queuing_for_nobody() -> None:
    class Fails(Node):
        inp = Input(int, name="in")

        def on_message(self, port: str, msg: Message) -> None:
            raise ValueError("no")

    graph = Subgraph()
    graph.add_node(Silent(0), name="silent")
    graph.add_node(Fails(), name="fails")
    graph.connect(("silent", "out"), ("fails", "in"))
    runtime = Runtime()
    runtime.register(graph)
    execution = runtime.execution
    execution.inject("fails", "in", 1)
    runtime.start()
    assert execution.wait(WAIT)
    assert execution.state is ExecutionState.FAILED  # its nodes never finished
    with pytest.raises(ExecutionError, match="has ended \\(failed\\)"):
        execution.inject("fails", "in", 2)


def test_an_async_call_that_ignores_its_cancel_still_lands_at_its_timeout() -> None:
    class Stubborn(Node):
        inp = Input(int, name="in")
        out = Output(int)
        concurrency = 3
        timeout = 0.05
        error_policy = "dead_letter"

        async def on_message(self, port: str, msg: Message) -> None:
            if msg.payload == 4:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    await asyncio.sleep(0.2)  # ignores the cancel for a while
                    self.emit("out", -1)  # too late: goes nowhere
                    return
            self.emit("out", msg.payload)

    graph, sink, letters = timeout_graph(Stubborn(), n=8)
    run_graph(graph)
    assert sink.payloads == [0, 1, 2, 3, 5, 6, 7]  # in order, the late one left out
    assert [(r.payload, r.error_type) for r in letters.records] == [(4, "TimeoutError")]


def test_a_node_holding_its_input_with_nothing_to_release_it_is_a_stall_not_a_hang() -> None:
    class HoldsForEver(Node):
        inp = Input(int, name="in")

        def on_message(self, port: str, msg: Message) -> None:
            self.hold_input()  # and no ticks to let go

    graph = Subgraph()
    graph.add_node(IterSource(range(5), schema=int, name="source"))
    graph.add_node(HoldsForEver(), name="holds")
    graph.connect(("source", "out"), ("holds", "in"))
    with pytest.raises(ExecutionError, match="stalled with unfinished nodes: holds"):
        run_graph(graph, FakeClock())


def test_a_written_off_thread_worker_is_replaced_for_calls_queued_behind_it() -> None:
    from arachne.runtime.pools import DaemonThreadPool

    pool = DaemonThreadPool(1, "test")
    release = threading.Event()
    try:
        hung = pool.submit(release.wait, WAIT)
        queued = pool.submit(lambda: "served")
        assert not queued.done()
        pool.write_off()  # the hung call is given up: its worker no longer counts
        assert queued.result(WAIT) == "served"
    finally:
        release.set()
        pool.shutdown(wait=True)
    assert hung.result(WAIT) is True


def test_a_cancel_ends_the_execution_though_a_coroutine_ignores_it() -> None:
    from arachne.runtime.execution import TASK_GRACE

    entered = threading.Event()

    class Stubborn(Node):
        inp = Input(int, name="in")

        async def on_message(self, port: str, msg: Message) -> None:
            entered.set()
            while True:  # swallows every cancel
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(3600)

    runtime = source_into(Stubborn(), "stubborn", 2)
    execution = runtime.start()
    assert entered.wait(WAIT)
    execution.request_stop(drain=False)
    assert execution.wait(TASK_GRACE + WAIT)
    assert execution.state is ExecutionState.CANCELLED
    assert runtime.shutdown(timeout=WAIT)


def test_a_cadence_zero_node_holding_its_injected_input_is_a_stall_not_a_hang() -> None:
    class Holds(Node):
        inp = Input(int, name="in")
        cadence = 0

        def on_message(self, port: str, msg: Message) -> None:
            self.hold_input()

        def on_tick(self) -> None:
            self.hold_input(False)

    graph = Subgraph()
    graph.add_node(Holds(), name="holds")
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    for i in range(3):
        runtime.execution.inject("holds", "in", i)
    with pytest.raises(ExecutionError, match="stalled with unfinished nodes: holds"):
        runtime.run()
