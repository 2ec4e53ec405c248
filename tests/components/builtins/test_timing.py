"""delay and accumulator: time measured on the runtime's clock, so a FakeClock makes it exact."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from arachne.components import Registry
from arachne.components.builtins import Accumulator, Delay
from arachne.model.errors import SpecError
from arachne.runtime import FakeClock
from tests.components.builtins.helpers import Collect, Scheduled, line, run, source


def delayed(
    items: Sequence[tuple[float, object]], delay: Delay, end: float
) -> tuple[Collect, Delay]:
    clock = FakeClock()
    graph, sink = line(Scheduled(clock, items, end=end), delay, sink=Collect(clock=clock))
    run(graph, clock)
    return sink, delay


def test_delay_holds_each_value_for_ms_on_the_fake_clock() -> None:
    items = [(0.0, "a"), (0.013, "b"), (0.05, "c"), (0.051, "d")]
    sink, _ = delayed(items, Delay(ms=100, resolution_ms=5), end=1.0)
    assert sink.payloads == ["a", "b", "c", "d"]
    assert sink.times == pytest.approx([0.105, 0.115, 0.155, 0.155])
    for (sent, _), received in zip(items, sink.times, strict=True):
        waited = received - sent
        assert 0.1 - 1e-9 <= waited <= 0.1 + 2 * 0.005 + 1e-9


def test_delay_keeps_order_under_load() -> None:
    items = [(i * 0.001, i) for i in range(200)]
    sink, _ = delayed(items, Delay(ms=20), end=0.5)
    assert sink.payloads == list(range(200))
    assert min(t - s for (s, _), t in zip(items, sink.times, strict=True)) >= 0.02 - 1e-9


def test_delay_default_resolution_is_a_tenth_of_ms() -> None:
    assert Delay(ms=100).cadence == pytest.approx(0.01)
    assert Delay(ms=5).cadence == pytest.approx(0.001)
    assert Delay(ms=60_000).cadence == pytest.approx(0.1)
    assert Delay(ms=0.5).cadence == pytest.approx(0.0005)


def test_delay_zero_forwards_at_once_without_ticks() -> None:
    delay = Delay(ms=0)
    assert delay.cadence is None
    graph, sink = line(source([1, 2, 3]), delay)
    run(graph)
    assert sink.payloads == [1, 2, 3]


def test_delay_releases_what_waits_at_end_of_stream_in_order() -> None:
    # The source ends at once: the values still waiting leave when the last one is due, on
    # the runtime's clock (a fake one here: a minute passes at once), not early and not never.
    clock = FakeClock()
    graph, sink = line(source(range(5)), Delay(ms=60_000), sink=Collect(clock=clock))
    runtime = run(graph, clock)
    assert sink.payloads == [0, 1, 2, 3, 4]
    assert runtime.stats().state == "completed"
    assert min(sink.times) >= 60.0


@pytest.mark.parametrize(
    ("config", "match"),
    [({"ms": -1}, r"config\.ms: found -1"), ({"ms": 5, "resolution_ms": 0}, "resolution_ms")],
)
def test_delay_refuses_bad_config(config: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        Registry.default().create("symbia.core.delay", config)
    with pytest.raises(ValueError, match="ms must be >= 0"):
        Delay(**config)


def accumulate(
    items: Sequence[tuple[float, object]], node: Accumulator, end: float
) -> tuple[list[object], list[float]]:
    clock = FakeClock()
    graph, sink = line(Scheduled(clock, items, end=end), node, sink=Collect(clock=clock))
    run(graph, clock)
    return sink.payloads, sink.times


def test_accumulator_batches_by_count_and_flushes_the_rest_at_the_end() -> None:
    graph, sink = line(source(range(7)), Accumulator(count=3))
    run(graph)
    assert sink.payloads == [[0, 1, 2], [3, 4, 5], [6]]


def test_accumulator_defaults_to_batches_of_ten() -> None:
    node = Registry.default().create("arachne.core.accumulator", {})
    assert isinstance(node, Accumulator)
    assert node.count == 10
    assert node.cadence is None
    graph, sink = line(source(range(25)), node)
    run(graph)
    assert [len(batch) for batch in sink.payloads] == [10, 10, 5]


def test_accumulator_closes_a_batch_interval_ms_after_its_first_value() -> None:
    items = [(0.0, 1), (0.02, 2), (0.2, 3), (0.25, 4), (0.26, 5)]
    batches, times = accumulate(items, Accumulator(interval_ms=100, resolution_ms=10), end=1.0)
    assert batches == [[1, 2], [3, 4, 5]]
    assert 0.1 - 1e-9 <= times[0] <= 0.1 + 0.02 + 1e-9
    assert 0.3 - 1e-9 <= times[1] <= 0.3 + 0.02 + 1e-9


def test_accumulator_with_count_and_interval_closes_on_whichever_comes_first() -> None:
    items = [(0.0, 1), (0.001, 2), (0.002, 3), (0.5, 4)]
    batches, times = accumulate(items, Accumulator(count=2, interval_ms=50), end=1.0)
    assert batches == [[1, 2], [3], [4]]
    assert times[0] == pytest.approx(0.001)
    assert 0.052 - 1e-9 <= times[1] <= 0.052 + 0.01 + 1e-9


def test_accumulator_flushes_an_open_interval_batch_at_end_of_stream() -> None:
    graph, sink = line(source(["a", "b"]), Accumulator(interval_ms=60_000))
    run(graph)
    assert sink.payloads == [["a", "b"]]


@pytest.mark.parametrize(
    "config",
    [{"count": 0}, {"count": 1.5}, {"interval_ms": 0}, {"interval": 5}, {"count": "3"}],
    ids=repr,
)
def test_accumulator_refuses_bad_config(config: dict[str, object]) -> None:
    with pytest.raises(SpecError, match=r"node\.config"):
        Registry.default().create("arachne.core.accumulator", config)
