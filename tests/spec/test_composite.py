from __future__ import annotations

from typing import Any

import pytest

from arachne import Runtime, SpecError
from arachne.components import Registry
from arachne.spec import GraphDocument, build, parse_document, register_document
from arachne.spec.limits import MAX_INCLUDE_DEPTH
from tests.spec.components import Collect, doc, registry


def doubler() -> GraphDocument:
    data = doc(
        ("relay", "core.relay"),
        ("scale", "math.scale"),
        edges=[{"source": "relay:out", "target": "scale:in"}],
        inputs=[{"name": "in", "node": "relay", "port": "in"}],
        outputs=[{"name": "out", "node": "scale", "port": "out"}],
        version="3.1.0",
        description="doubles ints",
    )
    data["name"] = "Doubler"
    return parse_document(data)


def parent(component: str = "test.composite.doubler", **config: Any) -> GraphDocument:
    data = doc(
        ("numbers", "io.numbers"),
        ("double", "x"),
        ("sink", "core.collect"),
        edges=[
            {"source": "numbers:out", "target": "double:in"},
            {"source": "double:out", "target": "sink:in"},
        ],
    )
    data["nodes"][0]["config"] = {"values": [1, 2, 3]}
    data["nodes"][1]["component"] = component
    if config:
        data["nodes"][1]["config"] = config
    return parse_document(data)


def uses(component: str) -> GraphDocument:
    """A document whose only node is ``component``, exposing its ports."""
    return parse_document(
        {
            "arachne": "1.0",
            "name": f"uses {component}",
            "nodes": [{"id": "inner", "component": component}],
            "inputs": [{"name": "in", "node": "inner", "port": "in"}],
            "outputs": [{"name": "out", "node": "inner", "port": "out"}],
        }
    )


@pytest.fixture
def reg() -> Registry:
    reg = registry()
    register_document(reg, doubler(), id="test.composite.doubler")
    return reg


def test_the_definition_describes_the_document(reg: Registry) -> None:
    definition = reg.resolve("test.composite.doubler")
    assert definition.name == "Doubler"
    assert definition.version == "3.1.0"
    assert definition.category == "composite"
    assert definition.description == "doubles ints"
    assert [port.name for port in definition.inputs] == ["in"]
    assert [port.name for port in definition.outputs] == ["out"]
    assert definition.to_dict()["ports"]["inputs"][0]["description"] == "relay:in"
    other = register_document(reg, doubler(), id="test.composite.v2", version="9.0.0")
    assert other.version == "9.0.0"


def test_a_document_used_as_a_node_nests_with_path_ids(reg: Registry) -> None:
    sub = build(parent(), reg)
    graph = sub.to_graph()
    assert list(graph.nodes) == ["numbers", "double/relay", "double/scale", "sink"]
    assert "double/e1" in graph.links
    runtime = Runtime()
    runtime.register(sub)
    runtime.run()
    sink = next(m.unit for m in sub.members if m.id == "sink")
    assert isinstance(sink, Collect)
    assert sink.payloads == [2, 4, 6]


def test_documents_nest_more_than_one_level(reg: Registry) -> None:
    register_document(reg, uses("test.composite.doubler"), id="test.composite.outer")
    graph = build(parent("test.composite.outer"), reg).to_graph()
    assert "double/inner/scale" in graph.nodes


def test_a_composite_takes_no_config(reg: Registry) -> None:
    with pytest.raises(SpecError, match=r"nodes\[1\].config: Additional properties"):
        build(parent(factor=3), reg)


def test_a_document_cannot_include_itself_directly(reg: Registry) -> None:
    with pytest.raises(SpecError) as info:
        register_document(reg, uses("test.composite.self"), id="test.composite.self")
    assert str(info.value) == (
        "nodes[0].component: document 'uses test.composite.self' uses itself "
        "('test.composite.self'); a document cannot contain itself, directly or through "
        "other documents"
    )
    assert "test.composite.self" not in reg


def test_a_document_cannot_include_itself_through_others(reg: Registry) -> None:
    register_document(reg, uses("test.composite.a"), id="test.composite.b")
    register_document(reg, uses("test.composite.b"), id="test.composite.a")
    with pytest.raises(SpecError) as info:
        build(parent("test.composite.a"), reg)
    message = str(info.value)
    assert message.startswith("nodes[1]: component 'test.composite.a': nodes[0]: component ")
    assert message.endswith(
        "component 'test.composite.a' includes itself: test.composite.a -> test.composite.b "
        "-> test.composite.a; a document cannot contain itself, directly or through other "
        "documents"
    )


def test_include_chains_are_bounded(reg: Registry) -> None:
    previous = "test.composite.doubler"
    for level in range(MAX_INCLUDE_DEPTH + 1):
        register_document(reg, uses(previous), id=f"test.composite.level{level}")
        previous = f"test.composite.level{level}"
    with pytest.raises(SpecError, match=f"documents nest more than {MAX_INCLUDE_DEPTH} levels"):
        build(parent(previous), reg)
    build(parent(f"test.composite.level{MAX_INCLUDE_DEPTH - 2}"), reg)


def test_errors_inside_a_composite_name_the_component(reg: Registry) -> None:
    register_document(reg, uses("test.core.nope"), id="test.composite.broken")
    with pytest.raises(SpecError) as info:
        build(parent("test.composite.broken"), reg)
    assert str(info.value).startswith(
        "nodes[1]: component 'test.composite.broken': nodes[0].component: unknown component "
        "'test.core.nope'"
    )


def test_a_cyclic_document_is_refused_at_registration(reg: Registry) -> None:
    data = doc(("a", "core.relay"), edges=[{"source": "a:out", "target": "a:in"}])
    with pytest.raises(SpecError, match=r"^cycle: a -> a"):
        register_document(reg, parse_document(data), id="test.composite.loop")


def test_ids_follow_the_registry_s_rules(reg: Registry) -> None:
    with pytest.raises(ValueError, match="must be namespaced"):
        register_document(reg, doubler(), id="doubler")
    with pytest.raises(ValueError, match="already registered"):
        register_document(reg, doubler(), id="test.composite.doubler")
    with pytest.raises(TypeError, match="takes a GraphDocument"):
        register_document(reg, {}, id="test.composite.x")  # type: ignore[arg-type]
