from __future__ import annotations

from collections.abc import Callable, Iterator

from arachne.model.node import Node
from arachne.model.port import PortSpec
from arachne.model.sources import IterSource
from tests.model.fakes import RecordingBinding

Bind = Callable[[Node], RecordingBinding]


def counting(n: int, taken: list[int]) -> Iterator[int]:
    for i in range(n):
        taken.append(i)
        yield i


def test_outputs_one_port_typed_by_schema() -> None:
    assert IterSource([]).output_specs() == {"out": PortSpec("out")}
    source = IterSource([], port="rows", schema=int)
    assert source.output_specs() == {"rows": PortSpec("rows", int)}
    assert source.input_specs() == {}


def test_name_and_config_pass_through() -> None:
    source = IterSource([], name="numbers", config={"n": 3})
    assert source.name() == "numbers"
    assert source.context.config == {"n": 3}
    assert IterSource([]).name() == "iter_source"


def test_ticks_emit_items_in_order_then_finish(bind: Bind) -> None:
    source = IterSource(["a", "b"], port="rows")
    recorder = bind(source)
    source.on_start()
    source.on_tick()
    source.on_tick()
    assert recorder.emitted == [("rows", "a"), ("rows", "b")]
    assert recorder.finished == 0
    source.on_tick()
    assert recorder.finished == 1
    assert len(recorder.emitted) == 2


def test_tick_without_start_opens_the_iterator(bind: Bind) -> None:
    source = IterSource(iter([1, 2]))
    recorder = bind(source)
    source.on_tick()
    source.on_tick()
    assert recorder.payloads() == [1, 2]


def test_start_restarts_a_reiterable(bind: Bind) -> None:
    source = IterSource([1, 2])
    recorder = bind(source)
    source.on_start()
    source.on_tick()
    source.on_start()
    source.on_tick()
    assert recorder.payloads() == [1, 1]


def test_pull_returns_batches_and_a_short_batch_at_the_end() -> None:
    source = IterSource(range(5))
    source.on_start()
    assert source.pull(2) == [0, 1]
    assert source.pull(2) == [2, 3]
    assert source.pull(2) == [4]
    assert source.pull(2) == []


def test_pull_without_start_opens_the_iterator() -> None:
    assert IterSource("xyz").pull(5) == ["x", "y", "z"]


def test_pull_takes_only_what_it_returns_from_a_generator() -> None:
    taken: list[int] = []
    source = IterSource(counting(1_000_000, taken))
    assert source.pull(3) == [0, 1, 2]
    assert taken == [0, 1, 2]
    assert source.pull(1) == [3]
    assert taken == [0, 1, 2, 3]


def test_pull_and_tick_share_one_iterator(bind: Bind) -> None:
    source = IterSource(range(4))
    recorder = bind(source)
    source.on_start()
    assert source.pull(2) == [0, 1]
    source.on_tick()
    assert recorder.payloads() == [2]
    assert source.pull(10) == [3]
