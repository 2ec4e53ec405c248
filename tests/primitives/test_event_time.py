"""EventClock: watermarks from event times, late items routed, idleness within one tick."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arachne import Input, IterSource, Message, Node, Output, Runtime, Subgraph
from arachne.observability.query import QueryPlane
from arachne.primitives import EventClock, EventStamper, Late, PrimitiveError, Tumbling, Window
from arachne.runtime import FakeClock
from tests.runtime.nodes import Collect


def run(g: Subgraph, clock: FakeClock | None = None) -> Any:
    runtime = Runtime(clock=clock) if clock is not None else Runtime()
    runtime.register(g)
    execution = runtime.start()
    runtime.wait()
    execution.raise_if_failed()
    return execution


@pytest.mark.parametrize("max_delay", [0, 3])
def test_windows_route_exactly_the_items_behind_the_watermark_to_late(max_delay: int) -> None:
    times = [5, 1, 9, 4, 20, 12, 17, 30, 16]
    g = Subgraph()
    g.add_node(IterSource([{"t": t} for t in times], name="src"))
    clock = EventClock.install(g, "clock", timestamp="t", max_delay=max_delay)
    win = Window.install(g, "win", window=Tumbling(10), timestamp="t")
    out, late = Collect("out"), Collect("late")
    g.add_node(out)
    g.add_node(late)
    g.connect(("src", "out"), clock["in"])
    g.connect(clock["out"], win["in"])
    g.connect(win["out"], ("out", "in"))
    g.connect(win["late"], ("late", "in"))
    execution = run(g)
    highest, behind = -math.inf, []
    for t in times:
        if t < highest - max_delay:
            behind.append(t)
        highest = max(highest, t)
    assert [r.time for r in late.payloads] == behind
    assert all(isinstance(r, Late) and r.time < r.watermark for r in late.payloads)
    assert sum(r.count for r in out.payloads) + len(behind) == len(times)
    with QueryPlane(execution) as plane:
        health = plane.primitives().of("clock").health
    assert health == {"state": "healthy", "items": len(times), "watermark": 30.0 - max_delay}


class Ticker(Node):
    """A source on the runtime clock: an item every ``every`` seconds, ``count`` of them,
    then quiet (but alive) until ``until``."""

    out = Output(None)
    keep_alive = True

    def __init__(self, every: float, count: int, until: float) -> None:
        self.cadence = every
        self.count, self.until = count, until
        self.sent = 0
        self.last_sent = -math.inf

    def on_tick(self) -> None:
        now = self.now()
        if self.sent < self.count:
            self.sent += 1
            self.last_sent = now
            self.emit("out", {"t": now})
        if now >= self.until:
            self.finish()


class Heard(Node):
    """Two inputs; logs (runtime clock, watermark) at each rise."""

    a = Input(None)
    b = Input(None)

    def __init__(self) -> None:
        self.heard: list[tuple[float, float]] = []

    def on_message(self, port: str, msg: Message) -> None:
        pass

    def on_watermark(self, t: float) -> None:
        self.heard.append((self.now(), t))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tick=st.sampled_from([0.25, 0.5, 1.0, 2.0]),
    idle_after=st.floats(0.5, 8.0).map(lambda x: round(x, 2)),
    quiet_count=st.integers(1, 4),
)
def test_a_quiet_input_is_idle_within_a_tick_and_stops_holding_back(
    tick: float, idle_after: float, quiet_count: int
) -> None:
    until = 30.0
    g = Subgraph()
    busy = Ticker(tick, count=10_000, until=until)
    quiet = Ticker(tick, count=quiet_count, until=until)
    g.add_node(busy, name="busy")
    g.add_node(quiet, name="quiet")
    bc = EventClock.install(g, "bc", timestamp="t")
    qc = EventClock.install(g, "qc", timestamp="t", idle_after=idle_after)
    heard = Heard()
    g.add_node(heard, name="heard")
    g.connect(("busy", "out"), bc["in"])
    g.connect(("quiet", "out"), qc["in"])
    g.connect(bc["out"], ("heard", "a"))
    g.connect(qc["out"], ("heard", "b"))
    run(g, FakeClock())
    stalled_at = quiet.last_sent  # the quiet side's last item, and its last watermark
    # While the quiet side is waited on, the node's watermark stays at its last say ...
    assert all(t <= stalled_at for at, t in heard.heard if at < stalled_at + idle_after)
    # ... and once it is idle the busy side's passes: the first rise past it comes within one
    # tick of the timeout (the timer is due at the timeout itself; the next busy item rises).
    past = [(at, t) for at, t in heard.heard if t > stalled_at]
    assert past, heard.heard
    first = past[0][0]
    assert stalled_at + idle_after <= first <= stalled_at + idle_after + tick


def test_event_clock_options_are_checked_naming_the_fix() -> None:
    with pytest.raises(PrimitiveError, match="max_delay -1: give how late"):
        EventClock.fragment("c", max_delay=-1)
    with pytest.raises(PrimitiveError, match="idle_after 0: give seconds above 0"):
        EventClock.fragment("c", idle_after=0)
    with pytest.raises(PrimitiveError, match="timestamp 3: give a field name"):
        EventClock.fragment("c", timestamp=3)


def test_the_clock_keeps_its_highest_time_across_a_checkpoint() -> None:
    stamper = EventStamper(lambda item: item, 2.0, None)
    assert stamper.snapshot() == {"highest": None}
    stamper.highest = 17.0
    again = EventStamper(lambda item: item, 2.0, None)
    again.restore(stamper.snapshot())
    assert again.watermark == 15.0
