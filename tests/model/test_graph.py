from __future__ import annotations

import itertools
import json
import re
import string
from typing import Any, TypedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arachne.model.errors import GraphError
from arachne.model.graph import Graph
from arachne.model.graph_io import FORMAT_VERSION
from arachne.model.policies import Coalesce, Retry
from arachne.model.port import PortSpec
from arachne.model.specs import LinkSpec, NodeSpec, PortRef, check_link_options
from arachne.model.topology import Topology, find_cycles


class Movie(TypedDict):
    title: str
    year: int


def spec(node_id: str, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ()) -> NodeSpec:
    return NodeSpec(
        node_id,
        "acme:Step",
        inputs=tuple(PortSpec(p, int) for p in inputs),
        outputs=tuple(PortSpec(p, int) for p in outputs),
    )


def link(src: str, dst: str, **options: Any) -> LinkSpec:
    return LinkSpec(f"{src}->{dst}", PortRef(src, "out"), PortRef(dst, "in"), **options)


def chain(*ids: str) -> Graph:
    nodes = [spec(i, ("in",), ("out",)) for i in ids]
    links = [link(a, b) for a, b in itertools.pairwise(ids)]
    return Graph(nodes, links, "chain")


def small() -> Graph:
    nodes = [
        NodeSpec("src", "acme:Source", outputs=(PortSpec("out", int),), cadence=0.5),
        NodeSpec(
            "sink",
            "acme:Sink",
            inputs=(PortSpec("in", float), PortSpec("meta", Movie)),
            config={"path": "/data/out", "batch": 10},
        ),
    ]
    links = [
        LinkSpec(
            "feed",
            PortRef("src", "out"),
            PortRef("sink", "in"),
            capacity=16,
            overflow="drop",
            priority=2,
            control=True,
        )
    ]
    return Graph(nodes, links, "demo")


# -- strategies ------------------------------------------------------------------------------

IDENTS = st.text(alphabet=string.ascii_lowercase + string.digits + "_", min_size=1, max_size=6)
SCHEMAS = st.sampled_from(
    [None, int, float, str, bool, bytes, "int", "any", "acme.Order", Movie, int | str, list[int]]
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
PORTS = st.dictionaries(IDENTS, SCHEMAS, max_size=3)


@st.composite
def graphs(draw: st.DrawFn, min_links: int = 0) -> Graph:
    node_ids = draw(st.lists(IDENTS, min_size=1, max_size=6, unique=True))
    nodes = []
    for index, node_id in enumerate(node_ids):
        inputs, outputs = draw(PORTS), draw(PORTS)
        if min_links and index == 0:
            outputs.setdefault("out", int)
        if min_links and index == len(node_ids) - 1:
            inputs.setdefault("in", int)
        nodes.append(
            NodeSpec(
                id=node_id,
                kind=draw(st.sampled_from(["acme:Source", "acme.nodes:Map", "x:Y.Z"])),
                inputs=tuple(PortSpec(name, s) for name, s in inputs.items()),
                outputs=tuple(PortSpec(name, s) for name, s in outputs.items()),
                config=draw(st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3)),
                cadence=draw(st.none() | st.floats(min_value=0, max_value=1e6)),
                mode=draw(st.sampled_from(["inline", "async", "thread", "process"])),
                concurrency=draw(st.integers(1, 64)),
                ordered=draw(st.booleans()),
                error_policy=draw(
                    st.sampled_from(["fail", "skip", "dead_letter"])
                    | st.builds(
                        Retry,
                        max_attempts=st.integers(1, 10),
                        backoff=st.floats(0, 10),
                        jitter=st.floats(0, 1),
                        then=st.sampled_from(["fail", "skip", "dead_letter"]),
                    )
                ),
            )
        )
    outs = [PortRef(n.id, p.name) for n in nodes for p in n.outputs]
    ins = [PortRef(n.id, p.name) for n in nodes for p in n.inputs]
    links = []
    if outs and ins:
        endpoints = st.tuples(st.sampled_from(outs), st.sampled_from(ins))
        pairs = draw(st.lists(endpoints, min_size=min_links, max_size=8))
        link_ids = draw(st.lists(IDENTS, min_size=len(pairs), max_size=len(pairs), unique=True))
        for link_id, (source, target) in zip(link_ids, pairs, strict=True):
            links.append(
                LinkSpec(
                    id=link_id,
                    source=source,
                    target=target,
                    capacity=draw(st.integers(min_value=1, max_value=2**31)),
                    overflow=draw(st.sampled_from(["block", "drop", "latest", "fail"])),
                    priority=draw(st.integers(min_value=-1000, max_value=1000)),
                    control=draw(st.booleans()),
                )
            )
    return Graph(nodes, links, draw(st.text(max_size=10)))


# -- round trip and checksum -----------------------------------------------------------------


@given(graphs())
def test_from_dict_of_to_dict_is_the_same_graph(graph: Graph) -> None:
    restored = Graph.from_dict(graph.to_dict())
    assert restored == graph
    assert restored.checksum() == graph.checksum()
    assert hash(restored) == hash(graph)
    assert restored.topology == graph.topology


@given(graphs())
def test_round_trip_through_json_text(graph: Graph) -> None:
    text = json.dumps(graph.to_dict())
    restored = Graph.from_dict(json.loads(text))
    assert restored == graph
    assert restored.checksum() == graph.checksum()
    assert restored.to_dict() == graph.to_dict()


@given(graphs(min_links=1), st.data())
def test_checksum_changes_when_a_capacity_changes(graph: Graph, data: st.DataObject) -> None:
    link_id = data.draw(st.sampled_from(sorted(graph.links)))
    old = graph.links[link_id].capacity
    new = data.draw(st.integers(min_value=1, max_value=2**31).filter(lambda c: c != old))
    changed = graph.replace_link(link_id, capacity=new)
    assert changed.links[link_id].capacity == new
    assert changed != graph
    assert changed.checksum() != graph.checksum()
    assert graph.links[link_id].capacity == old


def test_to_dict_shape() -> None:
    assert small().to_dict() == {
        "arachne": FORMAT_VERSION,
        "name": "demo",
        "nodes": [
            {
                "id": "src",
                "kind": "acme:Source",
                "config": {},
                "inputs": {},
                "outputs": {"out": "int"},
                "cadence": 0.5,
                "mode": "inline",
                "concurrency": 1,
                "ordered": True,
                "error_policy": "fail",
                "timeout": None,
            },
            {
                "id": "sink",
                "kind": "acme:Sink",
                "config": {"path": "/data/out", "batch": 10},
                "inputs": {"in": "float", "meta": f"{__name__}.Movie"},
                "outputs": {},
                "cadence": None,
                "mode": "inline",
                "concurrency": 1,
                "ordered": True,
                "error_policy": "fail",
                "timeout": None,
            },
        ],
        "edges": [
            {
                "id": "feed",
                "source": {"node": "src", "port": "out"},
                "target": {"node": "sink", "port": "in"},
                "capacity": 16,
                "overflow": "drop",
                "priority": 2,
                "control": True,
            }
        ],
    }
    assert FORMAT_VERSION == "1.0"


def test_checksum_is_a_stable_sha256_hex_digest() -> None:
    digest = small().checksum()
    assert len(digest) == 64
    assert set(digest) <= set(string.hexdigits.lower())
    assert small().checksum() == digest


@pytest.mark.parametrize(
    "change",
    [
        {"priority": 3},
        {"overflow": "latest"},
        {"control": False},
        {"target": PortRef("sink", "meta")},
    ],
)
def test_checksum_changes_with_any_link_option(change: dict[str, Any]) -> None:
    graph = small()
    assert graph.replace_link("feed", **change).checksum() != graph.checksum()


def test_checksum_changes_with_config_and_name() -> None:
    graph = small()
    renamed = Graph(graph.nodes.values(), graph.links.values(), "other")
    assert renamed.checksum() != graph.checksum()
    nodes = list(graph.nodes.values())
    nodes[1] = NodeSpec(nodes[1].id, nodes[1].kind, nodes[1].inputs, (), {"batch": 11})
    reconfigured = Graph(nodes, graph.links.values(), graph.name)
    assert reconfigured.checksum() != graph.checksum()


def test_from_dict_fills_defaults() -> None:
    graph = Graph.from_dict(
        {
            "nodes": [
                {"id": "a", "kind": "k", "outputs": {"out": "int"}},
                {"id": "b", "kind": "k", "inputs": {"in": "acme.Order"}},
            ],
            "edges": [
                {"source": {"node": "a", "port": "out"}, "target": {"node": "b", "port": "in"}}
            ],
        }
    )
    assert graph.name == ""
    assert dict(graph.nodes["a"].config) == {}
    assert graph.nodes["a"].cadence is None
    assert graph.nodes["a"].outputs == (PortSpec("out", int),)
    assert graph.nodes["b"].inputs == (PortSpec("in", "acme.Order"),)
    assert graph.links["a.out->b.in"] == LinkSpec(
        "a.out->b.in", PortRef("a", "out"), PortRef("b", "in"), 1024, "block", 0, False
    )


def test_from_dict_of_an_empty_document_is_an_empty_graph() -> None:
    graph = Graph.from_dict({})
    assert (graph.name, dict(graph.nodes), dict(graph.links)) == ("", {}, {})


def test_from_dict_reads_integer_cadence() -> None:
    graph = Graph.from_dict({"nodes": [{"id": "a", "kind": "k", "cadence": 2}]})
    assert graph.nodes["a"].cadence == 2


def _doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "g",
        "nodes": [
            {"id": "a", "kind": "k", "outputs": {"out": "int"}},
            {"id": "b", "kind": "k", "inputs": {"in": "int"}},
        ],
        "edges": [
            {
                "id": "e",
                "source": {"node": "a", "port": "out"},
                "target": {"node": "b", "port": "in"},
            }
        ],
    }
    for path, value in changes.items():
        *parents, last = path.split("__")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ([], "a graph must be a mapping, got list"),
        (_doc(name=3), "name: expected a string, got int"),
        (_doc(nodes={"a": {}}), "nodes: expected a list, got dict"),
        (_doc(edges="e"), "edges: expected a list, got str"),
        (_doc(nodes__0="a"), "nodes[0]: expected an object, got str"),
        (_doc(nodes__0__id=""), "nodes[0].id: expected a non-empty string, got ''"),
        (_doc(nodes__1__id=7), "nodes[1].id: expected a non-empty string, got 7"),
        (_doc(nodes__1__kind=None), "nodes[1].kind: expected a non-empty string, got None"),
        (_doc(nodes__0__cadence=-1), "nodes[0].cadence: expected a number >= 0 or null, got -1"),
        (_doc(nodes__0__cadence="1"), "nodes[0].cadence: expected a number >= 0 or null"),
        (_doc(nodes__0__outputs=["out"]), "nodes[0].outputs: expected an object, got list"),
        (_doc(nodes__0__config=[1]), "nodes[0].config: expected an object, got list"),
        (_doc(nodes__0__outputs={"out": {"type": "integer"}}), "nodes[0]: JSON Schema dicts"),
        (_doc(nodes__0__outputs={"a.b": "int"}), "nodes[0]: port name 'a.b' may not contain"),
        (_doc(edges__0=None), "edges[0]: expected an object, got NoneType"),
        (_doc(edges__0__source="a.out"), "edges[0].source: expected an object, got str"),
        (_doc(edges__0__target__port=""), "edges[0].target.port: expected a non-empty string"),
        (_doc(edges__0__capacity=0), "edges[0]: link e: capacity must be an int >= 1, got 0"),
        (_doc(edges__0__priority="high"), "edges[0]: link e: priority must be an int"),
        (_doc(edges__0__overflow="spill"), "edges[0]: link e: unknown overflow policy 'spill'"),
        (_doc(edges__0__overflow="coalesce"), "edges[0].overflow: 'coalesce' needs a merge"),
        (_doc(edges__0__source__node="zz"), "link e: unknown node 'zz'; add the node first"),
        (_doc(edges__0__target__port="nope"), "link e: node 'b' has no input 'nope'"),
        (_doc(nodes__1__id="a"), "duplicate node id 'a'; give each node its own name"),
    ],
)
def test_from_dict_errors_name_the_path(doc: Any, expected: str) -> None:
    with pytest.raises(GraphError) as info:
        Graph.from_dict(doc)
    assert expected in str(info.value)


def test_from_dict_rejects_coalesce_objects() -> None:
    doc = _doc(edges__0__overflow=Coalesce(max))
    with pytest.raises(GraphError, match="set Coalesce\\(fn\\) on the link in Python"):
        Graph.from_dict(doc)


# -- Graph ----------------------------------------------------------------------------------


def test_graph_rejects_duplicate_ids_and_dangling_links() -> None:
    a, b = spec("a", outputs=("out",)), spec("b", inputs=("in",))
    with pytest.raises(GraphError, match="duplicate node id 'a'"):
        Graph([a, a], [])
    with pytest.raises(GraphError, match="duplicate link id 'a->b'; pass a distinct id="):
        Graph([a, b], [link("a", "b"), link("a", "b")])
    with pytest.raises(GraphError, match="link a->c: unknown node 'c'"):
        Graph([a, b], [link("a", "c")])
    with pytest.raises(GraphError, match="link b->a: node 'b' has no output 'out'"):
        Graph([a, b], [link("b", "a")])


def test_nodes_and_links_are_read_only_views_in_order() -> None:
    graph = chain("x", "y", "z")
    assert list(graph.nodes) == ["x", "y", "z"]
    assert list(graph.links) == ["x->y", "y->z"]
    with pytest.raises(TypeError):
        graph.nodes["w"] = spec("w")  # type: ignore[index]
    with pytest.raises(TypeError):
        graph.links["w"] = link("x", "y")  # type: ignore[index]


def test_links_into_and_from() -> None:
    graph = chain("x", "y", "z")
    assert [lk.id for lk in graph.links_into("y")] == ["x->y"]
    assert [lk.id for lk in graph.links_from("y")] == ["y->z"]
    assert graph.links_into("x") == []
    assert graph.links_from("z") == []


def test_replace_link_returns_a_new_graph() -> None:
    graph = small()
    changed = graph.replace_link("feed", capacity=32, overflow="fail")
    assert changed.links["feed"].capacity == 32
    assert changed.links["feed"].overflow == "fail"
    assert graph.links["feed"].capacity == 16
    assert changed.name == graph.name
    assert changed.nodes == graph.nodes


def test_replace_link_validates_the_changes() -> None:
    with pytest.raises(ValueError, match="link feed: capacity must be an int >= 1"):
        small().replace_link("feed", capacity=0)


def test_replace_link_of_an_unknown_link_lists_the_known_ones() -> None:
    with pytest.raises(GraphError, match="unknown link 'nope'; known links: feed"):
        small().replace_link("nope", capacity=2)
    with pytest.raises(GraphError, match="known links: none"):
        Graph([spec("a")], []).replace_link("x")


def test_graph_equality() -> None:
    assert small() == small()
    assert hash(small()) == hash(small())
    assert small() != chain("a")
    assert small() != Graph(small().nodes.values(), small().links.values(), "other")
    assert small() != "graph"


def test_graph_repr() -> None:
    assert repr(small()) == "Graph(name='demo', nodes=2, links=1)"


def test_graph_is_immutable() -> None:
    graph = small()
    with pytest.raises(AttributeError):
        graph.extra = 1  # type: ignore[attr-defined]


# -- specs ----------------------------------------------------------------------------------


def test_port_ref_str_and_order() -> None:
    assert str(PortRef("etl/parse", "out")) == "etl/parse.out"
    assert sorted([PortRef("b", "a"), PortRef("a", "z"), PortRef("a", "b")]) == [
        PortRef("a", "b"),
        PortRef("a", "z"),
        PortRef("b", "a"),
    ]


def test_node_spec_config_is_a_read_only_copy() -> None:
    config = {"k": 1}
    node = NodeSpec("a", "k", config=config)
    config["k"] = 2
    assert node.config == {"k": 1}
    with pytest.raises(TypeError):
        node.config["k"] = 3  # type: ignore[index]


def test_node_spec_equality_covers_every_field() -> None:
    base = NodeSpec("a", "k", (PortSpec("in", int),), (PortSpec("out", int),), {"x": 1, "y": 2})
    assert base == NodeSpec(
        "a", "k", (PortSpec("in", "int"),), (PortSpec("out", int),), {"y": 2, "x": 1}
    )
    assert hash(base) == hash(NodeSpec("a", "k", (PortSpec("in", int),), (PortSpec("out", int),)))
    assert base != NodeSpec("a", "k", (PortSpec("in", int),), (PortSpec("out", int),), {"x": 1})
    assert base != NodeSpec("a", "k2", base.inputs, base.outputs, base.config)
    assert base != NodeSpec("a", "k", base.inputs, base.outputs, base.config, cadence=1.0)
    assert base != "a"


def test_node_spec_port_lookup() -> None:
    node = spec("a", ("in",), ("out",))
    assert node.input("in") == PortSpec("in", int)
    assert node.output("out") == PortSpec("out", int)
    assert node.input("out") is None
    assert node.output("in") is None


def test_link_spec_defaults() -> None:
    lk = LinkSpec("l", PortRef("a", "out"), PortRef("b", "in"))
    assert (lk.capacity, lk.overflow, lk.priority, lk.control) == (1024, "block", 0, False)


def test_link_spec_accepts_coalesce() -> None:
    policy = Coalesce(max)
    lk = LinkSpec("l", PortRef("a", "out"), PortRef("b", "in"), overflow=policy)
    assert lk.overflow is policy


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"capacity": 0}, "link l: capacity must be an int >= 1, got 0"),
        ({"capacity": -5}, "link l: capacity must be an int >= 1, got -5"),
        ({"capacity": True}, "link l: capacity must be an int >= 1, got True"),
        ({"capacity": "8"}, "link l: capacity must be an int >= 1, got '8'"),
        ({"priority": 0.5}, "link l: priority must be an int, got 0.5"),
        ({"priority": True}, "link l: priority must be an int, got True"),
        ({"overflow": "drop_oldest"}, "link l: unknown overflow policy 'drop_oldest'"),
    ],
)
def test_link_spec_rejects_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        LinkSpec("l", PortRef("a", "out"), PortRef("b", "in"), **options)


def test_check_link_options_accepts_good_values() -> None:
    check_link_options(1, "fail", -3, where="x")
    check_link_options(10**9, Coalesce(max), 0, where="x")
    with pytest.raises(ValueError, match="link x: capacity"):
        check_link_options(0, "fail", 0, where="x")


# -- topology -------------------------------------------------------------------------------


def test_topology_of_a_chain() -> None:
    topology = chain("x", "y", "z").topology
    assert topology == Topology(order=("x", "y", "z"), sources=("x",), sinks=("z",), cycles=())
    assert topology.is_acyclic


def test_topology_of_a_diamond_puts_each_node_after_its_upstreams() -> None:
    nodes = [spec(i, ("in",), ("out",)) for i in ("d", "b", "c", "a")]
    links = [link("a", "b"), link("a", "c"), link("b", "d"), link("c", "d")]
    topology = Graph(nodes, links).topology
    order = topology.order
    assert sorted(order) == ["a", "b", "c", "d"]
    for lk in links:
        assert order.index(lk.source.node) < order.index(lk.target.node)
    assert topology.sources == ("a",)
    assert topology.sinks == ("d",)


def test_topology_order_of_unlinked_nodes_is_insertion_order() -> None:
    nodes = [spec(i) for i in ("m", "k", "z", "a")]
    assert Graph(nodes, []).topology.order == ("m", "k", "z", "a")


def test_isolated_node_is_both_source_and_sink() -> None:
    topology = Graph([spec("solo")], []).topology
    assert topology == Topology(("solo",), ("solo",), ("solo",), ())


def test_topology_is_computed_once() -> None:
    graph = chain("x", "y")
    assert graph.topology is graph.topology


def test_topology_with_cycles_has_no_order() -> None:
    nodes = [spec(i, ("in",), ("out",)) for i in ("src", "a", "b", "self")]
    links = [link("src", "a"), link("a", "b"), link("b", "a"), link("self", "self")]
    topology = Graph(nodes, links).topology
    assert topology.order == ()
    assert not topology.is_acyclic
    assert len(topology.cycles) == 2
    assert ("self", "self") in topology.cycles
    [pair] = [c for c in topology.cycles if c != ("self", "self")]
    assert pair in (("a", "b", "a"), ("b", "a", "b"))
    assert topology.sources == ("src",)
    assert topology.sinks == ()


def test_find_cycles_ignores_acyclic_parts() -> None:
    assert find_cycles({"a": [], "b": ["a"], "c": ["a", "b"]}) == ()
    assert find_cycles({"a": ["a"], "b": ["a"]}) == (("a", "a"),)


# -- dot ------------------------------------------------------------------------------------


def test_to_dot_lists_nodes_and_labelled_edges() -> None:
    dot = chain("x", "y").to_dot()
    assert dot.startswith('digraph "chain" {\n  rankdir=LR;\n  node [shape=box];\n')
    assert '  "x" [label="x\\n(acme:Step)"];' in dot
    assert '  "x" -> "y" [label="out->in [1024]"];' in dot
    assert dot.endswith("}\n")
    assert "dashed" not in dot


def test_to_dot_marks_control_links_and_non_default_options() -> None:
    dot = small().to_dot()
    assert '"src" -> "sink" [label="out->in [16, drop, p2]", style=dashed, color=red];' in dot


def test_to_dot_names_coalesce_and_defaults_the_graph_name() -> None:
    nodes = [spec("a", outputs=("out",)), spec("b", inputs=("in",))]
    graph = Graph(nodes, [link("a", "b", overflow=Coalesce(max), priority=-1)])
    dot = graph.to_dot()
    assert dot.startswith('digraph "arachne" {')
    assert '[label="out->in [1024, coalesce, p-1]"]' in dot


def test_to_dot_escapes_quotes_backslashes_and_newlines() -> None:
    graph = Graph([NodeSpec('say "hi"', "k\\v")], [], "a\nb")
    dot = graph.to_dot()
    assert dot.startswith('digraph "a\\nb" {')
    assert '"say \\"hi\\"" [label="say \\"hi\\"\\n(k\\\\v)"];' in dot
