"""The manifest diff: typed changes, renames the author declares, and state that cannot survive."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arachne import Input, IterSource, Node, Output, Subgraph
from arachne.cli.main import app
from arachne.components import Registry
from arachne.model.errors import GraphError, SpecError
from arachne.model.manifest import Change, ManifestDiff
from arachne.spec import (
    Manifest,
    document_manifest,
    manifest_of,
    parse_document,
    subgraph_manifest,
)


def edge(source: str, target: str, **extra: Any) -> dict[str, Any]:
    (sn, sp), (tn, tp) = source.split("."), target.split(".")
    return {"source": {"node": sn, "port": sp}, "target": {"node": tn, "port": tp}, **extra}


def document(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, Any]:
    return {"arachne": "1.0", "name": "counts", "nodes": nodes, "edges": edges}


# intake (stateless) -> count (stateful, an accumulator) -> double (stateless)
BASE = document(
    [
        {"id": "intake", "component": "arachne.core.passthrough"},
        {"id": "count", "component": "arachne.core.accumulator"},
        {"id": "double", "component": "arachne.core.map", "config": {"expression": "value"}},
    ],
    [edge("intake.out", "count.in"), edge("count.out", "double.in")],
)


def manifest(doc: dict[str, Any], registry: Registry | None = None) -> Manifest:
    return document_manifest(parse_document(doc), registry or Registry.default())


def diff(old: dict[str, Any], new: dict[str, Any]) -> ManifestDiff:
    return manifest(old).diff(manifest(new))


def renamed(doc: dict[str, Any], old: str, new: str, *, declare: bool = True) -> dict[str, Any]:
    """Return ``doc`` with node ``old`` called ``new`` (saying so when ``declare``)."""
    changed = copy.deepcopy(doc)
    for node in changed["nodes"]:
        if node["id"] == old:
            node["id"] = new
            if declare:
                node["renamedFrom"] = old
    for item in changed["edges"]:
        for end in ("source", "target"):
            if item[end]["node"] == old:
                item[end]["node"] = new
    return changed


def summary(made: ManifestDiff) -> list[tuple[str, str, str]]:
    return [(change.kind, change.subject, change.id) for change in made.changes]


# -- renames ------------------------------------------------------------------------------------


def test_a_declared_rename_is_one_renamed_change_and_its_edges_follow_it() -> None:
    new = renamed(BASE, "count", "total")
    assert {e.id for e in manifest(new).edges} == {"intake.out->total.in", "total.out->double.in"}

    made = diff(BASE, new)

    assert made.changes == (Change("renamed", "node", "total", "count", "total"),)
    assert made.renames == {"count": "total"}
    assert made.flagged == ()
    assert made.text() == "node count renamed to total"
    assert manifest(new).node("total").renamed_from == ("count",)


def test_a_rename_keeps_an_edge_with_an_author_given_id_unchanged() -> None:
    old = copy.deepcopy(BASE)
    old["edges"][0]["id"] = "feed"
    made = diff(old, renamed(old, "count", "total"))
    assert summary(made) == [("renamed", "node", "total")]


def test_a_rename_from_a_list_takes_the_former_name_that_existed() -> None:
    new = renamed(BASE, "count", "total")
    new["nodes"][1]["renamedFrom"] = ["tally", "count"]
    made = diff(BASE, new)
    assert made.renames == {"count": "total"}
    assert summary(made) == [("renamed", "node", "total")]


def test_a_rename_and_a_config_change_are_renamed_plus_config() -> None:
    new = renamed(BASE, "double", "twice")
    new["nodes"][2]["config"] = {"expression": "value * 2"}

    made = diff(BASE, new)

    assert sorted(summary(made)) == [("config", "node", "twice"), ("renamed", "node", "twice")]
    config = next(change for change in made.changes if change.kind == "config")
    assert (config.old, config.new) == (
        manifest(BASE).node("double").config_digest,
        manifest(new).node("twice").config_digest,
    )
    assert config.old != config.new
    assert made.flagged == ()


def test_a_rename_and_an_edge_policy_change_report_the_policy_under_the_new_edge_id() -> None:
    new = renamed(BASE, "count", "total")
    new["edges"][1]["capacity"] = 16
    made = diff(BASE, new)
    assert summary(made) == [
        ("renamed", "node", "total"),
        ("policy", "edge", "total.out->double.in"),
    ]
    assert (made.changes[1].old, made.changes[1].new) == ({"capacity": 1024}, {"capacity": 16})


def test_the_same_rename_undeclared_is_a_flagged_removal_and_an_addition() -> None:
    made = diff(BASE, renamed(BASE, "count", "total", declare=False))

    assert summary(made) == [
        ("removed", "node", "count"),
        ("added", "node", "total"),
        ("removed", "edge", "count.out->double.in"),
        ("removed", "edge", "intake.out->count.in"),
        ("added", "edge", "intake.out->total.in"),
        ("added", "edge", "total.out->double.in"),
    ]
    assert made.renames == {}
    (removal,) = made.flagged
    assert removal.id == "count"
    assert "keeps state" in (removal.lost or "")
    assert "renamedFrom" in (removal.lost or "")  # the fix is named


def test_an_undeclared_rename_of_a_stateless_node_is_not_flagged() -> None:
    made = diff(BASE, renamed(BASE, "double", "twice", declare=False))
    assert ("removed", "node", "double") in summary(made)
    assert ("added", "node", "twice") in summary(made)
    assert made.flagged == ()
    assert "saved state" not in made.text()


# -- removals and lost state ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("component", "config", "flagged"),
    [
        ("arachne.core.accumulator", {}, True),
        ("arachne.core.passthrough", {}, False),
        ("arachne.core.map", {"expression": "value"}, False),
    ],
)
def test_removing_a_node_is_flagged_only_when_it_keeps_state(
    component: str, config: dict[str, Any], flagged: bool
) -> None:
    old = document(
        [
            {"id": "intake", "component": "arachne.core.passthrough"},
            {"id": "node", "component": component, "config": config},
        ],
        [edge("intake.out", "node.in")],
    )
    new = document([{"id": "intake", "component": "arachne.core.passthrough"}], [])

    made = diff(old, new)

    assert summary(made) == [
        ("removed", "node", "node"),
        ("removed", "edge", "intake.out->node.in"),
    ]
    assert manifest(old).node("node").stateful is flagged
    assert (made.changes[0].lost is not None) is flagged
    assert ("saved state" in made.text()) is flagged


def test_text_counts_the_changes_that_lose_state() -> None:
    two = document(
        [
            {"id": "a", "component": "arachne.core.accumulator"},
            {"id": "b", "component": "arachne.core.accumulator"},
            {"id": "c", "component": "arachne.core.passthrough"},
        ],
        [],
    )
    none = document([], [])
    one = document([two["nodes"][0]], [])

    lines = manifest(two).diff(manifest(none)).text().splitlines()
    assert [line.split("  [")[0] for line in lines[:3]] == [
        "node a removed",
        "node b removed",
        "node c removed",
    ]
    assert [line.count("[state lost:") for line in lines[:3]] == [1, 1, 0]
    assert lines[-1] == (
        "2 changes lose saved state: a run checkpointed with the old graph cannot resume "
        "with the new one"
    )
    last = manifest(two).diff(manifest(one)).text().splitlines()[-1]
    assert last.startswith("1 change loses saved state:")
    assert manifest(one).diff(manifest(none)).text().count("[state lost:") == 1


def test_removing_a_node_whose_instance_is_unknown_is_flagged_as_maybe_stateful() -> None:
    class Plain(Node):
        inp = Input(int, name="in")
        out = Output(int)

    def graph(*names: str) -> Manifest:
        sub = Subgraph()
        for name in names:
            sub.add_node(Plain(name=name))
        return manifest_of(sub.to_graph())  # no instances: statefulness unknown

    assert graph("a").node("a").stateful is None
    (removal,) = graph("a", "b").diff(graph("a")).flagged
    assert removal.id == "b"
    assert "may keep state" in (removal.lost or "")


# -- component and contract ---------------------------------------------------------------------


def test_replacing_the_component_of_a_stateful_node_is_flagged() -> None:
    new = copy.deepcopy(BASE)
    new["nodes"][1]["component"] = "arachne.core.passthrough"

    made = diff(BASE, new)

    assert ("component", "node", "count") in summary(made)
    assert not any(kind in ("added", "removed") for kind, _, _ in summary(made))
    change = next(change for change in made.flagged if change.kind == "component")
    assert (change.old, change.new) == ("arachne.core.accumulator", "arachne.core.passthrough")
    assert "arachne.core.accumulator" in (change.lost or "")


def test_replacing_the_component_of_a_stateless_node_is_not_flagged() -> None:
    new = copy.deepcopy(BASE)
    new["nodes"][0] = {
        "id": "intake",
        "component": "arachne.core.map",
        "config": {"expression": "value"},
    }
    made = diff(BASE, new)
    assert ("component", "node", "intake") in summary(made)
    component = next(c for c in made.changes if c.kind == "component")
    assert (component.old, component.new) == ("arachne.core.passthrough", "arachne.core.map")
    assert made.flagged == ()


class Tally(Node):
    """A counter that keeps state (it overrides snapshot)."""

    inp = Input(int, name="in")
    out = Output(int)

    def snapshot(self) -> Any:
        return 0


def registry_with_tally(version: str) -> Registry:
    registry = Registry.default()
    registry.register_node(Tally, id="test.tally", version=version)
    return registry


def test_a_bumped_contract_version_is_a_contract_change() -> None:
    doc = document([{"id": "tally", "component": "test.tally"}], [])
    old = manifest(doc, registry_with_tally("1.0.0"))
    new = manifest(doc, registry_with_tally("2.0.0"))
    assert old.node("tally").stateful is True

    made = old.diff(new)

    assert made.changes == (Change("contract", "node", "tally", "1.0.0", "2.0.0"),)
    assert made.text() == "node tally contract: 1.0.0 -> 2.0.0"


# -- schemas ----------------------------------------------------------------------------------


def reading(version: int) -> type:
    class Reading:
        __schema_version__ = version

    return Reading


class Counter(Node):
    """A node whose input carries the schema it is given; it keeps no state."""

    out = Output(int)
    stateful = False

    def __init__(self, schema: type) -> None:
        self.schema = schema

    def inputs(self) -> dict[str, Any]:
        return {"in": self.schema}


class StatefulCounter(Counter):
    stateful = True


def counter_graph(
    schema: type, *, stateful: bool, name: str = "count", renamed_from: str = ""
) -> Manifest:
    sub = Subgraph()
    sub.add_node(
        (StatefulCounter if stateful else Counter)(schema),
        name=name,
        renamed_from=renamed_from or (),
    )
    return subgraph_manifest(sub)


def test_a_schema_version_bump_on_a_route_of_a_stateful_node_is_flagged() -> None:
    old, new = counter_graph(reading(1), stateful=True), counter_graph(reading(2), stateful=True)
    route = next(r for r in new.routes if r.port == "in")
    assert route.schema_version == 2

    made = old.diff(new)

    assert summary(made) == [("schema", "route", "count.in")]
    (change,) = made.flagged
    assert change.old.endswith(" v1")
    assert change.new.endswith(" v2")
    assert "'count'" in (change.lost or "")
    assert "'in'" in (change.lost or "")


def test_a_schema_change_on_a_stateless_node_is_reported_but_not_flagged() -> None:
    made = counter_graph(int, stateful=False).diff(counter_graph(str, stateful=False))
    assert made.changes == (Change("schema", "route", "count.in", "int v1", "str v1"),)
    assert made.flagged == ()


def test_a_renamed_nodes_schema_change_is_reported_under_its_new_id() -> None:
    new = counter_graph(reading(2), stateful=True, name="total", renamed_from="count")
    made = counter_graph(reading(1), stateful=True).diff(new)
    assert summary(made) == [("renamed", "node", "total"), ("schema", "route", "total.in")]
    assert [c.id for c in made.flagged] == ["total.in"]


# -- policies and wiring ------------------------------------------------------------------------


def policy_graph(**options: Any) -> Manifest:
    class Worker(Node):
        inp = Input(int, name="in")
        out = Output(int)

    worker = Worker(name="work")
    for key, value in options.items():
        setattr(worker, key, value)
    sub = Subgraph()
    sub.add_node(worker)
    return subgraph_manifest(sub)


def test_a_node_policy_change_reports_old_and_new_values() -> None:
    made = policy_graph().diff(
        policy_graph(mode="async", concurrency=4, error_policy="skip", timeout=2.5)
    )
    assert made.changes == (
        Change(
            "policy",
            "node",
            "work",
            {"mode": "inline", "concurrency": 1, "errorPolicy": "fail", "timeout": None},
            {"mode": "async", "concurrency": 4, "errorPolicy": "skip", "timeout": 2.5},
        ),
    )
    assert made.text() == (
        "node work policy: mode inline -> async, concurrency 1 -> 4, errorPolicy fail -> skip, "
        "timeout none -> 2.5"
    )
    assert made.flagged == ()


def test_a_documents_error_policy_override_is_a_node_policy_change() -> None:
    new = copy.deepcopy(BASE)
    new["nodes"][1]["errors"] = "dead_letter"
    made = diff(BASE, new)
    assert made.changes == (
        Change("policy", "node", "count", {"errorPolicy": "fail"}, {"errorPolicy": "dead_letter"}),
    )


def test_an_edge_policy_change_reports_old_and_new_values() -> None:
    old = copy.deepcopy(BASE)
    old["edges"][0]["id"] = "feed"
    new = copy.deepcopy(old)
    new["edges"][0].update(capacity=8, overflow="drop", priority=3)

    made = diff(old, new)

    assert made.changes == (
        Change(
            "policy",
            "edge",
            "feed",
            {"capacity": 1024, "overflow": "block", "priority": 0},
            {"capacity": 8, "overflow": "drop", "priority": 3},
        ),
    )
    assert made.text() == (
        "edge feed policy: capacity 1024 -> 8, overflow block -> drop, priority 0 -> 3"
    )


def test_an_edge_keeping_its_id_but_joining_other_ports_is_rewired() -> None:
    old = copy.deepcopy(BASE)
    old["edges"][1]["id"] = "results"
    new = copy.deepcopy(old)
    new["edges"][1] = edge("intake.out", "double.in", id="results")

    made = diff(old, new)

    assert made.changes == (
        Change("rewired", "edge", "results", "count.out -> double.in", "intake.out -> double.in"),
    )
    assert made.text() == "edge results rewired: count.out -> double.in -> intake.out -> double.in"


def test_an_edge_with_a_generated_id_joining_other_ports_is_removed_and_added() -> None:
    new = copy.deepcopy(BASE)
    new["edges"][1] = edge("intake.out", "double.in")
    assert summary(diff(BASE, new)) == [
        ("removed", "edge", "count.out->double.in"),
        ("added", "edge", "intake.out->double.in"),
    ]


def test_an_edge_whose_given_id_changes_is_reported_as_renamed() -> None:
    old = copy.deepcopy(BASE)
    old["edges"][0]["id"] = "feed"
    new = copy.deepcopy(old)
    new["edges"][0]["id"] = "supply"
    made = diff(old, new)
    assert made.old != made.new
    assert made.changes == (Change("renamed", "edge", "supply", "feed", "supply"),)
    assert made.text() == "edge feed renamed to supply"


# -- nested subgraphs ---------------------------------------------------------------------------


class Parse(Node):
    inp = Input(int, name="in")
    out = Output(int)


class Count(Node):
    inp = Input(int, name="in")
    out = Output(int)

    def snapshot(self) -> Any:
        return 0


def nested(
    member: str, *, renamed_from: str | None = None, inner_from: str | None = None
) -> Subgraph:
    etl = Subgraph("etl")
    etl.add_node(Parse(name="parse"))
    etl.add_node(Count(name="count"), renamed_from=inner_from or ())
    etl.connect(("parse", "out"), ("count", "in"))
    etl.expose_input("in", ("parse", "in"))
    etl.expose_output("out", ("count", "out"))
    top = Subgraph()
    top.add_node(IterSource([1], name="numbers"))
    top.add_node(etl, name=member, renamed_from=renamed_from or ())
    top.connect(("numbers", "out"), (member, "in"))
    return top


def test_renaming_a_subgraph_member_carries_its_inner_node_ids() -> None:
    old = subgraph_manifest(nested("old"))
    new = subgraph_manifest(nested("etl", renamed_from="old"))
    assert [n.id for n in old.nodes] == ["numbers", "old/count", "old/parse"]
    assert new.node("etl/count").renamed_from == ("old/count",)

    made = old.diff(new)

    assert made.renames == {"old/count": "etl/count", "old/parse": "etl/parse"}
    assert summary(made) == [("renamed", "node", "etl/count"), ("renamed", "node", "etl/parse")]
    assert made.flagged == ()


def test_a_subgraph_and_its_inner_node_renamed_at_once_still_match() -> None:
    old = subgraph_manifest(nested("old"))
    etl = Subgraph("etl")
    etl.add_node(Parse(name="parse"))
    etl.add_node(Count(name="total"), renamed_from="count")
    etl.connect(("parse", "out"), ("total", "in"))
    etl.expose_input("in", ("parse", "in"))
    etl.expose_output("out", ("total", "out"))
    top = Subgraph()
    top.add_node(IterSource([1], name="numbers"))
    top.add_node(etl, name="etl", renamed_from="old")
    top.connect(("numbers", "out"), ("etl", "in"))

    made = old.diff(subgraph_manifest(top))

    assert made.renames == {"old/count": "etl/total", "old/parse": "etl/parse"}
    assert {c.kind for c in made.changes} == {"renamed"}


def test_renaming_a_subgraph_member_undeclared_loses_its_stateful_nodes() -> None:
    made = subgraph_manifest(nested("old")).diff(subgraph_manifest(nested("etl")))
    assert [c.id for c in made.flagged] == ["old/count"]
    assert ("removed", "node", "old/parse") in summary(made)
    assert made.renames == {}


# -- validation ---------------------------------------------------------------------------------


def test_a_former_name_still_taken_is_refused_naming_the_node() -> None:
    doc = copy.deepcopy(BASE)
    doc["nodes"][2]["renamedFrom"] = "count"
    with pytest.raises(SpecError, match=r"'double' says it was renamed from 'count'.*still taken"):
        manifest(doc)


def test_a_former_name_claimed_by_two_nodes_is_refused_naming_the_node() -> None:
    doc = copy.deepcopy(BASE)
    doc["nodes"][1]["renamedFrom"] = "old"
    doc["nodes"][2]["renamedFrom"] = ["old"]
    with pytest.raises(SpecError, match=r"'double' says it was renamed from 'old'.*another node"):
        manifest(doc)


def test_python_validation_reports_a_former_name_taken_or_claimed_twice() -> None:
    taken = Subgraph()
    taken.add_node(Parse(name="a"))
    taken.add_node(Parse(name="b"), renamed_from="a")
    twice = Subgraph()
    twice.add_node(Parse(name="a"), renamed_from="x")
    twice.add_node(Parse(name="b"), renamed_from=["x"])

    for sub in (taken, twice):
        errors = [issue for issue in sub.validate() if issue.severity == "error"]
        assert [(issue.code, issue.where) for issue in errors] == [("renamed-from-taken", "b")]
        with pytest.raises(GraphError, match="says it was renamed from"):
            sub.to_graph()


@pytest.mark.parametrize("bad", ["", "a/b", "a.b"])
def test_python_refuses_a_former_name_that_is_no_node_name(bad: str) -> None:
    with pytest.raises(ValueError, match="renamed_from"):
        Subgraph().add_node(Parse(name="p"), renamed_from=bad)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (3, "nodes[1].renamedFrom"),
        (None, "nodes[1].renamedFrom"),
        ([], "nodes[1].renamedFrom"),
        ("a.b", "nodes[1].renamedFrom"),
        ("a/b", "nodes[1].renamedFrom"),
        (["ok", "bad/id"], "nodes[1].renamedFrom[1]"),
        ([""], "nodes[1].renamedFrom[0]"),
        ([7], "nodes[1].renamedFrom[0]"),
    ],
)
def test_a_bad_renamed_from_is_refused_naming_its_path(value: object, where: str) -> None:
    doc = copy.deepcopy(BASE)
    doc["nodes"][1]["renamedFrom"] = value
    with pytest.raises(SpecError) as caught:
        parse_document(doc)
    assert f"{where}:" in str(caught.value)


def test_a_document_with_renamed_from_round_trips_and_its_manifest_records_it() -> None:
    doc = renamed(BASE, "count", "total")
    doc["nodes"][2] = {**doc["nodes"][2], "id": "twice", "renamedFrom": ["double", "dbl"]}
    for item in doc["edges"]:
        if item["target"]["node"] == "double":
            item["target"]["node"] = "twice"

    parsed = parse_document(doc)
    data = parsed.to_dict()

    assert [node.get("renamedFrom") for node in data["nodes"]] == [
        None,
        ["count"],  # one id is written as a list of one
        ["double", "dbl"],
    ]
    assert parse_document(data) == parsed
    made = manifest(doc)
    assert made.node("total").renamed_from == ("count",)
    assert made.node("twice").to_dict()["renamedFrom"] == ["double", "dbl"]  # as written
    assert made.node("intake").to_dict()["renamedFrom"] == []
    assert Manifest.from_dict(json.loads(made.canonical())) == made


# -- determinism --------------------------------------------------------------------------------


def reversed_document(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "nodes": doc["nodes"][::-1], "edges": doc["edges"][::-1]}


def busy_change(doc: dict[str, Any]) -> dict[str, Any]:
    """Return ``doc`` with a rename, a removal, an addition, a config and an edge change."""
    new = renamed(doc, "count", "total")
    new["nodes"] = [node for node in new["nodes"] if node["id"] != "intake"]
    new["nodes"].append({"id": "log", "component": "arachne.core.logger"})
    new["nodes"][1]["config"] = {"expression": "value + 1"}
    new["edges"] = [
        edge("log.out", "total.in"),
        {**new["edges"][1], "capacity": 4},
    ]
    return new


def test_the_diff_does_not_depend_on_the_order_of_nodes_and_edges() -> None:
    new = busy_change(BASE)
    expected = diff(BASE, new)
    assert {c.kind for c in expected.changes} >= {"renamed", "removed", "added", "config", "policy"}
    for old_doc in (BASE, reversed_document(BASE)):
        for new_doc in (new, reversed_document(new)):
            assert diff(old_doc, new_doc).to_dict() == expected.to_dict()


def test_a_manifest_diffed_with_itself_has_no_changes() -> None:
    made = manifest(BASE)
    same = made.diff(made)
    assert not same
    assert same.changes == ()
    assert same.text() == "no changes"
    assert same.old == same.new == made.digest
    assert diff(BASE, reversed_document(BASE)).changes == ()


def test_a_manifest_read_back_from_its_canonical_json_diffs_empty() -> None:
    for doc in (BASE, renamed(BASE, "count", "total")):
        made = manifest(doc)
        again = Manifest.from_dict(json.loads(made.canonical()))
        assert made.diff(again).changes == ()
        assert again.diff(made).changes == ()
    new = busy_change(BASE)
    read_back = Manifest.from_dict(json.loads(manifest(new).canonical()))
    assert manifest(BASE).diff(read_back).to_dict() == diff(BASE, new).to_dict()


# -- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_arachne_diff_prints_the_rename(runner: CliRunner, tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", BASE)
    new = write(tmp_path / "new.json", renamed(BASE, "count", "total"))
    shown = runner.invoke(app, ["diff", str(old), str(new)])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == "node count renamed to total\n"


def test_arachne_diff_json_is_the_diffs_data(runner: CliRunner, tmp_path: Path) -> None:
    new_doc = busy_change(BASE)
    old = write(tmp_path / "old.json", BASE)
    new = write(tmp_path / "new.json", new_doc)
    shown = runner.invoke(app, ["diff", str(old), str(new), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == diff(BASE, new_doc).to_dict()


@pytest.mark.parametrize(("declare", "status"), [(True, 0), (False, 1)])
def test_arachne_diff_check_exits_1_only_when_state_is_lost(
    runner: CliRunner, tmp_path: Path, declare: bool, status: int
) -> None:
    old = write(tmp_path / "old.json", BASE)
    new = write(tmp_path / "new.json", renamed(BASE, "count", "total", declare=declare))
    checked = runner.invoke(app, ["diff", str(old), str(new), "--check"])
    assert checked.exit_code == status, checked.output
    assert ("1 change loses saved state" in checked.stdout) is not declare
    unchecked = runner.invoke(app, ["diff", str(old), str(new)])
    assert unchecked.exit_code == 0, unchecked.output


def test_arachne_diff_check_is_0_for_identical_graphs(runner: CliRunner, tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", BASE)
    new = write(tmp_path / "new.json", reversed_document(BASE))
    shown = runner.invoke(app, ["diff", str(old), str(new), "--check"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == "no changes\n"


def test_arachne_diff_reads_a_saved_manifest_on_either_side(
    runner: CliRunner, tmp_path: Path
) -> None:
    new_doc = renamed(BASE, "count", "total", declare=False)
    documents = {
        "old": write(tmp_path / "old.json", BASE),
        "new": write(tmp_path / "new.json", new_doc),
    }
    saved = {}
    for side, path in documents.items():
        printed = runner.invoke(app, ["manifest", str(path)])
        assert printed.exit_code == 0, printed.output
        saved[side] = tmp_path / f"{side}.manifest.json"
        saved[side].write_text(printed.stdout)
    expected = diff(BASE, new_doc).to_dict()

    for old, new in [
        (saved["old"], documents["new"]),
        (documents["old"], saved["new"]),
        (saved["old"], saved["new"]),
    ]:
        shown = runner.invoke(app, ["diff", str(old), str(new), "--json"])
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout) == expected
        checked = runner.invoke(app, ["diff", str(old), str(new), "--check"])
        assert checked.exit_code == 1, checked.output


def test_a_former_name_given_twice_to_one_node_is_refused_as_such() -> None:
    doc = copy.deepcopy(BASE)
    doc["nodes"][1]["renamedFrom"] = ["old", "old"]
    with pytest.raises(SpecError, match=r"renamedFrom\[1\]: 'old' is named twice"):
        parse_document(doc)
    sub = Subgraph()
    with pytest.raises(ValueError, match="names a node twice"):
        sub.add_node(Parse(), name="p", renamed_from=["old", "old"])
    with pytest.raises(TypeError, match="renamed_from: expected a node name"):
        sub.add_node(Parse(), name="p", renamed_from=3)  # type: ignore[arg-type]


def test_the_first_former_name_the_author_gives_that_the_old_graph_has_is_taken() -> None:
    old = copy.deepcopy(BASE)
    old["nodes"].append({"id": "dbl", "component": "arachne.core.passthrough"})
    new = copy.deepcopy(BASE)
    new["nodes"][1] = {**new["nodes"][1], "id": "total", "renamedFrom": ["count", "dbl"]}
    for made_edge in new["edges"]:
        for end in ("source", "target"):
            if made_edge[end]["node"] == "count":
                made_edge[end]["node"] = "total"
    made = diff(old, new)
    assert made.renames == {"count": "total"}
    assert ("removed", "node", "dbl") in summary(made)
