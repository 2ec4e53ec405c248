"""The gate: changes applied and snapshots read on the execution's loop, from any thread."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from typing import Any

import pytest

from arachne import GraphError, Input, IterSource, Message, Node, Output, Runtime, Subgraph, node
from arachne.runtime import ExecutionStats, FakeClock
from arachne.runtime.events import ExecutionStateChanged, NodeStopped
from arachne.runtime.gate import Gate

# -- stats() from another thread during a long run (the acceptance test) --------------

N = 1_000_000


@node
def double(x: int) -> int:
    return 2 * x


@node
def inc(x: int) -> int:
    return x + 1


@node(filter=True)
def not_div3(x: int) -> bool:
    return x % 3 != 0


class Relay(Node):
    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload)


class Sum(Node):
    inp = Input(int, name="in")

    def __init__(self) -> None:
        self.total = self.count = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.total += msg.payload
        self.count += 1


def pipeline(n: int) -> tuple[Subgraph, Sum]:
    """``src -> double -> inc -> not_div3`` (one fused chain) ``-> relay -> sum`` (two edges)."""
    sink = Sum()
    graph = Subgraph()
    units = [IterSource(range(n), name="src"), double(), inc(), not_div3(), Relay(), sink]
    for unit in units:
        graph.add_node(unit)
    for a, b in itertools.pairwise(units):
        graph.connect((a.name(), "out"), (b.name(), "in"))
    return graph, sink


def check_snapshot(snap: ExecutionStats) -> None:
    for e in snap.edges.values():
        assert e.offered == e.dequeued + e.dropped + e.coalesced + e.failed + e.depth, e
        assert 0 <= e.depth <= e.capacity, e
        assert e.enqueued >= e.dequeued, e
        # Every node here has one input and one output edge, and nothing is dropped: a torn
        # read (a node counted before a turn, its edge after) would break these.
        assert snap.nodes[e.source].emitted == e.offered, e
        assert snap.nodes[e.target].received == e.dequeued, e


def check_monotone(before: ExecutionStats, after: ExecutionStats) -> None:
    for edge_id, e in after.edges.items():
        old = before.edges[edge_id]
        assert old.offered <= e.offered, (old, e)
        assert old.dequeued <= e.dequeued, (old, e)
    for node_id, n in after.nodes.items():
        old_node = before.nodes[node_id]
        assert old_node.received <= n.received, (old_node, n)
        assert old_node.emitted <= n.emitted, (old_node, n)


@pytest.mark.slow
def test_stats_from_another_thread_during_a_million_message_run_are_consistent() -> None:
    graph, sink = pipeline(N)
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.execution
    snaps: list[ExecutionStats] = []
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            while not ex.done:
                snaps.append(ex.stats())
            snaps.append(ex.stats())
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)

    reader = threading.Thread(target=hammer)
    runtime.start()
    reader.start()
    try:
        assert runtime.wait(120)
        reader.join(120)
    finally:
        runtime.shutdown(10)
    assert not errors
    ex.raise_if_failed()
    assert ex.state.value == "completed"
    assert {e.fused for e in snaps[-1].edges.values()} == {True, False}  # fused and real hops

    expected = [2 * x + 1 for x in range(N) if (2 * x + 1) % 3]
    assert (sink.count, sink.total) == (len(expected), sum(expected))

    running = [snap for snap in snaps if snap.state == "running"]
    assert len(running) > 10
    for snap in snaps:
        check_snapshot(snap)
    for before, after in itertools.pairwise(snaps):
        check_monotone(before, after)
    final = snaps[-1]
    assert final.state == "completed"
    assert final.nodes["sum"].received == len(expected)
    assert all(e.depth == 0 for e in final.edges.values())


def test_stats_writes_nothing() -> None:
    """Two snapshots with nothing run in between are equal: before, during (in a hook), after."""
    graph, _ = pipeline(100)
    runtime = Runtime(clock=FakeClock())
    seen: list[tuple[ExecutionStats, ExecutionStats]] = []

    class Peek(Node):
        inp = Input(int, name="in")

        def __init__(self) -> None:
            self.count = 0

        def on_message(self, port: str, msg: Message) -> None:
            self.count += 1
            if self.count == 5:
                # On the loop's thread a read runs at once (waiting would deadlock).
                seen.append((runtime.stats(), runtime.stats()))

    graph.add_node(Peek())
    graph.connect(("relay", "out"), ("peek", "in"))
    runtime.register(graph)
    before = runtime.stats()
    assert before == runtime.stats()
    assert before.state == "pending"
    assert before.activations == 0
    runtime.run()
    assert len(seen) == 1
    first, second = seen[0]
    assert first == second
    assert first.state == "running"
    assert first.nodes["peek"].received >= 1
    after = runtime.stats()
    assert after == runtime.stats()
    assert after.state == "completed"
    assert after.nodes["peek"].received == after.nodes["sum"].received == 67


# -- apply, submit, read: the Gate itself ----------------------------------------------------


def test_before_the_loop_opens_changes_and_reads_run_at_once_in_the_caller() -> None:
    gate = Gate()
    here = threading.get_ident()
    ran: list[int] = []
    gate.apply(lambda: ran.append(threading.get_ident()))
    assert ran == [here]
    future = gate.submit(lambda: 42)
    assert future.done()
    assert future.result() == 42
    failing = gate.submit(lambda: 1 // 0)
    assert isinstance(failing.exception(), ZeroDivisionError)
    assert gate.read(threading.get_ident) == here
    assert not gate.running
    assert not gate.pending
    assert not gate.inbox


async def test_wait_needs_an_open_gate() -> None:
    with pytest.raises(RuntimeError, match="not open"):
        await Gate().wait(FakeClock(), None, busy=False)


async def test_a_change_from_another_thread_runs_on_the_loop_and_then_resolves_its_future() -> None:
    gate = Gate()
    gate.open()
    loop_thread = threading.get_ident()
    ran: list[int] = []

    def change() -> str:
        ran.append(threading.get_ident())
        return "done"

    waiter = asyncio.create_task(gate.wait(FakeClock(autojump=False), None, busy=False))
    await asyncio.sleep(0)
    assert not waiter.done()
    future = await asyncio.to_thread(gate.submit, change)
    # Queued, the scheduler told (pending) and woken; nothing ran yet.
    assert gate.pending
    assert not future.done()
    assert ran == []
    await asyncio.wait_for(waiter, 10)  # a guard against a hang, not a timing claim
    gate.run_inbox()
    assert future.result(timeout=0) == "done"
    assert ran == [loop_thread]
    assert not gate.pending
    gate.close()


async def test_a_failed_change_comes_back_through_its_future_and_the_next_still_runs() -> None:
    gate = Gate()
    gate.open()

    def boom() -> None:
        raise ValueError("bad change")

    failing = await asyncio.to_thread(gate.submit, boom)
    cancelled = await asyncio.to_thread(gate.submit, lambda: pytest.fail("was cancelled"))
    later = await asyncio.to_thread(gate.submit, lambda: "after")
    assert cancelled.cancel()
    gate.run_inbox()
    with pytest.raises(ValueError, match="bad change"):
        failing.result(timeout=0)
    assert later.result(timeout=0) == "after"
    gate.close()


async def test_a_change_applied_on_the_loop_waits_for_the_scheduler() -> None:
    """On the loop (from inside a hook) a change queues too: the turn is never cut in two."""
    gate = Gate()
    gate.open()
    ran: list[str] = []
    gate.apply(lambda: ran.append("change"))
    assert ran == []
    assert gate.pending
    gate.run_inbox()
    assert ran == ["change"]
    gate.close()


async def test_a_read_on_the_loop_thread_runs_at_once() -> None:
    gate = Gate()
    gate.open()
    # Had it waited for the loop's next yield, this call would never return.
    assert gate.read(threading.get_ident) == threading.get_ident()
    gate.close()


async def test_a_read_from_another_thread_runs_on_the_loop() -> None:
    gate = Gate()
    gate.open()
    assert await asyncio.to_thread(gate.read, threading.get_ident) == threading.get_ident()
    gate.close()


async def test_changes_still_queued_when_the_loop_ends_are_run_by_close() -> None:
    gate = Gate()
    gate.open()
    ran: list[str] = []
    await asyncio.to_thread(gate.apply, lambda: ran.append("queued"))
    assert ran == []
    gate.close()
    assert ran == ["queued"]
    assert not gate.running
    gate.apply(lambda: ran.append("after"))  # no loop any more: at once
    assert ran == ["queued", "after"]


# -- the gate of an execution ----------------------------------------------------------------


class Waiting(Node):
    """A keep-alive source that emits nothing: the run stays open until it is stopped."""

    keep_alive = True
    out = Output(int)


def test_a_failed_change_to_a_running_execution_raises_in_the_caller_and_the_run_goes_on() -> None:
    graph = Subgraph()
    sink = Sum()
    graph.add_node(Waiting())
    graph.add_node(sink)
    graph.connect(("waiting", "out"), ("sum", "in"), id="feed")
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.execution
    running = threading.Event()
    ex.subscribe(
        lambda event: running.set() if event.new == "running" else None, ExecutionStateChanged
    )
    runtime.start()
    try:
        assert running.wait(30)
        with pytest.raises(GraphError, match="nope"):
            ex.connect(("nope", "out"), ("sum", "in"))
        assert ex.state.value == "running"
        ex.set_capacity("feed", 7)
        ex.inject("sum", "in", 5)
        ex.request_stop()
        assert ex.wait(30)
    finally:
        runtime.shutdown(10)
    ex.raise_if_failed()
    assert ex.state.value == "completed"
    assert ex.stats().edges["feed"].capacity == 7
    assert (sink.count, sink.total) == (1, 5)


def test_changes_before_start_and_after_the_end_apply_at_once() -> None:
    graph, sink = pipeline(10)
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    ex = runtime.execution
    edge_id = "relay.out->sum.in"
    ex.set_capacity(edge_id, 3)
    assert ex.stats().edges[edge_id].capacity == 3
    runtime.run()
    assert sink.count == 7
    ex.set_capacity(edge_id, 5)
    assert ex.stats().edges[edge_id].capacity == 5
    assert ex.graph.links[edge_id].capacity == 5


async def test_a_change_that_raises_when_its_turn_comes_is_logged_and_the_rest_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = Gate()
    gate.open()
    ran: list[str] = []

    def broken() -> None:
        raise GraphError("the edge went away meanwhile")

    gate.apply(broken)
    gate.apply(lambda: ran.append("after"))
    with caplog.at_level(logging.ERROR, logger="arachne.runtime"):
        gate.run_inbox()
    assert ran == ["after"]
    assert "a change to a running execution failed and was dropped" in caplog.text
    assert "the edge went away meanwhile" in caplog.text
    gate.close()


async def test_a_change_applied_on_the_loop_wakes_a_waiting_scheduler() -> None:
    # A signal handler or a coroutine beside the run changes it while the scheduler waits.
    gate = Gate()
    gate.open()
    waiting = asyncio.ensure_future(gate.wait(FakeClock(), None, busy=False))
    await asyncio.sleep(0)
    assert not waiting.done()
    gate.apply(lambda: None)
    await asyncio.wait_for(waiting, 10)
    gate.close()


class Poller(Node):
    """Polls once an hour: the scheduler spends the run waiting for its timer."""

    cadence = 3600.0
    out = Output(int)

    def on_tick(self) -> None:
        self.emit("out", 1)


async def test_a_stop_asked_for_on_the_loop_thread_ends_a_waiting_run() -> None:
    runtime = Runtime()
    runtime.register(Poller())
    ex = runtime.execution
    running = asyncio.Event()
    ex.subscribe(
        lambda event: running.set() if event.new == "running" else None, ExecutionStateChanged
    )
    run = asyncio.ensure_future(runtime.run_async())
    await asyncio.wait_for(running.wait(), 10)
    ex.request_stop()  # from the loop's own thread, as an aiohttp handler would
    await asyncio.wait_for(run, 10)
    assert ex.state.value == "completed"


class LateAsker(Node):
    """A thread-mode node whose first call, once released, reads stats and adds a node."""

    mode = "thread"
    inp = Input(int, name="in")

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.answered = threading.Event()
        self.ex: Any = None
        self.log: list[str] = []

    def on_message(self, port: str, msg: Message) -> None:
        if msg.payload != 0:
            return
        self.entered.set()
        assert self.release.wait(30)
        try:
            self.log.append(f"stats {len(self.ex.stats().nodes)}")
            self.log.append(f"added {self.ex.add_node(Sum(), node_id='extra')}")
        finally:
            self.answered.set()


def test_a_worker_finishing_its_call_at_the_end_of_a_run_is_served() -> None:
    # The run is cancelled while a thread call is in flight; the pools are closed while that
    # call reads stats() and asks for a change, which must both be served (else: a hang).
    asker = LateAsker()
    graph = Subgraph()
    graph.add_node(IterSource(range(10), name="src"))
    graph.add_node(asker)
    graph.connect(("src", "out"), ("late_asker", "in"), capacity=4)
    runtime = Runtime()
    runtime.register(graph)
    asker.ex = ex = runtime.execution
    stopped = threading.Event()
    ex.subscribe(lambda event: stopped.set(), NodeStopped)
    runtime.start()
    try:
        assert asker.entered.wait(30)
        ex.request_stop(drain=False)
        assert stopped.wait(30)  # on_stop ran: the loop now waits for the pools to close
        asker.release.set()
        assert ex.wait(30)
    finally:
        asker.release.set()
        runtime.shutdown(10)
    assert ex.state.value == "cancelled"
    # A cancelled run does not wait for its pools: the call may still be finishing here.
    assert asker.answered.wait(30)
    assert asker.log == ["stats 2", "added extra"]
    assert "extra" in ex.graph.nodes
