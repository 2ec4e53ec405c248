from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from arachne.model.errors import ExecutionError
from arachne.model.message import Message
from arachne.model.node import Node, overrides
from arachne.model.port import Input, Output, PortSpec
from tests.model.fakes import RecordingBinding

Bind = Callable[[Node], RecordingBinding]


class WordCounter(Node):
    inp = Input(str, name="in")
    counts = Output(int)
    errors = Output(str, description="lines that failed")


class Doubler(Node):
    def inputs(self) -> Mapping[str, Any]:
        return {"in": int, "raw": "bytes", "anything": None}

    def outputs(self) -> Mapping[str, Any]:
        return {"out": PortSpec("out", float, "twice the input")}


class Bare(Node):
    """Never calls super().__init__()."""

    def __init__(self, factor: int) -> None:
        self.factor = factor


# -- ports -----------------------------------------------------------------------------------


def test_class_attribute_ports() -> None:
    node = WordCounter()
    assert node.input_specs() == {"in": PortSpec("in", str)}
    assert node.output_specs() == {
        "counts": PortSpec("counts", int),
        "errors": PortSpec("errors", str),
    }
    assert node.output_specs()["errors"].description == "lines that failed"


def test_class_attribute_ports_are_inherited_and_extended() -> None:
    class Tagged(WordCounter):
        tags = Output(list)

    assert list(Tagged().output_specs()) == ["counts", "errors", "tags"]
    assert list(Tagged().input_specs()) == ["in"]


def test_node_without_ports_has_none() -> None:
    assert Node().input_specs() == {}
    assert Node().output_specs() == {}


def test_ports_from_inputs_and_outputs_methods() -> None:
    node = Doubler()
    assert node.input_specs() == {
        "in": PortSpec("in", int),
        "raw": PortSpec("raw", bytes),
        "anything": PortSpec("anything"),
    }
    assert node.output_specs() == {"out": PortSpec("out", float)}
    assert node.output_specs()["out"].description == "twice the input"


def test_bad_ports_name_the_node_and_method() -> None:
    class Broken(Node):
        def inputs(self) -> Any:
            return ["in"]

        def outputs(self) -> Any:
            return {"out": 42}

    with pytest.raises(TypeError, match=r"broken.inputs\(\) must return a dict"):
        Broken().input_specs()
    with pytest.raises(TypeError, match=r"broken.outputs\(\): port 'out'"):
        Broken().output_specs()


def test_ports_are_readable_as_specs_on_the_instance() -> None:
    node = WordCounter()
    assert node.counts == PortSpec("counts", int)
    assert WordCounter.inp.name == "in"


# -- naming and config -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls_name", "expected"),
    [
        ("Node", "node"),
        ("WordCounter", "word_counter"),
        ("ParseCSV", "parse_csv"),
        ("Step2Merge", "step2_merge"),
        ("already_snake", "already_snake"),
    ],
)
def test_default_name_is_snake_case_of_the_class(cls_name: str, expected: str) -> None:
    cls = type(cls_name, (Node,), {})
    assert cls().name() == expected


def test_default_name_class_attribute_wins_over_class_name() -> None:
    class Fancy(Node):
        default_name = "plain"

    assert Fancy().name() == "plain"
    assert Fancy(name="given").name() == "given"


def test_name_and_config_constructor_arguments() -> None:
    config = {"limit": 5}
    node = WordCounter(name="counter", config=config)
    config["limit"] = 6
    assert node.name() == "counter"
    assert node.context.config == {"limit": 5}
    assert node.context.node_id == "counter"


def test_context_is_detached_cached_and_read_only() -> None:
    node = WordCounter(config={"limit": 5})
    ctx = node.context
    assert node.context is ctx
    assert ctx.execution_id == ""
    assert ctx.logger.name == "arachne.node.word_counter"
    with pytest.raises(TypeError):
        ctx.config["limit"] = 1  # type: ignore[index]
    ctx.state["seen"] = 1
    assert node.context.state == {"seen": 1}


def test_subclass_without_super_init_still_works() -> None:
    node = Bare(3)
    assert node.factor == 3
    assert node.name() == "bare"
    assert node.context.node_id == "bare"
    assert dict(node.context.config) == {}
    assert node.input_specs() == {}


def test_subclass_without_super_init_cannot_emit_or_finish_when_not_running() -> None:
    node = Bare(3)
    with pytest.raises(ExecutionError, match="node 'bare' emitted on 'out' while not running"):
        node.emit("out", 1)
    with pytest.raises(ExecutionError, match=r"node 'bare' called finish\(\) while not running"):
        node.finish()


def test_emit_outside_a_run_is_a_runtime_error_with_the_fix() -> None:
    with pytest.raises(RuntimeError, match="emit only from hooks called by the runtime"):
        WordCounter().emit("counts", 1)


# -- actions with a binding ------------------------------------------------------------------


def test_emit_and_finish_go_through_the_binding(bind: Bind) -> None:
    node = Bare(2)
    recorder = bind(node)
    msg = Message(5, trace_id="t")
    node.emit("out", 1)
    node.emit("out", msg)
    node.finish()
    assert recorder.emitted == [("out", 1), ("out", msg)]
    assert recorder.emitted[1][1] is msg
    assert recorder.finished == 1


def test_emit_accepts_a_port_spec(bind: Bind) -> None:
    node = WordCounter()
    recorder = bind(node)
    node.emit(node.counts, 7)
    node.emit(WordCounter.errors, "bad line")
    assert recorder.emitted == [("counts", 7), ("errors", "bad line")]


def test_default_hooks_do_nothing(bind: Bind) -> None:
    node = Node()
    recorder = bind(node)
    node.on_start()
    node.on_message("in", Message(1))
    node.on_tick()
    node.on_finish()
    node.on_stop()
    assert recorder.emitted == []
    assert recorder.finished == 0


def test_class_attributes_the_scheduler_reads_default_off() -> None:
    assert Node.cadence is None
    assert Node.keep_alive is False


def test_overrides_detects_hooks_defined_by_subclasses() -> None:
    class Ticker(Node):
        def on_tick(self) -> None:
            pass

    class SubTicker(Ticker):
        pass

    assert overrides(Ticker(), "on_tick")
    assert overrides(SubTicker(), "on_tick")
    assert not overrides(Ticker(), "on_message")
    assert not overrides(Node(), "on_tick")
