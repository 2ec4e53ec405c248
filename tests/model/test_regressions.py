"""Regressions: one test per bug found by review, each named after the behaviour it keeps."""

from __future__ import annotations

from typing import TypedDict

import pytest

from arachne.model import Graph, GraphError, Input, Node, Output, PortSpec, Subgraph, node
from arachne.model.message import Message
from arachne.model.schema import adapt
from arachne.model.specs import NodeSpec
from tests.model.fakes import RecordingBinding


class Movie(TypedDict):
    title: str
    year: int


class Step(Node):
    inp = Input(int, name="in")
    out = Output(int)


def test_cycle_is_listed_in_flow_order() -> None:
    g = Subgraph()
    for name in ("a", "b", "c"):
        g.add_node(Step(name=name))
    g.connect(("a", "out"), ("b", "in"))
    g.connect(("b", "out"), ("c", "in"))
    g.connect(("c", "out"), ("a", "in"))
    [issue] = g.validate()
    assert issue.message.startswith("cycle a -> b -> c -> a;")


def test_equal_graphs_hash_and_checksum_equal() -> None:
    a, b = NodeSpec("a", "k"), NodeSpec("b", "k")
    one, two = Graph([a, b], []), Graph([b, a], [])
    if one == two:
        assert hash(one) == hash(two)
        assert one.checksum() == two.checksum()


def test_optional_typed_dict_keeps_the_typed_dict() -> None:
    adapter = adapt(Movie | None)
    assert adapter.validate(None) is None
    assert adapter.validate({"title": "Alien", "year": 1979}) == {"title": "Alien", "year": 1979}


def test_source_returning_a_list_types_its_items() -> None:
    @node
    def numbers() -> list[int]:
        return [1, 2, 3]

    assert numbers().output_specs() == {"out": PortSpec("out", int)}


def test_renamed_output_is_where_the_transform_emits() -> None:
    @node(outputs={"evens": int})
    def evens(x: int) -> int:
        return x

    instance = evens()
    recorder = RecordingBinding()
    instance._arachne_binding = recorder
    instance.on_message("in", Message(2))
    assert [port for port, _ in recorder.emitted] == list(instance.output_specs())


def test_renamed_source_output_is_kept() -> None:
    @node(outputs={"nums": int})
    def nums():
        yield 1

    assert nums().output_specs() == {"nums": PortSpec("nums", int)}


def test_from_dict_rejects_a_non_string_edge_id() -> None:
    doc = {
        "nodes": [
            {"id": "a", "kind": "k", "outputs": {"out": "int"}},
            {"id": "b", "kind": "k", "inputs": {"in": "int"}},
        ],
        "edges": [
            {"id": 5, "source": {"node": "a", "port": "out"}, "target": {"node": "b", "port": "in"}}
        ],
    }
    with pytest.raises(GraphError, match=r"edges\[0\]\.id"):
        Graph.from_dict(doc)


def test_dict_input_accepts_a_typed_dict_output() -> None:
    assert adapt(dict).accepts(adapt(Movie))


def test_to_graph_lists_a_cycle_next_to_other_errors() -> None:
    g = Subgraph()
    g.add_node(Step())
    g.connect(("step", "out"), ("step", "in"))
    g.connect(("step", "outt"), ("step", "in"))
    with pytest.raises(GraphError) as info:
        g.to_graph()
    assert sorted(i.code for i in info.value.issues) == ["cycle", "unknown-port"]


def test_connect_returns_an_id_that_exists_in_the_graph() -> None:
    inner = Subgraph("etl")
    inner.add_node(Step())
    inner.expose_input("raw", ("step", "in"))
    inner.expose_output("rows", ("step", "out"))
    g = Subgraph()
    g.add_node(Step(name="src"))
    g.add_node(inner)
    link_id = g.connect(("src", "out"), ("etl", "raw"))
    assert link_id in g.to_graph().links


def test_redefined_port_attribute_replaces_the_base_port() -> None:
    class Base(Node):
        inp = Input(int, name="in")

    class Child(Base):
        inp = Input(str, name="text")

    assert list(Child().input_specs()) == ["text"]
