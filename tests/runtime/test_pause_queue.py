"""A paused execution: nothing is activated, injected messages queue up to a bound, then the
inject edge's policy applies (``max_backpressure_queue``); resume delivers them in order."""

from __future__ import annotations

from typing import Any

import pytest

from arachne import Runtime, Subgraph
from arachne.model.errors import EdgeFull
from arachne.runtime import Execution, ExecutionState
from arachne.runtime.injection import INJECT_LOOK
from tests.runtime.nodes import Collect, Relay
from tests.runtime.test_wiring import Recorder, eventually

WAIT = 10.0
BOUND = 3 * INJECT_LOOK  # the bound is checked every INJECT_LOOK injections


def paused(overflow: str | None = None) -> tuple[Runtime, Collect]:
    """relay -> sink, fed by inject only, started and paused."""
    relay, sink = Relay("relay"), Collect("sink")
    graph = Subgraph()
    graph.add_node(relay)
    graph.add_node(sink)
    graph.connect(("relay", "out"), ("sink", "in"))
    rt = Runtime(max_backpressure_queue=BOUND)
    rt.register(graph)
    ex = rt.start()
    if overflow is not None:
        ex.set_overflow("inject->relay.in", overflow)  # type: ignore[arg-type]
    assert eventually(ex, lambda: ex.state is ExecutionState.RUNNING)
    ex.pause()
    assert eventually(ex, lambda: ex.state is ExecutionState.PAUSED)
    return rt, sink


def depth(ex: Execution) -> int:
    edge = ex.stats().edges.get("inject->relay.in")
    return edge.depth if edge is not None else 0


def inject_until_refused(ex: Execution, count: int, **options: Any) -> tuple[int, Exception]:
    """Inject 0, 1, 2, ... until a call raises; return how many were accepted, and the error."""
    for i in range(count):
        try:
            ex.inject("relay", "in", i, **options)
        except Exception as exc:
            return i, exc
    raise AssertionError(f"all {count} injections were accepted")


def test_while_paused_no_node_is_activated_and_resume_delivers_in_order() -> None:
    rt, sink = paused()
    ex = rt.execution
    try:
        before = ex.stats()
        seen = Recorder()
        watching = ex.subscribe(seen)  # every kind of event
        for i in range(100):
            ex.inject("relay", "in", i)
        assert eventually(ex, lambda: depth(ex) == 100)
        during = ex.stats()
        watching.unsubscribe()
        assert seen.events == []  # no node did anything: nothing was announced
        assert during.activations == before.activations
        assert {n: s.invocations for n, s in during.nodes.items()} == {
            n: s.invocations for n, s in before.nodes.items()
        }
        assert sink.payloads == []
        ex.resume()
        ex.close_inputs()
        assert ex.wait(WAIT)
        assert sink.payloads == list(range(100))
    finally:
        rt.shutdown(WAIT)


@pytest.mark.parametrize(("overflow", "kept"), [("drop", "oldest"), ("latest", "newest")])
def test_past_the_bound_a_shedding_policy_applies_counted(overflow: str, kept: str) -> None:
    rt, sink = paused(overflow)
    ex = rt.execution
    try:
        sent = 4 * BOUND
        for i in range(sent):
            ex.inject("relay", "in", i)
        edge = "inject->relay.in"
        assert eventually(ex, lambda: ex.stats().edges[edge].offered == sent)
        stats = ex.stats().edges[edge]
        assert (stats.depth, stats.dropped, stats.capacity) == (BOUND, sent - BOUND, BOUND)
        ex.resume()
        ex.close_inputs()
        assert ex.wait(WAIT)
        expected = range(BOUND) if kept == "oldest" else range(sent - BOUND, sent)
        assert sink.payloads == list(expected)
    finally:
        rt.shutdown(WAIT)


def test_past_the_bound_fail_raises_edge_full_in_the_caller() -> None:
    rt, sink = paused("fail")
    ex = rt.execution
    try:
        accepted, refused = inject_until_refused(ex, 4 * BOUND)
        assert isinstance(refused, EdgeFull)
        assert "inject->relay.in" in str(refused)
        assert accepted == BOUND  # under fail, every call looks: the first one past is told
        ex.resume()
        ex.close_inputs()
        assert ex.wait(WAIT)
        assert sink.payloads == list(range(BOUND))
    finally:
        rt.shutdown(WAIT)


def test_past_the_bound_block_holds_the_caller_back() -> None:
    rt, sink = paused()
    ex = rt.execution
    try:
        accepted, refused = inject_until_refused(ex, 4 * BOUND, timeout=0.05)
        assert isinstance(refused, TimeoutError)
        assert "still wait to be taken" in str(refused)
        assert BOUND <= accepted <= BOUND + INJECT_LOOK
        ex.resume()
        ex.close_inputs()
        assert ex.wait(WAIT)
        assert sink.payloads == list(range(accepted))  # nothing lost
    finally:
        rt.shutdown(WAIT)


def test_each_input_has_its_own_bound() -> None:
    relay, other = Relay("relay"), Relay("other")
    graph = Subgraph()
    graph.add_node(relay)
    graph.add_node(other)
    rt = Runtime(max_backpressure_queue=BOUND)
    rt.register(graph)
    ex = rt.start()
    try:
        ex.set_overflow("inject->relay.in", "fail")
        ex.set_overflow("inject->other.in", "drop")
        assert eventually(ex, lambda: ex.state is ExecutionState.RUNNING)
        ex.pause()
        for i in range(2 * BOUND):
            ex.inject("other", "in", i)  # sheds past its own bound
        for i in range(BOUND):
            ex.inject("relay", "in", i)  # its own bound is untouched by the other's queue
        accepted, refused = inject_until_refused(ex, 1)
        assert (accepted, type(refused)) == (0, EdgeFull)
    finally:
        rt.shutdown(WAIT)


def test_the_bound_and_the_inject_edge_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_backpressure_queue must be an int >= 1"):
        Runtime(max_backpressure_queue=0)
    rt, _ = paused()
    ex = rt.execution
    try:
        with pytest.raises(Exception, match="its bound is the runtime's max_backpressure_queue"):
            ex.set_capacity("inject->relay.in", 5)
        with pytest.raises(Exception, match="cannot inject into unknown node 'nope'"):
            ex.set_overflow("inject->nope.in", "drop")
        with pytest.raises(ValueError, match="priority must be an int"):
            ex.set_priority("inject->relay.in", "high")  # type: ignore[arg-type]
    finally:
        rt.shutdown(WAIT)
