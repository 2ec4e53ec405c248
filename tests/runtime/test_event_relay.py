"""The event relay: bounded hand-off of bus events to another thread or event loop."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable

import pytest

from arachne.runtime.event_relay import EventRelay, RelayClosed, RelayStats
from arachne.runtime.events import Event, EventBus, NodeEvent, NodeStarted

TIMEOUT = 10.0  # a bound for a hung test, never reached when things work


def started(index: int) -> NodeStarted:
    return NodeStarted(execution_id="e1", node_id=str(index))


def node_ids(events: list[Event]) -> list[str]:
    return [event.node_id for event in events if isinstance(event, NodeEvent)]


def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll for a state another thread reaches; there is no event to wait on for 'blocked'."""
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the other thread"
        time.sleep(0.001)


async def async_wait_until(predicate: Callable[[], bool]) -> None:
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("the other task never got there")


@pytest.mark.parametrize("maxsize", [0, -1, 1.5, True, "3"])
def test_maxsize_must_be_a_positive_int(maxsize: object) -> None:
    with pytest.raises(ValueError, match="maxsize must be an int >= 1"):
        EventRelay(maxsize)  # type: ignore[arg-type]


def test_events_from_one_thread_arrive_in_order_on_another() -> None:
    bus = EventBus()
    relay = EventRelay()
    bus.subscribe(relay, NodeStarted)
    count = 200

    def publish() -> None:
        for index in range(count):
            bus.publish(started(index))

    publisher = threading.Thread(target=publish)
    publisher.start()
    received = [relay.get(timeout=TIMEOUT) for _ in range(count)]
    publisher.join()
    assert node_ids(received) == [str(index) for index in range(count)]
    assert relay.stats() == RelayStats(delivered=count, dropped=0, depth=0, maxsize=1024)


def test_overflow_keeps_the_first_and_counts_the_rest() -> None:
    bus = EventBus()
    relay = EventRelay(maxsize=3)
    bus.subscribe(relay)
    for index in range(10):
        bus.publish(started(index))
    assert relay.stats() == RelayStats(delivered=0, dropped=7, depth=3, maxsize=3)
    assert node_ids([relay.get_nowait() for _ in range(3)]) == ["0", "1", "2"]  # type: ignore[misc]
    assert relay.get_nowait() is None
    assert relay.stats() == RelayStats(delivered=3, dropped=7, depth=0, maxsize=3)


@pytest.mark.parametrize("timeout", [0, 0.01])
def test_get_times_out(timeout: float) -> None:
    relay = EventRelay()
    with pytest.raises(TimeoutError):
        relay.get(timeout=timeout)


def test_a_negative_timeout_raises() -> None:
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        EventRelay().get(timeout=-1)


def test_close_wakes_a_blocked_get_after_the_queue_drains() -> None:
    relay = EventRelay()
    relay(started(0))
    results: queue.Queue[object] = queue.Queue()

    def consume() -> None:
        while True:
            try:
                results.put(relay.get())
            except RelayClosed as exc:
                results.put(exc)
                return

    consumer = threading.Thread(target=consume)
    consumer.start()
    wait_until(lambda: relay._thread_waiters == 1)
    relay.close()
    consumer.join(TIMEOUT)
    assert not consumer.is_alive()
    first = results.get_nowait()
    assert isinstance(first, NodeStarted)
    assert isinstance(results.get_nowait(), RelayClosed)
    assert EventRelay.Closed is RelayClosed


def test_after_close_offers_are_dropped_without_counting() -> None:
    relay = EventRelay(maxsize=2)
    relay(started(0))
    relay.close()
    relay.close()  # idempotent
    relay(started(1))
    assert relay.closed
    assert relay.stats() == RelayStats(delivered=0, dropped=0, depth=1, maxsize=2)
    assert node_ids([relay.get(timeout=0)]) == ["0"]
    with pytest.raises(RelayClosed):
        relay.get_nowait()
    with pytest.raises(RelayClosed):
        relay.get(timeout=0)


async def test_close_ends_async_iteration() -> None:
    relay = EventRelay()
    relay(started(0))
    relay(started(1))
    received: list[Event] = []

    async def consume() -> None:
        async for event in relay:
            received.append(event)

    task = asyncio.create_task(consume())
    await async_wait_until(lambda: len(received) == 2 and bool(relay._async_waiters))
    relay.close()
    await asyncio.wait_for(task, TIMEOUT)
    assert node_ids(received) == ["0", "1"]
    with pytest.raises(RelayClosed):
        await relay.get_async()


async def test_publisher_and_consumer_on_one_loop() -> None:
    bus = EventBus()
    relay = EventRelay()
    bus.subscribe(relay)
    count = 20

    async def consume() -> list[Event]:
        return [await relay.get_async() for _ in range(count)]

    task = asyncio.create_task(consume())
    for index in range(count):
        # Let the consumer park on its future before each publish, so the wake path runs.
        await async_wait_until(lambda: bool(relay._async_waiters) or task.done())
        bus.publish(started(index))
    received = await asyncio.wait_for(task, TIMEOUT)
    assert node_ids(received) == [str(index) for index in range(count)]


def test_async_consumer_on_another_threads_loop() -> None:
    bus = EventBus()
    relay = EventRelay()
    bus.subscribe(relay, NodeStarted)
    acks: queue.Queue[str] = queue.Queue()
    received: list[Event] = []
    errors: list[BaseException] = []
    paced = 20
    burst = 50

    async def consume() -> None:
        async for event in relay:
            received.append(event)
            acks.put(event.node_id if isinstance(event, NodeEvent) else "")

    async def publish() -> None:
        # Paced: each event waits for the previous ack, so most arrive while the consumer is
        # parked; then a burst, which arrives while it is busy.
        for index in range(paced):
            bus.publish(started(index))
            assert await asyncio.to_thread(acks.get, timeout=TIMEOUT) == str(index)
        for index in range(paced, paced + burst):
            bus.publish(started(index))

    def run(main: Callable[[], object]) -> None:
        try:
            asyncio.run(main())  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    consumer = threading.Thread(target=run, args=(consume,))
    publisher = threading.Thread(target=run, args=(publish,))
    consumer.start()
    publisher.start()
    publisher.join(TIMEOUT)
    wait_until(lambda: acks.qsize() == burst)
    relay.close()
    consumer.join(TIMEOUT)

    assert errors == []
    assert not consumer.is_alive()
    assert node_ids(received) == [str(index) for index in range(paced + burst)]


async def test_a_cancelled_waiter_hands_its_wake_on() -> None:
    relay = EventRelay()
    first = asyncio.create_task(relay.get_async())
    second = asyncio.create_task(relay.get_async())
    await async_wait_until(lambda: len(relay._async_waiters) == 2)
    relay(started(0))  # wakes the first waiter...
    first.cancel()  # ...which is cancelled before it runs
    event = await asyncio.wait_for(second, TIMEOUT)
    assert node_ids([event]) == ["0"]
    assert first.cancelled()
    assert relay._async_waiters == type(relay._async_waiters)()


def test_a_waiter_on_a_closed_loop_does_not_break_the_publisher() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    relay = EventRelay()
    relay._async_waiters.append((loop, loop.create_future()))
    relay(started(0))
    assert relay.stats().depth == 1
    assert relay.get_nowait() == started(0)


def test_stats_add_up() -> None:
    bus = EventBus()
    relay = EventRelay(maxsize=5)
    bus.subscribe(relay)
    published = 0
    for round_ in range(6):
        for _ in range(4):
            bus.publish(started(published))
            published += 1
        for _ in range(round_ % 3):
            relay.get_nowait()
        stats = relay.stats()
        assert stats.delivered + stats.dropped + stats.depth == published
    assert relay.stats().dropped > 0
    assert relay.stats().delivered > 0


def test_an_event_wakes_a_blocked_get() -> None:
    relay = EventRelay()
    results: queue.Queue[Event] = queue.Queue()
    consumer = threading.Thread(target=lambda: results.put(relay.get(timeout=TIMEOUT)))
    consumer.start()
    wait_until(lambda: relay._thread_waiters == 1)
    relay(started(0))
    consumer.join(TIMEOUT)
    assert results.get_nowait() == started(0)
    assert repr(relay) == "<EventRelay 0/1024 queued, open>"


async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    relay = EventRelay()
    task = asyncio.create_task(relay.get_async())
    await async_wait_until(lambda: bool(relay._async_waiters))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not relay._async_waiters
    relay(started(0))
    assert await relay.get_async() == started(0)
