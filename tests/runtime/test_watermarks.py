"""Watermarks in the runtime: in order with the data, through any node, lowest input, idleness."""

from __future__ import annotations

import math
from typing import Any

import pytest

from arachne import Input, IterSource, Message, Node, NodeFailed, Output, Runtime, Subgraph, node
from arachne.runtime import FakeClock


class Stamp(Node):
    """Passes numbers on and says the watermark ``n - lag`` after each."""

    inp = Input(None, name="in")
    out = Output(None)
    forwards_watermarks = False

    def __init__(self, lag: float = 0.0, idle_after: float | None = None) -> None:
        self.lag, self.idle_after = lag, idle_after

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload)
        self.emit_watermark(msg.payload - self.lag, idle_after=self.idle_after)


class Seen(Node):
    """Logs items and watermarks in the order the node meets them."""

    inp = Input(None, name="in")

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.log.append(("item", msg.payload))

    def on_watermark(self, t: float) -> None:
        self.log.append(("wm", t))


class Pair(Node):
    """Two inputs; logs the watermarks it hears, with the runtime clock."""

    a = Input(None)
    b = Input(None)

    def __init__(self) -> None:
        self.heard: list[tuple[float, float]] = []

    def on_message(self, port: str, msg: Message) -> None:
        pass

    def on_watermark(self, t: float) -> None:
        self.heard.append((self.now(), t))


@node
def tenfold(x: int) -> int:
    return x * 10


@node(filter=True)
def odd(x: int) -> bool:
    return x % 2 == 1


def run(g: Subgraph, *, clock: FakeClock | None = None, fusion: bool = True) -> Any:
    runtime = Runtime(clock=clock, fusion=fusion) if clock else Runtime(fusion=fusion)
    runtime.register(g)
    execution = runtime.start()
    runtime.wait()
    execution.raise_if_failed()
    return execution


def chain(values: list[int], *middle: Node, lag: float = 0.0) -> tuple[Subgraph, Seen]:
    g = Subgraph()
    g.add_node(IterSource(values, name="src"))
    g.add_node(Stamp(lag), name="stamp")
    seen = Seen()
    g.add_node(seen, name="seen")
    g.connect(("src", "out"), ("stamp", "in"))
    last = "stamp"
    for i, part in enumerate(middle):
        g.add_node(part, name=f"m{i}")
        g.connect((last, "out"), (f"m{i}", "in"))
        last = f"m{i}"
    g.connect((last, "out"), ("seen", "in"))
    return g, seen


def test_a_watermark_reaches_the_node_exactly_between_the_items_it_came_between() -> None:
    g, seen = chain([1, 5, 3, 8])
    run(g)
    assert seen.log == [
        ("item", 1),
        ("wm", 1.0),
        ("item", 5),
        ("wm", 5.0),
        ("item", 3),  # (no watermark: 3 does not raise it)
        ("item", 8),
        ("wm", 8.0),
    ]


@pytest.mark.parametrize("fusion", [True, False])
def test_watermarks_pass_through_maps_and_filters_fused_or_not(fusion: bool) -> None:
    g, seen = chain([1, 2, 3, 5], odd(), tenfold(), lag=1)
    execution = run(g, fusion=fusion)
    assert bool(execution.chains) is fusion
    assert seen.log == [
        ("item", 10),
        ("wm", 1.0),  # (0, then 1 after 2, which the filter dropped: one mark, the later)
        ("item", 30),
        ("wm", 2.0),
        ("item", 50),
        ("wm", 4.0),
    ]
    marks = execution.watermarks()
    assert marks["seen"].value == 4.0
    assert marks["seen"].holder == "m1.out->seen.in"
    assert marks["stamp"].sent == 4.0


def test_a_lower_watermark_than_the_last_is_ignored() -> None:
    g, seen = chain([5, 1, 2, 6])
    run(g)
    assert [entry for entry in seen.log if entry[0] == "wm"] == [("wm", 5.0), ("wm", 6.0)]


class Burst(Node):
    """A source on the runtime clock: a stamped item each second while ``live``, then quiet."""

    out = Output(None)
    cadence = 1.0
    keep_alive = True
    forwards_watermarks = False

    def __init__(
        self, live: int, stop_at: int, idle_after: float | None, scale: float = 1.0
    ) -> None:
        self.live, self.stop_at, self.idle_after = live, stop_at, idle_after
        self.scale = scale
        self.tick = 0

    def on_tick(self) -> None:
        self.tick += 1
        if self.tick <= self.live:
            self.emit("out", self.tick)
            self.emit_watermark(self.tick * self.scale, idle_after=self.idle_after)
        if self.tick >= self.stop_at:
            self.finish()


def test_a_node_hears_the_lowest_watermark_of_its_inputs() -> None:
    g = Subgraph()
    g.add_node(Burst(live=10, stop_at=10, idle_after=None), name="fast")
    g.add_node(Burst(live=10, stop_at=10, idle_after=None, scale=0.5), name="slow")
    pair = Pair()
    g.add_node(pair, name="pair")
    g.connect(("fast", "out"), ("pair", "a"))
    g.connect(("slow", "out"), ("pair", "b"))
    execution = run(g, clock=FakeClock())
    heard = [t for _, t in pair.heard]
    # While both run, the slow side's watermark is the lower: it is the one heard, and it
    # holds the node; once both have ended (at the tenth tick), the highest said stands.
    assert heard[:9] == [n / 2 for n in range(1, 10)]
    assert heard[-1] == 10.0
    assert execution.watermarks()["pair"].value == 10.0


def test_a_quiet_input_goes_idle_on_the_runtime_clock_and_stops_holding_the_node_back() -> None:
    g = Subgraph()
    g.add_node(Burst(live=20, stop_at=20, idle_after=None), name="busy")
    g.add_node(Burst(live=2, stop_at=25, idle_after=3.0), name="quiet")
    pair = Pair()
    g.add_node(pair, name="pair")
    g.connect(("busy", "out"), ("pair", "a"))
    g.connect(("quiet", "out"), ("pair", "b"))
    clock = FakeClock()
    execution = run(g, clock=clock)
    # Ticks come at t = 0, 1, 2, ...: the quiet side said 2.0 at t=1 (its second tick), then
    # nothing: idle at 1 + 3 = 4 exactly (the timer is due then), and from that moment the
    # busy side's watermark (4.0, said at t=3) passes alone.
    assert max(t for at, t in pair.heard if at < 4.0) == 2.0
    later = [(at, t) for at, t in pair.heard if t > 2.0]
    assert later[0] == (4.0, 4.0)
    assert [t for _, t in later] == [float(n) for n in range(4, 21)]
    assert execution.watermarks()["quiet"].sent_idle


def test_an_idle_input_is_waited_on_again_once_it_speaks() -> None:
    class Revive(Burst):
        def on_tick(self) -> None:
            self.tick += 1
            if self.tick in (1, 9):
                self.emit("out", self.tick)
                self.emit_watermark(float(self.tick), idle_after=2.0)
            if self.tick >= self.stop_at:
                self.finish()

    g = Subgraph()
    g.add_node(Burst(live=12, stop_at=12, idle_after=None), name="busy")
    g.add_node(Revive(live=0, stop_at=12, idle_after=2.0), name="quiet")
    pair = Pair()
    g.add_node(pair, name="pair")
    g.connect(("busy", "out"), ("pair", "a"))
    g.connect(("quiet", "out"), ("pair", "b"))
    run(g, clock=FakeClock())
    # Ticks at t = 0, 1, ...: the quiet side says 1.0 at t=0 and is idle from t=2, so the busy
    # side leads (its n at t=n-1) up to 9.0 at t=8. At t=8 the quiet side speaks again (9.0):
    # it is waited on once more, and holds the node at 9.0 until it goes idle again at t=10,
    # when the busy side's 11.0 (said at t=10) passes. Left idle for good, the node would
    # have heard 10.0 at t=9.
    assert max(t for at, t in pair.heard if at < 10.0) == 9.0
    assert (10.0, 11.0) in pair.heard
    assert pair.heard[-1][1] == 12.0


def test_a_failing_on_watermark_fails_the_run_naming_the_node() -> None:
    class Broken(Seen):
        def on_watermark(self, t: float) -> None:
            raise RuntimeError("no clock here")

    g = Subgraph()
    g.add_node(IterSource([1, 2], name="src"))
    g.add_node(Stamp(), name="stamp")
    g.add_node(Broken(), name="broken")
    g.connect(("src", "out"), ("stamp", "in"))
    g.connect(("stamp", "out"), ("broken", "in"))
    runtime = Runtime()
    runtime.register(g)
    execution = runtime.start()
    runtime.wait()
    with pytest.raises(NodeFailed) as failed:
        execution.raise_if_failed()
    assert "broken" in str(failed.value)
    assert "on_watermark" in str(failed.value)


@pytest.mark.parametrize(
    ("t", "idle_after", "says"),
    [
        (math.nan, None, "give an event time as a number"),
        ("soon", None, "give an event time as a number"),
        (1.0, 0, "idle_after 0; give seconds above 0"),
    ],
)
def test_a_bad_watermark_is_refused_naming_the_node(t: Any, idle_after: Any, says: str) -> None:
    class Bad(Node):
        inp = Input(None, name="in")

        def on_message(self, port: str, msg: Message) -> None:
            self.emit_watermark(t, idle_after=idle_after)

    g = Subgraph()
    g.add_node(IterSource([1], name="src"))
    g.add_node(Bad(), name="bad")
    g.connect(("src", "out"), ("bad", "in"))
    runtime = Runtime()
    runtime.register(g)
    execution = runtime.start()
    runtime.wait()
    with pytest.raises(NodeFailed) as failed:
        execution.raise_if_failed()
    assert "node 'bad'" in str(failed.value.__cause__)
    assert says in str(failed.value.__cause__)


def test_an_execution_with_no_watermarks_reports_none() -> None:
    g = Subgraph()
    g.add_node(IterSource([1, 2], name="src"))
    g.add_node(Seen(), name="seen")
    g.connect(("src", "out"), ("seen", "in"))
    assert run(g).watermarks() == {}


class Slow(Node):
    """An async node: passes each value on after a wait that differs per value."""

    mode = "async"
    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self, concurrency: int, ordered: bool) -> None:
        self.concurrency, self.ordered = concurrency, ordered

    async def on_message(self, port: str, msg: Message) -> None:
        await self.sleep((msg.payload * 7919) % 5 / 10)
        self.emit("out", msg.payload)


VALUES = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4]


def test_a_watermark_waits_for_the_calls_before_it_not_for_every_call() -> None:
    g, seen = chain(VALUES, Slow(concurrency=4, ordered=True))
    run(g, clock=FakeClock())
    plain, reference = chain(VALUES)
    run(plain)
    # Ordered calls deliver in input order: the node after them meets items and watermarks
    # exactly as it would with no calls in between.
    assert seen.log == reference.log


def test_unordered_calls_let_a_watermark_pass_after_everything_before_it() -> None:
    g, seen = chain(VALUES, Slow(concurrency=4, ordered=False))
    run(g, clock=FakeClock())
    items = [value for kind, value in seen.log if kind == "item"]
    assert sorted(items) == sorted(VALUES)
    for index, (kind, value) in enumerate(seen.log):
        if kind == "wm":  # every item before it in the stream came before it here
            before = VALUES[: VALUES.index(int(value)) + 1]
            got = [v for k, v in seen.log[:index] if k == "item"]
            assert all(got.count(v) >= before.count(v) for v in set(before)), (value, got)


class Said(Node):
    """An async node that says watermarks itself, inside its calls."""

    mode = "async"
    inp = Input(None, name="in")
    out = Output(None)
    concurrency = 3
    forwards_watermarks = False

    async def on_message(self, port: str, msg: Message) -> None:
        await self.sleep((msg.payload * 31) % 4 / 10)
        self.emit("out", msg.payload)
        self.emit_watermark(msg.payload)


def test_a_watermark_said_in_a_call_leaves_after_what_the_call_emitted() -> None:
    g = Subgraph()
    g.add_node(IterSource(VALUES, name="src"))
    g.add_node(Said(), name="said")
    seen = Seen()
    g.add_node(seen, name="seen")
    g.connect(("src", "out"), ("said", "in"))
    g.connect(("said", "out"), ("seen", "in"))
    run(g, clock=FakeClock())
    highest, expected = -math.inf, []
    for value in VALUES:
        expected.append(("item", value))
        if value > highest:
            highest = value
            expected.append(("wm", float(value)))
    assert seen.log == expected


def test_an_edge_keeps_a_bounded_number_of_watermarks_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from arachne.runtime.edge import MAX_WATERMARKS, Edge

    most = [0]
    put = Edge.put_watermark

    def counted(edge: Edge, value: float, idle: bool) -> None:
        put(edge, value, idle)
        most[0] = max(most[0], len(edge.watermarks or ()))

    monkeypatch.setattr(Edge, "put_watermark", counted)
    # Unordered calls never all land while the source keeps them busy: watermarks pile up
    # on the edge into them, and the edge keeps no more than its bound.
    g, seen = chain(list(range(1, 500)), Slow(concurrency=2, ordered=False))
    run(g, clock=FakeClock())
    assert most[0] == MAX_WATERMARKS
    assert seen.log[-1] == ("wm", 499.0)  # (and the last one passed in the end)


class Retried(Node):
    """Fails its first handling of 1, to be retried."""

    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self) -> None:
        from arachne.model.policies import Retry

        self.error_policy = Retry(max_attempts=3, backoff=0.05)
        self.failed = False

    def on_message(self, port: str, msg: Message) -> None:
        if msg.payload == 1 and not self.failed:
            self.failed = True
            raise RuntimeError("transient")
        self.emit("out", msg.payload)


class EveryThird(Stamp):
    """Says the highest value so far after every third item."""

    def __init__(self) -> None:
        self.n, self.top = 0, -math.inf

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload)
        self.n += 1
        self.top = max(self.top, msg.payload)
        if self.n % 3 == 0:
            self.emit_watermark(self.top)


def test_a_message_waiting_to_be_retried_is_not_overtaken_by_the_watermark_after_it() -> None:
    g = Subgraph()
    g.add_node(IterSource([3, 2, 1, 6, 5, 4], name="src"))
    g.add_node(EveryThird(), name="stamp")
    g.add_node(Retried(), name="flaky")
    seen = Seen()
    g.add_node(seen, name="seen")
    g.connect(("src", "out"), ("stamp", "in"))
    g.connect(("stamp", "out"), ("flaky", "in"))
    g.connect(("flaky", "out"), ("seen", "in"))
    run(g, clock=FakeClock())
    assert seen.log == [
        ("item", 3),
        ("item", 2),
        ("item", 1),  # (retried: still before the watermark that came after it)
        ("wm", 3.0),
        ("item", 6),
        ("item", 5),
        ("item", 4),
        ("wm", 6.0),
    ]


class Busy(Node):
    """An async node with two inputs; notes whether a call was running at each watermark."""

    mode = "async"
    a = Input(None)
    b = Input(None)
    concurrency = 3

    def __init__(self) -> None:
        self.in_call = 0
        self.overlaps: list[tuple[float, int]] = []

    async def on_message(self, port: str, msg: Message) -> None:
        self.in_call += 1
        try:
            await self.sleep(1.3 if port == "a" else 0.4)
        finally:
            self.in_call -= 1

    def on_watermark(self, t: float) -> None:
        self.overlaps.append((t, self.in_call))


def test_on_watermark_never_runs_beside_a_call_of_the_same_node() -> None:
    from arachne.sim import simulate

    busy = Busy()

    def build() -> Subgraph:
        g = Subgraph()
        g.add_node(Burst(live=6, stop_at=8, idle_after=None), name="a")
        g.add_node(Burst(live=6, stop_at=8, idle_after=None), name="b")
        g.add_node(busy, name="busy")
        g.connect(("a", "out"), ("busy", "a"))
        g.connect(("b", "out"), ("busy", "b"))
        return g

    result = simulate(build, 3)  # (virtual time: calls really overlap the ticks)
    assert result.failure is None, result.failure
    heard = [t for t, _ in busy.overlaps]
    # It heard them while busy (its calls drained for each), not only at the end ...
    assert len(heard) >= 4
    assert heard[-1] == 6.0
    assert all(in_call == 0 for _, in_call in busy.overlaps)  # (... and never during a call)


def test_a_node_whose_watermark_holder_is_disconnected_goes_on_with_the_rest() -> None:
    from arachne.sim import simulate

    pair = Pair()

    def build() -> Subgraph:
        g = Subgraph()
        g.add_node(Burst(live=20, stop_at=25, idle_after=None), name="fast")
        g.add_node(Burst(live=20, stop_at=25, idle_after=None, scale=0.0), name="slow")
        g.add_node(pair, name="pair")
        g.connect(("fast", "out"), ("pair", "a"))
        g.connect(("slow", "out"), ("pair", "b"))
        return g

    def cut(execution: Any, loop: Any, _: Any) -> None:
        loop.call_later(10.5, lambda: execution.disconnect("slow.out->pair.b"))

    result = simulate(build, 1, during=cut)
    assert result.failure is None, result.failure
    # Held at 0.0 by the slow side until its edge went at t=10.5; then the fast side's 11.0
    # (said at t=10) passed at once, without waiting for the next turn.
    assert max(t for at, t in pair.heard if at < 10.5) == 0.0
    assert (10.5, 11.0) in pair.heard


def test_unordered_calls_pass_watermarks_while_they_stay_busy() -> None:
    g, seen = chain(list(range(1, 401)), Slow(concurrency=4, ordered=False))
    run(g, clock=FakeClock())
    heard = [value for kind, value in seen.log if kind == "wm"]
    # Watermarks pass as the oldest call on the edge lands, not only when none is in flight
    # (which, with calls always in flight, is only at the end).
    assert len(heard) > 40
