from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arachne.model.delta import MISSING, GraphDelta, LinkChange, NodeChange, graph_delta
from arachne.model.graph import Graph
from arachne.model.graph_io import config_checksum
from arachne.model.policies import Coalesce, Retry
from arachne.model.port import PortSpec
from arachne.model.specs import LinkSpec, NodeSpec, PortRef


def node(
    node_id: str,
    inputs: tuple[str, ...] = ("in",),
    outputs: tuple[str, ...] = ("out",),
    kind: str = "acme:Step",
    **fields: Any,
) -> NodeSpec:
    return NodeSpec(
        node_id,
        kind,
        inputs=tuple(PortSpec(p, int) for p in inputs),
        outputs=tuple(PortSpec(p, int) for p in outputs),
        **fields,
    )


def link(link_id: str, src: str, dst: str, **options: Any) -> LinkSpec:
    """A link from ``src`` to ``dst``, each written ``node.port``."""
    (src_node, src_port), (dst_node, dst_port) = src.split("."), dst.split(".")
    return LinkSpec(link_id, PortRef(src_node, src_port), PortRef(dst_node, dst_port), **options)


def pipeline(
    mid: NodeSpec | None = None,
    feed: LinkSpec | None = None,
    drain: LinkSpec | None = None,
) -> Graph:
    """``src -> mid -> sink`` plus a ``tap`` node and link that touch neither end of ``mid``."""
    nodes = [
        node("src", inputs=()),
        mid or node("mid", config={"factor": 2}),
        node("sink", inputs=("in", "other"), outputs=()),
        node("tap", outputs=()),
    ]
    links = [
        feed or link("feed", "src.out", "mid.in"),
        drain or link("drain", "mid.out", "sink.in"),
        link("side", "src.out", "tap.in"),
    ]
    return Graph(nodes, links, "pipeline")


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ids(specs: tuple[NodeSpec, ...] | tuple[LinkSpec, ...]) -> list[str]:
    return [spec.id for spec in specs]


# -- empty -----------------------------------------------------------------------------------


def test_equal_graphs_give_an_empty_delta() -> None:
    running, desired = pipeline(), pipeline()
    assert running is not desired
    for delta in (graph_delta(running, desired), graph_delta(running, running)):
        assert not delta
        assert delta.empty
        assert len(delta) == 0
        assert str(delta) == "no changes"
        assert delta == GraphDelta()
        assert delta.to_dict() == {
            "removed_links": [],
            "removed_nodes": [],
            "added_nodes": [],
            "added_links": [],
            "reconfigured": [],
            "retuned": [],
        }


def test_two_empty_graphs_give_an_empty_delta() -> None:
    assert not graph_delta(Graph([], []), Graph([], []))


def test_the_graph_name_is_not_part_of_the_delta() -> None:
    running = pipeline()
    desired = Graph(running.nodes.values(), running.links.values(), "renamed")
    assert not graph_delta(running, desired)


def test_a_node_or_link_moved_in_the_order_is_not_a_change() -> None:
    running = pipeline()
    desired = Graph(
        reversed(list(running.nodes.values())), reversed(list(running.links.values())), "x"
    )
    assert not graph_delta(running, desired)


def test_any_single_change_makes_the_delta_truthy() -> None:
    running = pipeline()
    desired = running.replace_link("side", priority=1)
    delta = graph_delta(running, desired)
    assert delta
    assert not delta.empty
    assert len(delta) == 1


# -- added and removed -----------------------------------------------------------------------


def test_added_and_removed_nodes_and_links_are_classified_in_graph_order() -> None:
    running = Graph(
        [node("n1"), node("keep"), node("n3"), node("n2")],
        [
            link("x", "keep.out", "n1.in"),
            link("same", "keep.out", "keep.in"),
            link("y", "n3.out", "n2.in"),
            link("w", "n2.out", "keep.in"),
        ],
    )
    desired = Graph(
        [node("n9"), node("keep"), node("n0"), node("n5")],
        [
            link("b", "n5.out", "keep.in"),
            link("same", "keep.out", "keep.in"),
            link("a", "keep.out", "n0.in"),
            link("c", "n9.out", "n5.in"),
        ],
    )
    delta = graph_delta(running, desired)
    assert ids(delta.removed_nodes) == ["n1", "n3", "n2"]
    assert ids(delta.added_nodes) == ["n9", "n0", "n5"]
    assert ids(delta.removed_links) == ["x", "y", "w"]
    assert ids(delta.added_links) == ["b", "a", "c"]
    assert delta.removed_nodes == (running.nodes["n1"], running.nodes["n3"], running.nodes["n2"])
    assert delta.added_links[0] is desired.links["b"]
    assert delta.reconfigured == ()
    assert delta.retuned == ()
    assert len(delta) == 12


def test_a_node_added_to_an_empty_graph_is_the_only_change() -> None:
    delta = graph_delta(Graph([], []), Graph([node("a")], []))
    assert delta.added_nodes == (node("a"),)
    assert len(delta) == 1
    assert str(delta) == "+ node a (acme:Step)"


def test_removing_everything_removes_every_link_and_node() -> None:
    running = pipeline()
    delta = graph_delta(running, Graph([], []))
    assert ids(delta.removed_links) == ["feed", "drain", "side"]
    assert ids(delta.removed_nodes) == ["src", "mid", "sink", "tap"]
    assert delta.added_nodes == delta.added_links == ()


def test_a_link_removed_between_kept_nodes_leaves_the_nodes_alone() -> None:
    running = pipeline()
    delta = graph_delta(running, running.without_link("side"))
    assert ids(delta.removed_links) == ["side"]
    assert len(delta) == 1


# -- reconfigured ----------------------------------------------------------------------------


def test_a_node_whose_config_alone_changed_is_reconfigured() -> None:
    running = pipeline()
    desired = running.replace_node("mid", config={"factor": 3, "label": "x"})
    delta = graph_delta(running, desired)

    assert len(delta) == 1
    (change,) = delta.reconfigured
    assert isinstance(change, NodeChange)
    assert change.id == "mid"
    assert change.old == running.nodes["mid"]
    assert change.new == desired.nodes["mid"]
    assert dict(change.old.config) == {"factor": 2}
    assert dict(change.new.config) == {"factor": 3, "label": "x"}
    assert change.old_checksum == config_checksum(change.old.config)
    assert change.new_checksum == config_checksum(change.new.config)
    assert change.old_checksum == sha256_of('{"factor":2}')
    assert change.new_checksum == sha256_of('{"factor":3,"label":"x"}')
    # Its links stay where they are.
    assert delta.removed_links == delta.added_links == ()
    assert delta.removed_nodes == delta.added_nodes == ()


def test_a_config_emptied_or_filled_is_a_reconfiguration() -> None:
    running = pipeline()
    emptied = running.replace_node("mid", config={})
    assert ids(graph_delta(running, emptied).reconfigured) == ["mid"]
    assert ids(graph_delta(emptied, running).reconfigured) == ["mid"]
    (change,) = graph_delta(emptied, running).reconfigured
    assert change.old_checksum == sha256_of("{}")


def test_reconfigured_nodes_come_in_the_desired_graphs_order() -> None:
    running = Graph([node("a", config={"v": 1}), node("b", config={"v": 1})], [])
    desired = Graph([node("b", config={"v": 2}), node("a", config={"v": 2})], [])
    assert ids(graph_delta(running, desired).reconfigured) == ["b", "a"]


def test_a_tuple_that_became_a_list_is_a_config_change() -> None:
    running = pipeline(mid=node("mid", config={"sizes": (1, 2)}))
    desired = running.replace_node("mid", config={"sizes": [1, 2]})
    delta = graph_delta(running, desired)
    (change,) = delta.reconfigured
    assert change.old.config["sizes"] == (1, 2)
    assert change.new.config["sizes"] == [1, 2]
    assert len(delta) == 1
    # Both write the same JSON, so the checksums cannot tell them apart.
    assert change.old_checksum == change.new_checksum == config_checksum({"sizes": [1, 2]})


def test_a_nested_config_change_is_a_reconfiguration() -> None:
    running = pipeline(mid=node("mid", config={"opts": {"deep": [1, {"x": 1}]}}))
    desired = running.replace_node("mid", config={"opts": {"deep": [1, {"x": 2}]}})
    assert ids(graph_delta(running, desired).reconfigured) == ["mid"]


def test_an_equal_config_in_a_fresh_dict_is_no_change() -> None:
    running = pipeline(mid=node("mid", config={"opts": {"a": [1, 2]}}))
    desired = running.replace_node("mid", config={"opts": {"a": [1, 2]}})
    assert not graph_delta(running, desired)


def test_a_config_holding_a_function_has_no_checksum() -> None:
    def double(x: int) -> int:
        return 2 * x

    def triple(x: int) -> int:
        return 3 * x

    running = pipeline(mid=node("mid", config={"fn": double}))
    assert not graph_delta(running, pipeline(mid=node("mid", config={"fn": double})))

    desired = running.replace_node("mid", config={"fn": triple})
    delta = graph_delta(running, desired)
    (change,) = delta.reconfigured
    assert change.old.config["fn"] is double
    assert change.new.config["fn"] is triple
    assert change.old_checksum is None
    assert change.new_checksum is None
    assert str(delta) == f"~ node mid config fn: {double!r} -> {triple!r}".replace(
        repr(double), repr(double)[:57] + "..."
    ).replace(repr(triple), repr(triple)[:57] + "...")
    assert change.changes == {"fn": (double, triple)}
    data = delta.to_dict()
    assert data["reconfigured"] == [{"id": "mid", "old_checksum": None, "new_checksum": None}]
    assert json.loads(json.dumps(data)) == data


def test_a_function_replaced_by_json_shows_the_new_checksum() -> None:
    running = pipeline(mid=node("mid", config={"fn": len}))
    desired = running.replace_node("mid", config={"fn": "len"})
    (change,) = graph_delta(running, desired).reconfigured
    assert change.old_checksum is None
    assert change.new_checksum == sha256_of('{"fn":"len"}')


# -- renewed nodes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "acme:Other"},
        {"mode": "thread"},
        {"mode": "process", "concurrency": 4},
        {"cadence": 1.5},
        {"inputs": (PortSpec("in", int), PortSpec("extra", int))},
        {"inputs": (PortSpec("in", str),)},
        {"outputs": (PortSpec("out", float),)},
        {"ordered": False},
        {"error_policy": "skip"},
        {"error_policy": Retry(max_attempts=3)},
        {"mode": "thread", "timeout": 2.0},
        {"kind": "acme:Other", "config": {"factor": 9}},
    ],
    ids=lambda changes: "+".join(changes),
)
def test_a_node_changed_beyond_its_config_is_removed_and_added_with_its_links(
    changes: dict[str, Any],
) -> None:
    running = pipeline()
    desired = running.replace_node("mid", **changes)
    delta = graph_delta(running, desired)

    assert delta.removed_nodes == (running.nodes["mid"],)
    assert delta.added_nodes == (desired.nodes["mid"],)
    assert ids(delta.removed_links) == ["feed", "drain"]
    assert ids(delta.added_links) == ["feed", "drain"]
    assert delta.reconfigured == ()
    assert delta.retuned == ()
    assert len(delta) == 6


def test_a_renewed_nodes_retuned_link_is_removed_and_added_not_retuned() -> None:
    running = pipeline()
    desired = pipeline(
        mid=node("mid", kind="acme:New"), feed=link("feed", "src.out", "mid.in", capacity=8)
    )
    delta = graph_delta(running, desired)
    assert ids(delta.removed_links) == ["feed", "drain"]
    assert ids(delta.added_links) == ["feed", "drain"]
    assert delta.added_links[0].capacity == 8
    assert delta.retuned == ()


def test_a_replaced_node_is_removed_and_added_with_its_links() -> None:
    running = pipeline()
    desired = pipeline()
    delta = graph_delta(running, desired, replaced={"mid"})
    assert delta.removed_nodes == delta.added_nodes == (running.nodes["mid"],)
    assert ids(delta.removed_links) == ["feed", "drain"]
    assert ids(delta.added_links) == ["feed", "drain"]
    assert delta.reconfigured == ()
    assert len(delta) == 6


def test_a_replaced_node_with_a_new_config_is_not_reconfigured() -> None:
    running = pipeline()
    desired = running.replace_node("mid", config={"factor": 7})
    delta = graph_delta(running, desired, replaced=["mid"])
    assert delta.reconfigured == ()
    assert delta.added_nodes == (desired.nodes["mid"],)
    assert delta.removed_nodes == (running.nodes["mid"],)


def test_a_replaced_node_does_not_renew_links_that_do_not_touch_it() -> None:
    running = pipeline()
    delta = graph_delta(running, running.replace_link("side", capacity=3), replaced=("sink",))
    assert ids(delta.removed_nodes) == ids(delta.added_nodes) == ["sink"]
    assert ids(delta.removed_links) == ids(delta.added_links) == ["drain"]
    assert ids(delta.retuned) == ["side"]


def test_replaced_ids_outside_either_graph_change_nothing_more() -> None:
    running = pipeline()
    desired = running.with_node(node("extra"))
    delta = graph_delta(running, desired, replaced={"extra", "ghost"})
    assert ids(delta.added_nodes) == ["extra"]
    assert len(delta) == 1
    gone = graph_delta(desired, running, replaced={"extra"})
    assert ids(gone.removed_nodes) == ["extra"]
    assert len(gone) == 1


def test_a_node_replaced_by_an_unlinked_copy_takes_its_links_away() -> None:
    running = pipeline()
    desired = running.without_link("drain").replace_node("mid", kind="acme:New")
    delta = graph_delta(running, desired)
    assert ids(delta.removed_links) == ["feed", "drain"]
    assert ids(delta.added_links) == ["feed"]


# -- retuned and rewired links ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"capacity": 8}, {"capacity": (1024, 8)}),
        ({"overflow": "drop"}, {"overflow": ("block", "drop")}),
        ({"priority": -3}, {"priority": (0, -3)}),
        (
            {"capacity": 2, "overflow": "latest", "priority": 5},
            {"capacity": (1024, 2), "overflow": ("block", "latest"), "priority": (0, 5)},
        ),
    ],
    ids=lambda value: "+".join(value) if isinstance(value, dict) else None,
)
def test_a_link_whose_tunable_fields_changed_is_retuned(
    changes: dict[str, Any], expected: dict[str, tuple[Any, Any]]
) -> None:
    running = pipeline()
    desired = running.replace_link("drain", **changes)
    delta = graph_delta(running, desired)

    assert len(delta) == 1
    (change,) = delta.retuned
    assert isinstance(change, LinkChange)
    assert change.id == "drain"
    assert change.old == running.links["drain"]
    assert change.new == desired.links["drain"]
    assert change.changes == expected
    assert list(change.changes) == [
        name for name in ("capacity", "overflow", "priority") if name in expected
    ]


def test_retuned_links_come_in_the_desired_graphs_order() -> None:
    running = pipeline()
    feed, drain, side = running.links.values()
    desired = Graph(
        running.nodes.values(),
        [
            LinkSpec("side", side.source, side.target, priority=1),
            drain,
            LinkSpec("feed", feed.source, feed.target, capacity=1),
        ],
    )
    assert ids(graph_delta(running, desired).retuned) == ["side", "feed"]


@pytest.mark.parametrize(
    "replacement",
    [
        link("drain", "mid.out", "tap.in"),
        link("drain", "src.out", "sink.in"),
        link("drain", "mid.out", "sink.in", control=True),
        link("drain", "mid.out", "sink.other"),
        link("drain", "mid.out", "sink.in", control=True, capacity=4),
    ],
    ids=["target", "source", "control", "target-port", "control+capacity"],
)
def test_a_link_whose_endpoints_or_plane_changed_is_removed_and_added(
    replacement: LinkSpec,
) -> None:
    running = pipeline()
    desired = pipeline(drain=replacement)
    delta = graph_delta(running, desired)
    assert delta.removed_links == (running.links["drain"],)
    assert delta.added_links == (desired.links["drain"],)
    assert delta.retuned == ()
    assert delta.removed_nodes == delta.added_nodes == ()
    assert len(delta) == 2


def test_a_new_coalesce_function_is_a_retune_named_coalesce() -> None:
    running = pipeline(drain=link("drain", "mid.out", "sink.in", overflow=Coalesce(max)))
    desired = running.replace_link("drain", overflow=Coalesce(min))
    delta = graph_delta(running, desired)
    (change,) = delta.retuned
    assert change.changes == {"overflow": (Coalesce(max), Coalesce(min))}
    assert str(delta) == "~ link drain overflow coalesce -> coalesce"
    assert delta.to_dict()["retuned"] == [
        {"id": "drain", "changes": {"overflow": ["coalesce", "coalesce"]}}
    ]
    assert not graph_delta(running, running.replace_link("drain", overflow=Coalesce(max)))


# -- printing and data -----------------------------------------------------------------------


def mixed() -> tuple[Graph, Graph]:
    """A running and a desired graph with one change of each sort."""
    running = Graph(
        [node("src", inputs=()), node("old", kind="acme:Old"), node("mid", config={"factor": 2})],
        [
            link("feed", "src.out", "mid.in"),
            link("gone", "src.out", "old.in"),
            link("loop", "mid.out", "mid.in", capacity=16, overflow="drop"),
        ],
        "before",
    )
    desired = Graph(
        [node("src", inputs=()), node("mid", config={"factor": 3}), node("new", kind="acme:New")],
        [
            link("feed", "src.out", "mid.in"),
            link("loop", "mid.out", "mid.in", capacity=32, overflow="latest"),
            link("fresh", "mid.out", "new.in"),
        ],
        "after",
    )
    return running, desired


def test_str_prints_one_line_per_change_in_commit_order() -> None:
    running, desired = mixed()
    delta = graph_delta(running, desired)
    assert str(delta).splitlines() == [
        "- link gone (src.out -> old.in)",
        "- node old (acme:Old)",
        "+ node new (acme:New)",
        "+ link fresh (mid.out -> new.in)",
        "~ node mid config factor: 2 -> 3",  # the keys that changed, not the checksums
        "~ link loop capacity 16 -> 32, overflow drop -> latest",
    ]
    assert len(str(delta).splitlines()) == len(delta) == 6


def test_str_of_a_renewed_node_prints_its_links_and_itself() -> None:
    running = pipeline()
    delta = graph_delta(running, running, replaced={"mid"})
    assert str(delta) == "\n".join(
        [
            "- link feed (src.out -> mid.in)",
            "- link drain (mid.out -> sink.in)",
            "- node mid (acme:Step)",
            "+ node mid (acme:Step)",
            "+ link feed (src.out -> mid.in)",
            "+ link drain (mid.out -> sink.in)",
        ]
    )


def test_str_prints_a_priority_retune() -> None:
    running = pipeline()
    delta = graph_delta(running, running.replace_link("side", priority=-2))
    assert str(delta) == "~ link side priority 0 -> -2"


def test_to_dict_is_json_ready_and_names_the_ids() -> None:
    running, desired = mixed()
    data = graph_delta(running, desired).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "removed_links": ["gone"],
        "removed_nodes": ["old"],
        "added_nodes": ["new"],
        "added_links": ["fresh"],
        "reconfigured": [
            {
                "id": "mid",
                "old_checksum": sha256_of('{"factor":2}'),
                "new_checksum": sha256_of('{"factor":3}'),
            }
        ],
        "retuned": [
            {"id": "loop", "changes": {"capacity": [16, 32], "overflow": ["drop", "latest"]}}
        ],
    }


# -- properties ------------------------------------------------------------------------------

NODE_IDS = ("a", "b", "c", "d")
LINK_IDS = ("l1", "l2", "l3", "l4", "l5")
CONFIGS = st.sampled_from(
    [{}, {"n": 1}, {"n": 2}, {"n": (1, 2)}, {"n": [1, 2]}, {"n": 1, "s": "x"}, {"f": len}]
)


@st.composite
def node_specs(draw: st.DrawFn, node_id: str) -> NodeSpec:
    mode = draw(st.sampled_from(["inline", "thread"]))
    return NodeSpec(
        node_id,
        draw(st.sampled_from(["acme:A", "acme:B"])),
        inputs=tuple(PortSpec(p, int) for p in draw(st.sampled_from([("in",), ("in", "aux")]))),
        outputs=tuple(
            PortSpec(p, s) for p, s in draw(st.sampled_from([(("out", int),), (("out", str),)]))
        ),
        config=draw(CONFIGS),
        cadence=draw(st.sampled_from([None, None, 0.5])),
        mode=mode,
        timeout=draw(st.sampled_from([None, 1.0])) if mode == "thread" else None,
    )


@st.composite
def small_graphs(draw: st.DrawFn) -> Graph:
    node_ids = draw(st.lists(st.sampled_from(NODE_IDS), unique=True, max_size=len(NODE_IDS)))
    nodes = [draw(node_specs(node_id)) for node_id in node_ids]
    links = []
    if nodes:
        link_ids = draw(st.lists(st.sampled_from(LINK_IDS), unique=True, max_size=len(LINK_IDS)))
        for link_id in link_ids:
            source = draw(st.sampled_from(nodes))
            target = draw(st.sampled_from(nodes))
            links.append(
                LinkSpec(
                    link_id,
                    PortRef(source.id, "out"),
                    PortRef(target.id, draw(st.sampled_from([p.name for p in target.inputs]))),
                    capacity=draw(st.sampled_from([1, 8])),
                    overflow=draw(st.sampled_from(["block", "drop"])),
                    priority=draw(st.sampled_from([0, 1])),
                    control=draw(st.booleans()),
                )
            )
    return Graph(nodes, links, draw(st.sampled_from(["", "g"])))


@st.composite
def edited(draw: st.DrawFn, running: Graph) -> Graph:
    """``running`` with a few nodes kept, reconfigured or renewed and links kept or retuned."""
    nodes = []
    for spec in running.nodes.values():
        edit = draw(st.sampled_from(["keep", "keep", "config", "renew", "drop"]))
        if edit == "keep":
            nodes.append(spec)
        elif edit == "config":
            nodes.append(dataclasses.replace(spec, config=draw(CONFIGS)))
        elif edit == "renew":
            nodes.append(draw(node_specs(spec.id)))
    spare = [node_id for node_id in NODE_IDS if node_id not in running.nodes]
    if spare and draw(st.booleans()):
        nodes.append(draw(node_specs(spare[0])))
    by_id = {spec.id: spec for spec in nodes}
    links = []
    for spec in running.links.values():
        source, target = by_id.get(spec.source.node), by_id.get(spec.target.node)
        if source is None or target is None or target.input(spec.target.port) is None:
            continue
        edit = draw(st.sampled_from(["keep", "keep", "retune", "replug", "drop"]))
        if edit == "keep":
            links.append(spec)
        elif edit == "retune":
            links.append(
                dataclasses.replace(
                    spec,
                    capacity=draw(st.sampled_from([1, 8])),
                    overflow=draw(st.sampled_from(["block", "drop"])),
                    priority=draw(st.sampled_from([0, 1])),
                )
            )
        elif edit == "replug":
            links.append(dataclasses.replace(spec, control=not spec.control))
    return Graph(nodes, links, running.name)


@st.composite
def graph_pairs(draw: st.DrawFn) -> tuple[Graph, Graph]:
    """A running graph and a desired one, unrelated or an edit of the running one."""
    running = draw(small_graphs())
    desired = draw(small_graphs() | edited(running))
    return running, desired


def apply(delta: GraphDelta, graph: Graph) -> Graph:
    """Apply ``delta`` to ``graph`` step by step, in the order a commit does."""
    for spec in delta.removed_links:
        graph = graph.without_link(spec.id)
    for spec in delta.removed_nodes:
        graph = graph.without_node(spec.id)
    for spec in delta.added_nodes:
        graph = graph.with_node(spec)
    for spec in delta.added_links:
        graph = graph.with_link(spec)
    for change in delta.reconfigured:
        graph = graph.replace_node(change.id, config=change.new.config)
    for retune in delta.retuned:
        graph = graph.replace_link(
            retune.id, **{name: new for name, (_, new) in retune.changes.items()}
        )
    return graph


@settings(max_examples=100, deadline=None)
@given(graph_pairs(), st.sets(st.sampled_from(NODE_IDS), max_size=2))
def test_applying_the_delta_turns_running_into_desired(
    graphs: tuple[Graph, Graph], replaced: set[str]
) -> None:
    running, desired = graphs
    delta = graph_delta(running, desired, replaced=replaced)
    result = apply(delta, running)
    assert dict(result.nodes) == dict(desired.nodes)
    assert dict(result.links) == dict(desired.links)


@settings(max_examples=100, deadline=None)
@given(graph_pairs())
def test_the_delta_is_empty_exactly_when_the_graphs_hold_the_same_specs(
    graphs: tuple[Graph, Graph],
) -> None:
    running, desired = graphs
    delta = graph_delta(running, desired)
    same = dict(running.nodes) == dict(desired.nodes) and dict(running.links) == dict(desired.links)
    assert delta.empty == same
    assert (len(delta) == 0) == same
    assert (str(delta) == "no changes") == same
    assert not graph_delta(running, running)


@settings(max_examples=100, deadline=None)
@given(graph_pairs(), st.sets(st.sampled_from(NODE_IDS), max_size=2))
def test_the_delta_never_renews_what_it_tunes_in_place(
    graphs: tuple[Graph, Graph], replaced: set[str]
) -> None:
    running, desired = graphs
    delta = graph_delta(running, desired, replaced=replaced)
    renewed_nodes = set(ids(delta.added_nodes)) & set(ids(delta.removed_nodes))
    renewed_links = set(ids(delta.added_links)) & set(ids(delta.removed_links))
    assert renewed_nodes.isdisjoint(c.id for c in delta.reconfigured)
    assert renewed_links.isdisjoint(c.id for c in delta.retuned)
    assert set(replaced) & set(running.nodes) & set(desired.nodes) <= renewed_nodes
    for spec in delta.added_links:
        if spec.id in running.links:
            assert spec.id in renewed_links
    for change in delta.retuned:
        assert change.changes
    text = json.dumps(delta.to_dict())
    assert json.loads(text)["added_nodes"] == ids(delta.added_nodes)
    assert len(str(delta).splitlines()) == max(len(delta), 1)


def test_a_config_change_prints_each_key_added_removed_or_changed() -> None:
    running = pipeline(mid=node("mid", config={"a": 1, "b": "x", "gone": True}))
    desired = running.replace_node("mid", config={"a": 1, "b": "y", "new": [1, 2]})
    (change,) = graph_delta(running, desired).reconfigured
    assert list(change.changes) == ["b", "gone", "new"]
    assert change.changes["gone"] == (True, MISSING)
    assert str(graph_delta(running, desired)) == (
        "~ node mid config b: 'x' -> 'y', gone: True -> (none), new: (none) -> [1, 2]"
    )


def test_one_that_became_true_is_a_config_change() -> None:
    running = pipeline(mid=node("mid", config={"flag": 1}))
    desired = running.replace_node("mid", config={"flag": True})
    (change,) = graph_delta(running, desired).reconfigured
    assert change.changes == {"flag": (1, True)}
    assert change.old_checksum != change.new_checksum


def test_take_back_undoes_only_what_still_is_as_the_delta_left_it() -> None:
    running = pipeline(mid=node("mid", config={"factor": 1}))
    changed = running.replace_node("mid", config={"factor": 2})
    delta = graph_delta(running, changed)
    assert delta.take_back(changed).nodes["mid"].config == {"factor": 1}
    later = changed.replace_node("mid", config={"factor": 3})  # a later change stays
    assert delta.take_back(later).nodes["mid"].config == {"factor": 3}
    emptied = graph_delta(running, running.without_link("drain").without_node("sink"))
    back = emptied.take_back(running.without_link("drain").without_node("sink"))
    assert dict(back.nodes) == dict(running.nodes)
    assert dict(back.links) == dict(running.links)
