"""Backpressure traced to its cause (issue 12): a stalled sink, a slow middle node."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from arachne import Input, Message, Node, Output, Runtime, Subgraph
from arachne.runtime import Execution
from tests.runtime.nodes import Forever

WAIT = 10.0  # real seconds: a bound on a hang, not a timing claim
CAPACITY = 4


class Pass(Node):
    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload)


class Stuck(Pass):
    """Takes one message, then waits (in a worker thread) until released."""

    mode = "thread"

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def on_message(self, port: str, msg: Message) -> None:
        self.release.wait(WAIT)
        self.emit("out", msg.payload)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def chain(stuck_at: str, release: threading.Event) -> tuple[Runtime, Execution]:
    """source -> a -> m -> b -> sink, each edge of CAPACITY; the node ``stuck_at`` stalls."""
    graph = Subgraph()
    graph.add_node(Forever(), name="source")
    names = ["a", "m", "b", "sink"]
    for name in names:
        graph.add_node(Stuck(release) if name == stuck_at else Pass(), name=name)
    for upstream, downstream in zip(["source", *names], names, strict=False):
        graph.connect((upstream, "out"), (downstream, "in"), capacity=CAPACITY)
    runtime = Runtime()
    runtime.register(graph)
    return runtime, runtime.start()


def settled(execution: Execution, edges: set[str]) -> dict[str, str]:
    """Wait until exactly ``edges`` are full; return each one's cause."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = {bp.edge: bp.cause for bp in execution.stats().backpressure}
        if set(found) == edges:
            return found
        time.sleep(0.01)
    raise AssertionError(f"full edges never settled to {sorted(edges)}: {found}")


def test_a_stalled_sink_is_the_cause_of_every_edge_above_it(release: threading.Event) -> None:
    runtime, execution = chain("sink", release)
    try:
        causes = settled(
            execution,
            {"source.out->a.in", "a.out->m.in", "m.out->b.in", "b.out->sink.in"},
        )
        assert set(causes.values()) == {"sink"}
        [top] = [bp for bp in execution.stats().backpressure if bp.edge == "source.out->a.in"]
        assert top.path == ("a", "m", "b", "sink")
    finally:
        release.set()
        runtime.stop(drain=False, timeout=WAIT)


def test_a_slow_middle_node_is_named_above_it_and_not_below(release: threading.Event) -> None:
    runtime, execution = chain("m", release)
    try:
        causes = settled(execution, {"source.out->a.in", "a.out->m.in"})
        assert causes == {"source.out->a.in": "m", "a.out->m.in": "m"}  # below m: drained
    finally:
        release.set()
        runtime.stop(drain=False, timeout=WAIT)


def test_the_stalled_sink_is_busy_and_the_nodes_above_it_backpressured(
    release: threading.Event,
) -> None:
    """Per node time fractions say the same as the causes: where the time goes, at a glance."""
    runtime, execution = chain("sink", release)
    try:
        settled(execution, {"source.out->a.in", "a.out->m.in", "m.out->b.in", "b.out->sink.in"})
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            nodes = execution.stats().nodes
            if nodes["sink"].busy_fraction > 0.5 and all(
                nodes[name].backpressured_fraction > 0.5 for name in ("a", "m", "b")
            ):
                break
            time.sleep(0.01)
        else:
            raise AssertionError(f"fractions never showed the stall: {nodes}")
        # The three parts are a split of each node's life: they add up to it, never more.
        elapsed = execution.stats().elapsed
        for node in nodes.values():
            life = node.busy_seconds + node.backpressured_seconds + node.idle_seconds
            assert life <= elapsed + 0.05
    finally:
        release.set()
        runtime.stop(drain=False, timeout=WAIT)
