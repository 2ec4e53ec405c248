from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arachne import Node, Runtime, SpecError, Subgraph
from arachne.components import ComponentDefinition, Registry
from arachne.spec import build, load, parse_document
from tests.spec.components import Collect, chain, doc, registry


def build_data(data: dict[str, Any], reg: Registry | None = None) -> Subgraph:
    return build(parse_document(data), reg or registry())


def error_of(data: dict[str, Any], reg: Registry | None = None) -> str:
    with pytest.raises(SpecError) as info:
        build_data(data, reg)
    return str(info.value)


def sink_of(sub: Subgraph, name: str = "sink") -> Collect:
    unit = next(member.unit for member in sub.members if member.id == name)
    assert isinstance(unit, Collect)
    return unit


def test_a_document_builds_a_graph_with_its_ids_and_options() -> None:
    data = chain()
    data["edges"][0].update(id="feed", capacity=4, overflow="drop", priority=2, control=True)
    sub = build_data(data)
    assert sub.name() == ""
    graph = sub.to_graph()
    assert list(graph.nodes) == ["numbers", "scale", "sink"]
    assert set(graph.links) == {"feed", "e2"}
    feed = graph.links["feed"]
    assert (feed.capacity, feed.overflow, feed.priority, feed.control) == (4, "drop", 2, True)
    assert graph.nodes["scale"].config == {"factor": 2}  # the schema's default filled in


def test_a_built_graph_runs() -> None:
    data = chain()
    data["nodes"][0]["config"] = {"values": [1, 2, 3]}
    data["nodes"][1]["config"] = {"factor": 10}
    sub = build_data(data)
    runtime = Runtime()
    runtime.register(sub)
    runtime.run()
    assert sink_of(sub).payloads == [10, 20, 30]


def test_aliases_and_the_implicit_error_port_are_accepted() -> None:
    data = doc(
        ("relay", "core.relay"),
        ("scale", "math.scale"),
        ("errors", "core.collect"),
        edges=[
            {"source": "relay:out", "target": "scale:in"},
            {"source": "scale:error", "target": "errors:in"},
        ],
    )
    data["nodes"][1]["component"] = "symbia.test.scale"
    assert "scale.error->errors.in" not in build_data(data).to_graph().links
    assert "e2" in build_data(data).to_graph().links


def test_exposed_ports_become_the_subgraph_s_ports() -> None:
    data = chain()
    data["inputs"] = [{"name": "x", "node": "scale", "port": "in"}]
    data["outputs"] = [{"name": "y", "node": "scale", "port": "out"}]
    sub = build_data(data)
    assert list(sub.inputs()) == ["x"]
    assert list(sub.outputs()) == ["y"]


def test_unknown_components_and_bad_config_are_named() -> None:
    data = chain()
    data["nodes"][1]["component"] = "test.math.scal"
    data["nodes"][0]["config"] = {"values": "nope"}
    message = error_of(data)
    assert message.startswith("graph document has 2 problems:")
    assert "nodes[0].config.values: found 'nope', expected type 'array'" in message
    assert (
        "nodes[1].component: unknown component 'test.math.scal'; did you mean 'test.math.scale'"
        in message
    )


def test_config_the_schema_forbids_is_named_with_its_path() -> None:
    data = chain()
    data["nodes"][1]["config"] = {"factor": "two", "extra": 1}
    message = error_of(data)
    assert "nodes[1].config.factor: found 'two', expected type 'integer'" in message
    assert "known settings: factor" in message


def test_unknown_ports_list_the_node_s_ports() -> None:
    data = chain()
    data["edges"][0]["source"] = "numbers:outt"
    data["edges"][1]["target"] = {"node": "sink", "port": "input"}
    data["inputs"] = [{"name": "x", "node": "scale", "port": "inn"}]
    data["outputs"] = [{"name": "y", "node": "sink", "port": "out"}]
    message = error_of(data)
    for line in [
        "edges[0].source.port: node 'numbers' (test.io.numbers) has no output port 'outt'; "
        "did you mean 'out'? (its outputs: out, error)",
        "edges[1].target.port: node 'sink' (test.core.collect) has no input port 'input' "
        "(its inputs: in)",
        "inputs[0].port: node 'scale' (test.math.scale) has no input port 'inn'; did you mean "
        "'in'? (its inputs: in)",
        "outputs[0].port: node 'sink' (test.core.collect) has no output port 'out'",
    ]:
        assert f"  - {line}" in message, line


def test_incompatible_schemas_are_found_by_validate() -> None:
    data = doc(
        ("scale", "math.scale"),
        ("upper", "text.upper"),
        edges=[{"source": "scale:out", "target": "upper:in"}],
    )
    message = error_of(data)
    assert "port 'out' of node 'scale' emits int but port 'in' of node 'upper' expects str" in (
        message
    )


def test_a_failing_factory_is_a_spec_error() -> None:
    message = error_of(doc(("x", "core.broken")))
    assert message == ("nodes[0]: component 'test.core.broken' failed to build: KeyError: 'boom'")


def test_a_factory_returning_something_else_is_refused() -> None:
    reg = registry()
    reg.register(ComponentDefinition(id="test.core.odd", factory=lambda config: 42))  # type: ignore[arg-type,return-value]
    assert error_of(doc(("x", "core.odd")), reg) == (
        "nodes[0]: component 'test.core.odd' built a int, not a Node or Subgraph; fix its factory"
    )


def test_build_reports_cycles_with_everything_else() -> None:
    data = doc(
        ("a", "core.relay"),
        ("b", "core.nope"),
        edges=[{"source": "a:out", "target": "a:in"}],
    )
    message = error_of(data)
    assert "cycle: a -> a (edge 'e1')" in message
    assert "nodes[1].component: unknown component 'test.core.nope'" in message


def test_the_default_registry_is_used_when_none_is_given() -> None:
    with pytest.raises(SpecError, match=r"nodes\[0\].component: unknown component 'test.io"):
        build(parse_document(chain()))


def test_build_takes_only_documents() -> None:
    with pytest.raises(TypeError, match="takes a GraphDocument"):
        build(chain(), registry())  # type: ignore[arg-type]


def test_load_takes_a_path_a_mapping_or_a_document(tmp_path: Path) -> None:
    path = tmp_path / "chain.json"
    path.write_text(json.dumps(chain()))
    expected = build_data(chain()).to_graph().checksum()
    for source in (path, str(path), chain(), parse_document(chain())):
        assert load(source, registry=registry()).to_graph().checksum() == expected
    with pytest.raises(TypeError, match="takes a path, a mapping or a GraphDocument"):
        load(42, registry=registry())  # type: ignore[arg-type]


def test_built_nodes_are_fresh_instances_every_time() -> None:
    first, second = build_data(chain()), build_data(chain())
    assert isinstance(first.members[0].unit, Node)
    assert first.members[0].unit is not second.members[0].unit
