"""Timers: callbacks due at a time on the execution's clock."""

from __future__ import annotations

from arachne.runtime.timers import Timers


def test_callbacks_fire_in_deadline_order_ties_in_the_order_added() -> None:
    timers = Timers()
    fired: list[str] = []
    for name, deadline in [("c", 3.0), ("a1", 1.0), ("b", 2.0), ("a2", 1.0), ("a3", 1.0)]:
        timers.add(deadline, lambda name=name: fired.append(name))
    assert len(timers) == 5
    assert timers.fire(10.0)
    assert fired == ["a1", "a2", "a3", "b", "c"]
    assert len(timers) == 0


def test_fire_runs_only_what_is_due_and_says_whether_any_ran() -> None:
    timers = Timers()
    fired: list[float] = []
    for deadline in (1.0, 2.0, 3.0):
        timers.add(deadline, lambda deadline=deadline: fired.append(deadline))
    assert not timers.fire(0.5)
    assert fired == []
    assert timers.fire(2.0)  # a deadline equal to now is due
    assert fired == [1.0, 2.0]
    assert not timers.fire(2.5)
    assert timers.fire(3.0)
    assert fired == [1.0, 2.0, 3.0]
    assert not timers.fire(100.0)


def test_callbacks_added_while_firing_wait_for_the_next_call() -> None:
    timers = Timers()
    fired: list[str] = []

    def rearm() -> None:
        fired.append("tick")
        timers.add(0.0, rearm)  # due at once, yet it must not keep this call going

    timers.add(1.0, rearm)
    assert timers.fire(1.0)
    assert fired == ["tick"]
    assert len(timers) == 1
    assert timers.fire(1.0)
    assert fired == ["tick", "tick"]


def test_a_callback_added_while_firing_waits_even_behind_one_still_due() -> None:
    timers = Timers()
    fired: list[str] = []
    timers.add(1.0, lambda: (fired.append("first"), timers.add(0.5, lambda: fired.append("new"))))
    timers.add(1.0, lambda: fired.append("second"))
    assert timers.fire(1.0)
    assert fired == ["first", "second"]
    assert timers.fire(1.0)
    assert fired == ["first", "second", "new"]


class CountingClock:
    """A clock function that counts how often it is read."""

    def __init__(self, now: float) -> None:
        self.now, self.reads = now, 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def test_fire_due_reads_the_clock_only_when_a_timer_waits() -> None:
    timers = Timers()
    clock = CountingClock(5.0)
    assert not timers.fire_due(clock)
    assert clock.reads == 0  # the scheduler calls this after every activation
    fired: list[float] = []
    timers.add(6.0, lambda: fired.append(clock.now))
    assert not timers.fire_due(clock)
    assert clock.reads == 1
    assert fired == []
    clock.now = 6.0
    assert timers.fire_due(clock)
    assert clock.reads == 2  # once per call, not once per callback
    assert fired == [6.0]
    assert not timers.fire_due(clock)
    assert clock.reads == 2


def test_fire_due_fires_everything_due_at_the_one_reading() -> None:
    timers = Timers()
    clock = CountingClock(3.0)
    fired: list[float] = []
    for deadline in (1.0, 2.0, 3.0, 4.0):
        timers.add(deadline, lambda deadline=deadline: fired.append(deadline))
    assert timers.fire_due(clock)
    assert fired == [1.0, 2.0, 3.0]
    assert clock.reads == 1
    assert timers.next_deadline() == 4.0


def test_next_deadline_is_the_earliest_waiting() -> None:
    timers = Timers()
    assert timers.next_deadline() is None
    timers.add(5.0, lambda: None)
    timers.add(2.0, lambda: None)
    timers.add(7.0, lambda: None)
    assert timers.next_deadline() == 2.0
    timers.fire(2.0)
    assert timers.next_deadline() == 5.0
    timers.fire(10.0)
    assert timers.next_deadline() is None
