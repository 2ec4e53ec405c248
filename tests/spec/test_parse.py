from __future__ import annotations

import copy
from typing import Any

import pytest

from arachne import SpecError
from arachne.spec import (
    EdgeDoc,
    ExposedPortDoc,
    GraphDocument,
    NodeDoc,
    PortRefDoc,
    parse_document,
)
from arachne.spec.limits import MAX_DEPTH, MAX_EDGES, MAX_NODES
from tests.spec.components import chain, doc


def error_of(data: object) -> str:
    with pytest.raises(SpecError) as info:
        parse_document(data)
    return str(info.value)


def test_a_minimal_document_gets_its_defaults() -> None:
    parsed = parse_document(chain())
    assert parsed.name == "test"
    assert parsed.version == "1.0.0"
    assert parsed.dialect == "arachne"
    assert parsed.spec_version == "1.0"
    assert parsed.description is None
    assert [node.id for node in parsed.nodes] == ["numbers", "scale", "sink"]
    assert parsed.nodes[0].config == {}
    first = parsed.edges[0]
    assert first == EdgeDoc("e1", PortRefDoc("numbers", "out"), PortRefDoc("scale", "in"))
    assert (first.capacity, first.overflow, first.priority, first.control) == (
        1024,
        "block",
        0,
        False,
    )
    assert parsed.edges[1].id == "e2"


def test_the_runtime_service_dialect_is_kept() -> None:
    data = chain()
    del data["arachne"]
    data["symbia"] = "1.0"
    parsed = parse_document(data)
    assert parsed.dialect == "symbia"
    assert parsed.to_dict()["symbia"] == "1.0"
    assert "arachne" not in parsed.to_dict()


def test_every_field_is_read() -> None:
    data = doc(
        ("a", "io.numbers"),
        ("b", "math.scale"),
        edges=[
            {
                "id": "main",
                "source": {"node": "a", "port": "out"},
                "target": "b:in",
                "capacity": 8,
                "overflow": "latest",
                "priority": -3,
                "control": True,
            }
        ],
        version="2.1.0",
        description="two nodes",
        inputs=[{"name": "feed", "node": "b", "port": "in"}],
        outputs=[{"name": "result", "node": "b", "port": "out"}],
        metadata={"owner": "ops"},
    )
    data["nodes"][1].update(
        config={"factor": 3},
        name="Scale",
        description="times three",
        position={"x": 1, "y": 2},
        metadata={"tags": ["math"]},
    )
    parsed = parse_document(data)
    assert parsed.edges == (
        EdgeDoc("main", PortRefDoc("a", "out"), PortRefDoc("b", "in"), 8, "latest", -3, True),
    )
    assert parsed.nodes[1] == NodeDoc(
        "b",
        "test.math.scale",
        {"factor": 3},
        "Scale",
        "times three",
        {"x": 1, "y": 2},
        {"tags": ["math"]},
    )
    assert parsed.inputs == (ExposedPortDoc("feed", "b", "in"),)
    assert parsed.outputs == (ExposedPortDoc("result", "b", "out"),)
    assert parsed.metadata == {"owner": "ops"}
    assert parsed.version == "2.1.0"
    assert parsed.description == "two nodes"


def test_to_dict_reads_back_equal() -> None:
    parsed = parse_document(chain())
    again = parse_document(parsed.to_dict())
    assert again == parsed
    assert again.to_dict() == parsed.to_dict()


def test_the_document_is_a_copy_of_the_input() -> None:
    data = chain()
    data["nodes"][1]["config"] = {"factor": 2, "deep": {"list": [1]}}
    parsed = parse_document(data)
    data["nodes"][1]["config"]["deep"]["list"].append(2)
    assert parsed.nodes[1].config["deep"] == {"list": [1]}
    with pytest.raises(TypeError):
        parsed.nodes[1].config["factor"] = 5  # type: ignore[index]


def test_generated_edge_ids_skip_ids_in_use() -> None:
    data = doc(
        ("a", "core.relay"),
        ("b", "core.relay"),
        edges=[
            {"source": "a:out", "target": "b:in"},
            {"id": "e1", "source": "a:out", "target": "b:in"},
            {"source": "a:out", "target": "b:in"},
        ],
    )
    assert [edge.id for edge in parse_document(data).edges] == ["e2", "e1", "e3"]


def test_null_means_empty_for_config_edges_inputs_and_outputs() -> None:
    data = doc(("a", "core.relay"), edges=None, inputs=None, outputs=None)
    data["edges"] = None
    data["nodes"][0]["config"] = None
    parsed = parse_document(data)
    assert parsed.edges == ()
    assert parsed.nodes[0].config == {}


def test_a_typo_in_a_node_reference_is_named_with_a_suggestion() -> None:
    data = doc(
        ("input", "core.relay"),
        ("double", "math.scale"),
        edges=[
            {"source": "input:out", "target": "double:in"},
            {"source": {"node": "dobule", "port": "out"}, "target": "input:in"},
        ],
    )
    assert error_of(data) == "edges[1].source.node: unknown node 'dobule'; did you mean 'double'?"


def test_all_problems_are_reported_together() -> None:
    data: dict[str, Any] = {
        "arachne": "1.0",
        "name": "",
        "nodez": [],
        "nodes": [
            {"id": "a/b", "component": 3},
            {"id": "double", "component": "x", "config": [1]},
            {"id": "double", "component": "y"},
        ],
        "edges": [
            {"source": "zzz:out", "target": {"node": "double"}, "capacity": 0},
            "x",
            {"source": "double:out", "target": "double:in", "priority": True, "overflow": "lates"},
        ],
    }
    message = error_of(data)
    assert message.startswith("graph document has 12 problems:\n")
    for line in [
        "nodez: unknown key 'nodez'; did you mean 'nodes'? (allowed keys: arachne, symbia, ",
        "name: must not be empty",
        "nodes[0].id: 'a/b' may not contain '/' (it separates nested graphs); rename it",
        "nodes[0].component: expected a string, found number 3",
        "nodes[1].config: expected an object, found an array",
        "nodes[2].id: duplicate id 'double' (first used by nodes[1]); give each node its own id",
        "edges[0].source.node: unknown node 'zzz'; declare it under nodes or fix the id",
        "edges[0].target.port: missing; add the name of a port",
        "edges[0].capacity: found number 0; use an integer from 1 to 1,000,000",
        'edges[1]: expected an object like {"source": ..., "target": ...}, found string',
        "edges[2].priority: expected an integer from -1000000 to 1000000, found boolean true",
        "edges[2].overflow: unknown policy 'lates'; did you mean 'latest'?",
    ]:
        assert f"  - {line}" in message, line
    with pytest.raises(SpecError) as info:
        parse_document(data)
    assert len(info.value.issues) == 12
    assert {issue.code for issue in info.value.issues} >= {"unknown-key", "duplicate-id", "type"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"arachne": "2.0"}, "arachne: unsupported version '2.0'; this release reads \"1.0\""),
        ({"arachne": 1.0}, "arachne: expected a version string, found number 1.0; write arachne"),
        ({"symbia": "1.0"}, "symbia: give exactly one of 'arachne' and 'symbia'; remove one"),
        ({"version": 1.0}, "version: expected a string, found number 1.0; quote it"),
        ({"name": None}, "name: expected a string, found null"),
        ({"nodes": {}}, "nodes: expected an array, found an object"),
        ({"edges": [{"source": "a", "target": "b:in"}]}, "edges[0].source: found string 'a'"),
        ({"edges": [{"source": "a:b c", "target": "b:in"}]}, "port name in 'a:b c' 'b c' may"),
        ({"edges": [{"source": 5, "target": "b:in"}]}, "edges[0].source: expected"),
        ({"edges": [{"id": "x/y", "source": "a:out", "target": "b:in"}]}, "edges[0].id: 'x/y'"),
        ({"outputs": [{"name": "o", "node": "nope", "port": "out"}]}, "outputs[0].node: unknown"),
        ({"inputs": [{"name": "i", "node": "a"}]}, "inputs[0].port: missing"),
        ({"metadata": []}, "metadata: expected an object, found an array"),
    ],
)
def test_single_problems_name_path_and_fix(change: dict[str, Any], expected: str) -> None:
    data = doc(("a", "core.relay"), ("b", "core.relay"))
    data.update(change)
    assert expected in error_of(data)


def test_coalesce_is_refused_with_the_python_way_to_get_it() -> None:
    data = doc(
        ("a", "core.relay"),
        ("b", "core.relay"),
        edges=[{"source": "a:out", "target": "b:in", "overflow": "coalesce"}],
    )
    message = error_of(data)
    assert message.startswith("edges[0].overflow: 'coalesce' needs a Python merge function")
    assert "Coalesce(fn)" in message


def test_duplicate_edge_ids_and_output_names_are_refused() -> None:
    data = doc(
        ("a", "core.relay"),
        ("b", "core.relay"),
        edges=[
            {"id": "x", "source": "a:out", "target": "b:in"},
            {"id": "x", "source": "a:out", "target": "b:in"},
        ],
        outputs=[
            {"name": "o", "node": "b", "port": "out"},
            {"name": "o", "node": "a", "port": "out"},
        ],
    )
    message = error_of(data)
    assert "edges[1].id: duplicate id 'x' (first used by edges[0])" in message
    assert "outputs[1].name: output 'o' is exposed twice" in message


def test_an_input_may_be_exposed_to_several_targets() -> None:
    data = doc(
        ("a", "core.relay"),
        ("b", "core.relay"),
        inputs=[
            {"name": "in", "node": "a", "port": "in"},
            {"name": "in", "node": "b", "port": "in"},
        ],
    )
    assert len(parse_document(data).inputs) == 2


@pytest.mark.parametrize(
    ("top", "found"), [([], "an array"), ("x", "string 'x'"), (None, "null"), (3, "number 3")]
)
def test_the_top_must_be_an_object(top: object, found: str) -> None:
    assert error_of(top) == (
        f"document: expected an object with 'arachne', 'name' and 'nodes', found {found}"
    )


def test_the_version_key_is_required() -> None:
    data = chain()
    del data["arachne"]
    assert error_of(data).startswith('document: missing the format version; add arachne: "1.0"')


@pytest.mark.parametrize("node_id", ["", "a.b", "a:b", "a b", "a\x00", "x" * 129])
def test_bad_node_ids(node_id: str) -> None:
    message = error_of(doc((node_id, "core.relay")))
    assert message.startswith("nodes[0].id: ")


def test_size_limits() -> None:
    many = doc(*[(f"n{i}", "core.relay") for i in range(MAX_NODES + 1)])
    assert "nodes: has 10,001 items; at most 10,000 are allowed" in error_of(many)
    edges = [{"source": "a:out", "target": "a:in"}] * (MAX_EDGES + 1)
    assert "edges: has 10,001 items" in error_of(doc(("a", "core.relay"), edges=edges))


def test_values_json_cannot_say_are_refused() -> None:
    data = chain()
    data["nodes"][1]["config"] = {
        "nan": float("nan"),
        "inf": float("-inf"),
        "blob": b"x",
        1: "int key",
        "set": {1},
    }
    message = error_of(data)
    assert "nodes[1].config.nan: found nan; numbers must be finite" in message
    assert "nodes[1].config.inf: found -inf" in message
    assert "nodes[1].config.blob: found a bytes, which JSON cannot represent" in message
    assert "nodes[1].config: key 1 is a int, not a string; quote it" in message
    assert "nodes[1].config.set: found a set" in message


def test_deep_nesting_and_self_reference_end_in_a_spec_error() -> None:
    data = chain()
    deep: list[Any] = []
    data["nodes"][0]["config"] = {"values": deep}
    for _ in range(MAX_DEPTH * 10):
        deep.append([])
        deep = deep[0]
    assert f"nested deeper than {MAX_DEPTH} levels" in error_of(data)
    loop: dict[str, Any] = {}
    loop["self"] = loop
    data["nodes"][0]["config"] = loop
    assert "nested deeper than" in error_of(data)


def test_tuples_count_as_arrays_and_mappings_as_objects() -> None:
    data = chain()
    data["nodes"][0]["config"] = {"values": (1, 2)}
    parsed = parse_document(copy.deepcopy(data))
    assert parsed.nodes[0].config["values"] == [1, 2]


def test_a_hand_built_document_is_plain_data() -> None:
    built = GraphDocument(name="x", nodes=(NodeDoc("a", "test.core.relay"),))
    assert built.to_dict() == {
        "arachne": "1.0",
        "name": "x",
        "version": "1.0.0",
        "nodes": [{"id": "a", "component": "test.core.relay"}],
        "edges": [],
    }
    assert built.node("a").component == "test.core.relay"
    with pytest.raises(KeyError):
        built.node("b")


def test_a_huge_array_of_scalars_counts_against_the_value_limit() -> None:
    data = chain()
    data["nodes"][0]["config"] = {"values": [0] * 600_000}
    assert error_of(data).startswith("document has more than 500,000 values")
