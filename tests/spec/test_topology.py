from __future__ import annotations

import itertools

import pytest

from arachne import SpecError
from arachne.spec import (
    EdgeDoc,
    GraphDocument,
    NodeDoc,
    PortRefDoc,
    TopologyReport,
    analyze,
    parse_document,
)
from tests.spec.components import chain, doc


def graph(*pairs: str, nodes: str = "abcdefg") -> GraphDocument:
    """Return a document over ``nodes`` with one edge per ``"xy"`` pair (x -> y)."""
    edges = [{"source": f"{pair[0]}:out", "target": f"{pair[1]}:in"} for pair in pairs]
    return parse_document(doc(*[(node, "core.relay") for node in nodes], edges=edges))


def test_a_chain_has_one_node_per_level() -> None:
    report = analyze(parse_document(chain()))
    assert report.order == ("numbers", "scale", "sink")
    assert report.levels == {"numbers": 0, "scale": 1, "sink": 2}
    assert report.inputs == ("numbers",)
    assert report.outputs == ("sink",)
    assert report.depth == 3


def test_levels_follow_the_longest_path_and_order_respects_every_edge() -> None:
    report = analyze(graph("ab", "bc", "ac", "cd", "ed", nodes="abcde"))
    assert report.levels == {"a": 0, "e": 0, "b": 1, "c": 2, "d": 3}
    assert report.order == ("a", "e", "b", "c", "d")
    assert report.inputs == ("a", "e")
    assert report.outputs == ("d",)
    position = {node: index for index, node in enumerate(report.order)}
    for source, target in ("ab", "bc", "ac", "cd", "ed"):
        assert position[source] < position[target]


def test_an_isolated_node_is_both_input_and_output() -> None:
    report = analyze(graph(nodes="a"))
    assert report.inputs == report.outputs == report.order == ("a",)


def test_an_empty_graph() -> None:
    report = analyze(graph(nodes=""))
    assert report.order == ()
    assert report.depth == 0
    assert report.describe()[1] == "order: (empty)"


def test_cycles_are_named_with_their_edges() -> None:
    with pytest.raises(SpecError) as info:
        analyze(graph("ab", "bc", "ca", "de", "ed", "cf", "gg"))
    assert str(info.value) == (
        "graph document has 3 problems:\n"
        "  - cycle: a -> b -> c -> a (edges 'e1', 'e2', 'e3'); remove one of these edges, "
        "a graph must be acyclic\n"
        "  - cycle: d -> e -> d (edges 'e4', 'e5'); remove one of these edges, "
        "a graph must be acyclic\n"
        "  - cycle: g -> g (edge 'e7'); remove one of these edges, a graph must be acyclic"
    )
    assert [issue.code for issue in info.value.issues] == ["cycle"] * 3


def test_a_cycle_downstream_of_a_chain_is_found() -> None:
    with pytest.raises(SpecError, match=r"^cycle: c -> d -> c \(edges 'e3', 'e4'\)"):
        analyze(graph("ab", "bc", "cd", "dc"))


def test_a_long_cycle_is_reported_without_recursion() -> None:
    nodes = [f"n{i}" for i in range(5000)]
    edges = [{"source": f"{a}:out", "target": f"{b}:in"} for a, b in itertools.pairwise(nodes)]
    edges.append({"source": "n4999:out", "target": "n0:in"})
    data = doc(*[(node, "core.relay") for node in nodes], edges=edges)
    with pytest.raises(SpecError, match=r"^cycle: n0 -> n1 -> n2 -> "):
        analyze(parse_document(data))
    del edges[-1]
    report = analyze(parse_document(data))
    assert report.levels["n4999"] == 4999


def test_a_hand_built_document_with_unknown_nodes_is_refused() -> None:
    hand = GraphDocument(
        name="x",
        nodes=(NodeDoc("a", "test.core.relay"),),
        edges=(EdgeDoc("e1", PortRefDoc("a", "out"), PortRefDoc("b", "in")),),
    )
    with pytest.raises(SpecError, match=r"^edges\[0\].target.node: unknown node 'b'"):
        analyze(hand)


def test_report_as_data_and_text() -> None:
    report = analyze(graph("ab", "ac", "bd", "cd", nodes="abcd"))
    assert report.to_dict() == {
        "nodes": 4,
        "edges": 4,
        "depth": 3,
        "order": ["a", "b", "c", "d"],
        "levels": {"a": 0, "b": 1, "c": 1, "d": 2},
        "inputs": ["a"],
        "outputs": ["d"],
    }
    assert report.describe() == [
        "4 nodes, 4 edges, 3 levels, acyclic",
        "order: a -> b -> c -> d",
        "level 0: a",
        "level 1: b, c",
        "level 2: d",
        "inputs (no incoming edges): a",
        "outputs (no outgoing edges): d",
    ]
    assert isinstance(report, TopologyReport)
    with pytest.raises(TypeError):
        report.levels["a"] = 3  # type: ignore[index]
