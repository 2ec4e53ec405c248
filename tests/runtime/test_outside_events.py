"""Nodes woken from outside their hooks: live pull sources, wake(), releases, raw batches."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from arachne import Input, IterSource, Message, Node, Output, Subgraph
from arachne.runtime import Execution
from arachne.sim import SimClock, SimLoop


class Feed(Node):
    """A live pull source: items arrive from outside (``arrive``), the end too (``close``)."""

    live = True
    port = "out"
    keep_alive = True
    out = Output(None)

    def __init__(self) -> None:
        self.waiting: deque[Any] = deque()
        self.closed = False
        self.pulls = 0

    def as_pull_source(self) -> Feed:
        return self

    def pull(self, limit: int) -> list[Any]:
        self.pulls += 1
        taken = [self.waiting.popleft() for _ in range(min(limit, len(self.waiting)))]
        if self.closed and not self.waiting:
            self.finish()
        return taken

    def arrive(self, *items: Any) -> None:
        self.waiting.extend(items)
        self.wake()

    def close(self) -> None:
        self.closed = True
        self.wake()


class Keep(Node):
    """Keeps what it receives, with the virtual time it came."""

    inp = Input(None, name="in")

    def __init__(self) -> None:
        self.got: list[tuple[Any, float]] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.got.append((msg.payload, self.now()))


def run(g: Subgraph, loop: SimLoop, timeout: float = 600.0) -> Execution:
    ex = Execution(g.to_graph(), g.instances(), clock=SimClock(loop))
    loop.run_until_complete(asyncio.wait_for(ex.run(), timeout))
    return ex


def test_a_live_pull_source_waits_for_wake_and_is_not_polled() -> None:
    """Empty pulls do not end it; items pushed from outside go on at once when it is woken."""
    loop = SimLoop()
    feed, keep = Feed(), Keep()
    g = Subgraph("live")
    g.add_node(feed, name="feed")
    g.add_node(keep, name="keep")
    g.connect(("feed", "out"), ("keep", "in"))
    loop.call_at(5.0, feed.arrive, "a", "b")
    loop.call_at(60.0, feed.arrive, "c")
    loop.call_at(61.0, feed.close)
    try:
        ex = run(g, loop)
    finally:
        loop.close()
    assert keep.got == [("a", 5.0), ("b", 5.0), ("c", 60.0)]
    assert ex.state.value == "completed"
    # Asked once at the start, then once per wake: never polled through the idle minute.
    assert feed.pulls <= 6


def test_a_short_pull_of_a_live_source_is_not_its_end() -> None:
    """Fewer items than asked for: more come later (an ordinary pull source would finish)."""
    loop = SimLoop()
    feed, keep = Feed(), Keep()
    feed.waiting.extend([1, 2])
    g = Subgraph("short")
    g.add_node(feed, name="feed")
    g.add_node(keep, name="keep")
    g.connect(("feed", "out"), ("keep", "in"))
    loop.call_at(1.0, feed.arrive, 3)
    loop.call_at(2.0, feed.close)
    try:
        run(g, loop)
    finally:
        loop.close()
    assert [p for p, _ in keep.got] == [1, 2, 3]


def test_wake_before_a_node_runs_does_nothing() -> None:
    """Values put in before the run starts are pulled at its first turn."""
    loop = SimLoop()
    feed, keep = Feed(), Keep()
    feed.arrive("early")  # not running yet: the wake is a no-op, the value waits
    g = Subgraph("early")
    g.add_node(feed, name="feed")
    g.add_node(keep, name="keep")
    g.connect(("feed", "out"), ("keep", "in"))
    loop.call_at(1.0, feed.close)
    try:
        run(g, loop)
    finally:
        loop.close()
    assert keep.got == [("early", 0.0)]


class Holder(Node):
    """Holds its input after each message until released from outside (``keep_alive``)."""

    keep_alive = True
    inp = Input(None, name="in")

    def __init__(self) -> None:
        self.got: list[tuple[Any, float]] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.got.append((msg.payload, self.now()))
        self.hold_input(True)


def test_a_held_keep_alive_node_released_by_a_callback_goes_on() -> None:
    """Released from a loop callback, it is woken; held, the run waits for it (not stuck)."""
    loop = SimLoop()
    holder = Holder()
    g = Subgraph("held")
    g.add_node(IterSource([1, 2, 3]), name="source")
    g.add_node(holder, name="holder")
    g.connect(("source", "out"), ("holder", "in"))
    for at in (10.0, 20.0):
        loop.call_at(at, holder.hold_input, False)
    try:
        ex = run(g, loop)
    finally:
        loop.close()
    assert holder.got == [(1, 0.0), (2, 10.0), (3, 20.0)]
    assert ex.state.value == "completed"


class RawSink(Node):
    """Takes raw batches: what it is handed, as it is."""

    raw_batches = True
    inp = Input(None, name="in")

    def __init__(self, fail_on: Any = None) -> None:
        self.batches: list[list[Any]] = []
        self.fail_on = fail_on
        self.error_policy = "skip"

    def on_batch(self, port: str, msgs: list[Any]) -> None:
        if self.fail_on is not None and self.fail_on in [getattr(m, "payload", m) for m in msgs]:
            raise ValueError("no")
        self.batches.append(list(msgs))


class Stamp(Node):
    """Emits each payload with a header of its own."""

    inp = Input(None, name="in")
    out = Output(None)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.derive(msg.payload, note="x"))


def test_raw_batches_hand_bare_payloads_and_wrap_what_has_headers() -> None:
    """Bare payloads as they are; a batch with headers comes as messages, headers kept."""
    loop = SimLoop()
    bare, headed = RawSink(), RawSink()
    g = Subgraph("raw")
    g.add_node(IterSource(range(5)), name="a")
    g.add_node(bare, name="bare")
    g.add_node(IterSource(range(3)), name="b")
    g.add_node(Stamp(), name="stamp")
    g.add_node(headed, name="headed")
    g.connect(("a", "out"), ("bare", "in"))
    g.connect(("b", "out"), ("stamp", "in"))
    g.connect(("stamp", "out"), ("headed", "in"))
    try:
        run(g, loop)
    finally:
        loop.close()
    assert [x for batch in bare.batches for x in batch] == [0, 1, 2, 3, 4]
    handed = [m for batch in headed.batches for m in batch]
    assert all(type(m) is Message for m in handed)
    assert [(m.payload, m.headers.get("note")) for m in handed] == [(0, "x"), (1, "x"), (2, "x")]


def test_a_raw_batch_that_fails_goes_to_the_error_policy_as_messages() -> None:
    """The failing batch is skipped under ``skip``, counted; the run goes on."""
    loop = SimLoop()
    sink = RawSink(fail_on=2)
    g = Subgraph("rawfail")
    g.add_node(IterSource(range(5)), name="a")
    g.add_node(sink, name="sink")
    g.connect(("a", "out"), ("sink", "in"), capacity=1)
    try:
        ex = run(g, loop)
    finally:
        loop.close()
    kept = [x for batch in sink.batches for x in batch]
    assert 2 not in kept
    assert set(kept) == {0, 1, 3, 4}
    assert ex.stats().nodes["sink"].skipped >= 1
