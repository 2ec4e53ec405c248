from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from arachne.model.decorator import node
from arachne.model.function_node import FunctionNode
from arachne.model.message import Message
from arachne.model.node import Node
from arachne.model.port import PortSpec
from arachne.model.sources import IterSource
from tests.model.fakes import RecordingBinding

Bind = Callable[[Node], RecordingBinding]


def feed(instance: Node, *payloads: Any) -> None:
    for payload in payloads:
        instance.on_message("in", Message(payload))


# -- transforms ------------------------------------------------------------------------------


@node
def double(x: int) -> int:
    """Double a number."""
    return x * 2


def test_transform_is_a_function_node_class_named_after_the_function() -> None:
    assert isinstance(double, type)
    assert issubclass(double, FunctionNode)
    assert double.__name__ == "double"
    assert double.__qualname__ == "double"
    assert double.__module__ == __name__
    assert double.__doc__ == "Double a number."
    assert double().name() == "double"


def test_transform_ports_come_from_annotations() -> None:
    instance = double()
    assert instance.input_specs() == {"in": PortSpec("in", int)}
    assert instance.output_specs() == {"out": PortSpec("out", int)}


def test_transform_emits_the_result_on_out(bind: Bind) -> None:
    instance = double()
    recorder = bind(instance)
    feed(instance, 1, 5)
    assert recorder.emitted == [("out", 2), ("out", 10)]


def test_transform_keeps_the_function_callable() -> None:
    assert double.fn(4) == 8


def test_transform_returning_none_emits_nothing(bind: Bind) -> None:
    @node
    def keep_even(x: int) -> int | None:
        return x if x % 2 == 0 else None

    instance = keep_even()
    recorder = bind(instance)
    feed(instance, 1, 2, 3, 4)
    assert recorder.payloads() == [2, 4]
    # None means "emit nothing", so the port carries ints only.
    assert instance.output_specs() == {"out": PortSpec("out", int)}


def test_falsy_results_other_than_none_are_emitted(bind: Bind) -> None:
    @node
    def identity(x: Any) -> Any:
        return x

    instance = identity()
    recorder = bind(instance)
    feed(instance, 0, "", [], False)
    assert recorder.payloads() == [0, "", [], False]


def test_transform_optional_union_result_drops_only_none() -> None:
    @node
    def parse(text: str) -> int | float | None:
        return None

    assert parse().output_specs()["out"] == PortSpec("out", int | float)


def test_generator_transform_emits_every_item(bind: Bind) -> None:
    @node
    def split(line: str) -> Iterator[str]:
        yield from line.split()

    instance = split()
    recorder = bind(instance)
    feed(instance, "a b", "", "c")
    assert recorder.payloads() == ["a", "b", "c"]
    assert instance.input_specs() == {"in": PortSpec("in", str)}
    assert instance.output_specs() == {"out": PortSpec("out", str)}


def test_generator_may_yield_none_values(bind: Bind) -> None:
    @node
    def nones(x: int):
        yield None
        yield x

    instance = nones()
    recorder = bind(instance)
    feed(instance, 7)
    assert recorder.payloads() == [None, 7]
    assert instance.output_specs() == {"out": PortSpec("out")}


def test_unannotated_transform_ports_take_anything() -> None:
    @node
    def anything(x):
        return x

    assert anything().input_specs() == {"in": PortSpec("in")}
    assert anything().output_specs() == {"out": PortSpec("out")}


def test_unresolvable_annotations_fall_back_to_anything() -> None:
    @node
    def later(x: Undefined) -> Undefined:  # noqa: F821
        return x

    assert later().input_specs()["in"].schema_name == "any"
    assert later().output_specs()["out"].schema_name == "any"


def test_none_return_annotation_means_anything() -> None:
    @node
    def sink(x: int) -> None:
        return None

    assert sink().output_specs() == {"out": PortSpec("out")}


def test_keyword_only_parameters_do_not_count() -> None:
    @node
    def scale(x: float, *, factor: float = 2.0) -> float:
        return x * factor

    assert issubclass(scale, FunctionNode)
    assert scale().input_specs() == {"in": PortSpec("in", float)}


def test_two_parameter_function_is_rejected() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    with pytest.raises(TypeError, match="'add' takes 2 parameters; it must take one") as info:
        node(add)
    assert "subclass Node for more ports" in str(info.value)


def test_name_option_sets_the_default_name() -> None:
    @node(name="doubler")
    def twice(x: int) -> int:
        return x * 2

    assert twice().name() == "doubler"
    assert twice(name="other").name() == "other"
    assert twice.__name__ == "twice"


def test_empty_call_form_works() -> None:
    @node()
    def negate(x: int) -> int:
        return -x

    assert issubclass(negate, FunctionNode)
    assert negate().name() == "negate"


def test_inputs_and_outputs_override_annotations(bind: Bind) -> None:
    @node(inputs={"in": "acme.Order"}, outputs={"out": float})
    def price(order: dict) -> int:
        return order["price"]

    instance = price()
    assert instance.input_specs() == {"in": PortSpec("in", "acme.Order")}
    assert instance.output_specs() == {"out": PortSpec("out", float)}
    recorder = bind(instance)
    feed(instance, {"price": 3})
    assert recorder.payloads() == [3]


def test_config_reaches_the_context() -> None:
    instance = double(config={"factor": 3})
    assert instance.context.config == {"factor": 3}


def test_generated_docstring_when_function_has_none() -> None:
    @node
    def bare(x):
        return x

    assert bare.__doc__ == (
        "Node made from test_generated_docstring_when_function_has_none.<locals>.bare."
    )


# -- sources ---------------------------------------------------------------------------------


def test_generator_source_emits_every_item_then_finishes(bind: Bind) -> None:
    @node
    def count() -> Iterator[int]:
        yield from range(3)

    instance = count()
    assert isinstance(instance, IterSource)
    assert instance.input_specs() == {}
    assert instance.output_specs() == {"out": PortSpec("out", int)}
    recorder = bind(instance)
    instance.on_start()
    for _ in range(4):
        instance.on_tick()
    assert recorder.payloads() == [0, 1, 2]
    assert recorder.finished == 1


def test_source_returning_an_iterable(bind: Bind) -> None:
    @node
    def letters():
        return ["a", "b"]

    instance = letters()
    recorder = bind(instance)
    instance.on_start()
    assert instance.pull(10) == ["a", "b"]
    assert recorder.emitted == []
    assert instance.name() == "letters"
    assert instance.output_specs() == {"out": PortSpec("out")}


def test_source_returning_a_container_types_its_items() -> None:
    @node
    def numbers() -> list[int]:
        return [1, 2, 3]

    @node
    def words() -> Iterator[str]:
        return iter(["a"])

    assert numbers().output_specs() == {"out": PortSpec("out", int)}
    assert words().output_specs() == {"out": PortSpec("out", str)}


def test_source_function_runs_once_per_run() -> None:
    calls: list[int] = []

    @node
    def numbers():
        calls.append(1)
        return [1, 2, 3]

    instance = numbers()
    assert calls == []
    instance.on_start()
    assert instance.pull(2) == [1, 2]
    assert calls == [1]
    instance.on_start()
    assert instance.pull(5) == [1, 2, 3]
    assert calls == [1, 1]


def test_source_returning_a_non_iterable_fails_when_iterated() -> None:
    @node
    def oops():
        return 42

    instance = oops()  # building it does not call the function
    with pytest.raises(TypeError, match="source function 'oops' returned int") as info:
        instance.on_start()
    assert "must return an iterable or be a generator" in str(info.value)


def test_source_name_and_outputs_options() -> None:
    @node(name="ticker", outputs={"out": float})
    def ticks():
        yield 1.0

    instance = ticks()
    assert instance.name() == "ticker"
    assert instance.output_specs() == {"out": PortSpec("out", float)}
    assert ticks(name="t2", config={"a": 1}).name() == "t2"
