"""The primitive builder: contracts, options, capabilities, wiring checks, the manifest."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from arachne import GraphError, Input, IterSource, Message, Node, Output, Runtime, Subgraph
from arachne.model.manifest import Manifest, subgraph_manifest
from arachne.model.primitive_mark import WholeGraph, inside
from arachne.model.validation import Issue
from arachne.primitives import (
    REQUIRED,
    FailureRow,
    Fragment,
    Maturity,
    Policy,
    Primitive,
    PrimitiveError,
    contracts,
)
from tests.runtime.nodes import Collect, run_on_fake_clock


class Tag(Node):
    """Adds its label to each value."""

    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self, label: str) -> None:
        self.label = label
        self.count = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.count += 1
        self.emit("out", f"{self.label}:{msg.payload}")


def _tagger(name: str, options: Mapping[str, Any]) -> Fragment:
    unit = Subgraph(name)
    unit.add_node(Tag(options["label"]), name="tag")
    unit.expose_input("in", ("tag", "in"))
    unit.expose_output("out", ("tag", "out"))

    def must_reach_a_sink(graph: WholeGraph, path: str) -> list[Issue]:
        if graph.leads_out(inside(path, "tag"), "out"):
            return []
        return [Issue("error", "primitive-wiring", f"Tagger {path!r}: connect its out", path)]

    def health(nodes: Mapping[str, Node]) -> dict[str, Any]:
        tag = nodes["tag"]
        assert isinstance(tag, Tag)
        return {"state": "healthy", "tagged": tag.count}

    provides = ("Loud",) if options["loud"] else ()
    return Fragment(unit, checks=(must_reach_a_sink,), health=health, provides=provides)


def _label_is_text(options: Mapping[str, Any]) -> Iterator[str]:
    if not isinstance(options["label"], str) or not options["label"]:
        yield f"label {options['label']!r}: give some text"


Tagger = Primitive.define(
    name="Tagger",
    layer="local",
    requires=("RuntimeClock",),
    provides=("Tagged",),
    state=(),
    policies=(
        Policy("label", REQUIRED, "the text put before each value"),
        Policy("loud", False, "whether it also provides Loud"),
    ),
    failure_semantics=(FailureRow("crash", "nothing is kept: a crash loses no state"),),
    installer=_tagger,
    validation=(_label_is_text,),
    maturity=Maturity.EXECUTABLE,
    summary="Puts a label before each value.",
)

NeedsTagged = Primitive.define(
    name="NeedsTagged",
    layer="application",
    requires=("Tagged", "Quorum"),
    provides=(),
    state=(),
    policies=(),
    failure_semantics=(),
    installer=_tagger,
)


def tagged_graph(**options: Any) -> tuple[Subgraph, Collect]:
    g = Subgraph()
    g.add_node(IterSource([1, 2], name="src"))
    tagger = Tagger.install(g, "tagger", **options)
    sink = Collect("sink")
    g.add_node(sink)
    g.connect(("src", "out"), tagger["in"])
    g.connect(tagger["out"], ("sink", "in"))
    return g, sink


def test_an_installed_primitive_runs_as_ordinary_nodes() -> None:
    graph, sink = tagged_graph(label="a")
    run_on_fake_clock(graph)
    assert sink.payloads == ["a:1", "a:2"]


def test_options_take_defaults_and_refuse_unknown_missing_and_unsafe_ones() -> None:
    assert Tagger.options({"label": "x"}) == {"label": "x", "loud": False}
    with pytest.raises(PrimitiveError, match=r"Tagger has no option 'lable'; its options: label"):
        Tagger.fragment("t", lable="x")
    with pytest.raises(PrimitiveError, match="Tagger needs label: label: the text put before"):
        Tagger.fragment("t")
    with pytest.raises(PrimitiveError, match="Tagger: label '': give some text"):
        Tagger.fragment("t", label="")


def test_a_missing_capability_is_named_with_what_provides_it() -> None:
    g = Subgraph()
    with pytest.raises(PrimitiveError) as raised:
        NeedsTagged.install(g, "needs")
    message = str(raised.value)
    assert "NeedsTagged 'needs' requires Quorum, which nothing in the graph provides" in message
    assert "Tagged, which nothing in the graph provides (install Tagger first)" in message
    assert g.members == []  # (nothing was added)
    Tagger.install(g, "tagger", label="x")
    with pytest.raises(PrimitiveError, match="requires Quorum") as again:
        NeedsTagged.install(g, "needs")
    assert "requires Quorum, which" in str(again.value)
    assert "Tagged, which" not in str(again.value)  # (the Tagger provides it now)


def test_a_wiring_check_refuses_the_graph_before_it_runs() -> None:
    g = Subgraph()
    g.add_node(IterSource([1], name="src"))
    tagger = Tagger.install(g, "tagger", label="x")
    g.connect(("src", "out"), tagger["in"])
    issues = g.validate()
    first = issues[0]
    assert (first.severity, first.code, first.where) == (
        "error",
        "primitive-wiring",
        "tagger",
    )
    with pytest.raises(GraphError, match="Tagger 'tagger': connect its out"):
        Runtime().open_execution(g)


def test_ports_of_an_installed_primitive_are_named_or_refused() -> None:
    g = Subgraph()
    tagger = Tagger.install(g, "tagger", label="x")
    assert tagger["in"] == ("tagger", "in")
    with pytest.raises(KeyError, match="Tagger 'tagger' has no port 'inp'; its ports: in, out"):
        tagger["inp"]


def test_the_manifest_lists_the_primitive_as_itself_and_reads_it_back() -> None:
    graph, _ = tagged_graph(label="a", loud=True)
    manifest = subgraph_manifest(graph)
    record = manifest.primitive("tagger")
    assert (record.contract, record.version, record.maturity) == ("Tagger", 1, "executable")
    assert record.nodes == ("tagger/tag",)
    assert record.provides == ("Loud", "Tagged")  # (the options' and the contract's)
    assert Manifest.from_dict(json.loads(manifest.canonical())) == manifest
    other, _ = tagged_graph(label="b", loud=True)
    assert subgraph_manifest(other).primitive("tagger").options_digest != record.options_digest
    plain = Subgraph()
    plain.add_node(Collect("c"))
    assert "primitives" not in subgraph_manifest(plain).to_dict()  # (left out when none)


def test_a_manifest_diff_lists_a_primitive_added_removed_or_reinstalled() -> None:
    a, _ = tagged_graph(label="a", loud=True)
    b, _ = tagged_graph(label="b", loud=True)
    plain = Subgraph()
    plain.add_node(IterSource([1], name="src"))
    old, new, none = subgraph_manifest(a), subgraph_manifest(b), subgraph_manifest(plain)
    changed = [c for c in old.diff(new).changes if c.subject == "primitive"]
    assert [(c.kind, c.id) for c in changed] == [("config", "tagger")]
    assert changed[0].old == old.primitive("tagger").options_digest
    assert "primitive tagger config:" in old.diff(new).text()
    assert ("added", "tagger") in [(c.kind, c.id) for c in none.diff(old).changes]
    assert ("removed", "tagger") in [(c.kind, c.id) for c in old.diff(none).changes]
    assert not [c for c in old.diff(old).changes if c.subject == "primitive"]


def test_a_manifest_naming_a_primitive_node_it_lacks_is_refused() -> None:
    graph, _ = tagged_graph(label="a")
    data = subgraph_manifest(graph).to_dict()
    data["primitives"][0]["nodes"] = ["tagger/gone"]
    with pytest.raises(Exception, match=r"manifest.primitives\[0\].nodes: no node 'tagger/gone'"):
        Manifest.from_dict(data)


def test_definitions_are_checked() -> None:
    with pytest.raises(PrimitiveError, match="layer 'cloud' is not one of atom"):
        Primitive.define("Bad", "cloud", (), (), (), (), (), _tagger)  # type: ignore[arg-type]
    with pytest.raises(PrimitiveError, match="failure case 'meteor' is not one of crash"):
        Primitive.define("Bad", "local", (), (), (), (), (FailureRow("meteor", "gone"),), _tagger)
    with pytest.raises(PrimitiveError, match="needs a scenario on every failure row; missing on"):
        Primitive.define(
            "Bad",
            "local",
            (),
            (),
            (),
            (),
            (FailureRow("crash", "lost"),),
            _tagger,
            maturity=Maturity.FAULT_TESTED,
        )
    with pytest.raises(PrimitiveError, match="'Tagger' is already defined \\(version 1, from "):
        Primitive.define("Tagger", "local", (), (), (), (), (), _tagger, version=2)
    with pytest.raises(PrimitiveError, match="with another contract; give this one another name"):
        Primitive.define("Tagger", "local", (), (), (), (), (), _tagger)  # (same version)
    assert [c for c in contracts() if c.name == "Tagger"] == [Tagger]  # (still the first)
    again = Primitive.define(  # (the same contract again, as a module imported twice does)
        name="Tagger",
        layer="local",
        requires=("RuntimeClock",),
        provides=("Tagged",),
        state=(),
        policies=Tagger.policies,
        failure_semantics=Tagger.failure_semantics,
        installer=_tagger,
        validation=(_label_is_text,),
        maturity=Maturity.EXECUTABLE,
        summary="Puts a label before each value.",
    )
    assert again.doc() == Tagger.doc()


def test_the_doc_page_is_made_from_the_contract() -> None:
    page = Tagger.doc()
    assert page.startswith("# Tagger\n")
    assert "- **Contract:** `Tagger@1`" in page
    assert "| `label` | required | the text put before each value |" in page
    assert "| `loud` | `False` | whether it also provides Loud |" in page
    assert "| crash | nothing is kept: a crash loses no state | not yet |" in page


class Roster(Node):
    """A node with an attribute named like a subgraph's: it is still a node."""

    inp = Input(None, name="in")

    def __init__(self) -> None:
        self.members = ["ann", "bob"]

    def on_message(self, port: str, msg: Message) -> None:
        return


def test_a_node_with_a_members_attribute_is_not_taken_for_a_subgraph() -> None:
    g = Subgraph()
    g.add_node(IterSource([1], name="src"))
    g.add_node(Roster(), name="roster")
    g.connect(("src", "out"), ("roster", "in"))
    assert [issue for issue in g.validate() if issue.severity == "error"] == []
    run_on_fake_clock(g)


def test_a_wiring_check_sees_a_port_exposed_to_the_enclosing_graph() -> None:
    inner = Subgraph("inner")
    inner.add_node(IterSource([1], name="src"))
    tagger = Tagger.install(inner, "tagger", label="x")
    inner.connect(("src", "out"), tagger["in"])
    inner.expose_output("tagged", tagger["out"])  # (leads out: to whatever encloses it)
    assert [issue for issue in inner.validate() if issue.severity == "error"] == []
    outer = Subgraph()
    outer.add_node(inner)
    sink = Collect("sink")
    outer.add_node(sink)
    outer.connect(("inner", "tagged"), ("sink", "in"))
    run_on_fake_clock(outer)
    assert sink.payloads == ["x:1"]
    assert subgraph_manifest(outer).primitive("inner/tagger").nodes == ("inner/tagger/tag",)


def test_a_primitive_run_on_its_own_is_still_itself() -> None:
    fragment = Tagger.fragment("solo", label="x")
    assert [i for i in fragment.unit.validate() if i.severity == "error"] == []  # (out: exposed)
    record = subgraph_manifest(fragment.unit).primitive("")  # (the root: its nodes are its own)
    assert (record.contract, record.nodes) == ("Tagger", ("tag",))


def test_the_options_digest_follows_what_the_options_mean() -> None:
    def digest(**options: Any) -> str:
        g = Subgraph()
        Tagger.install(g, "tagger", **options)
        g.add_node(Collect("sink"))
        g.connect(("tagger", "out"), ("sink", "in"))
        return subgraph_manifest(g).primitive("tagger").options_digest

    assert digest(label="a") == digest(label="a", loud=False)  # (a default, given or not)
    assert digest(label="a") != digest(label="b")


def test_a_manifest_with_primitives_is_format_2_and_one_without_stays_1() -> None:
    graph, _ = tagged_graph(label="a")
    data = subgraph_manifest(graph).to_dict()
    assert data["manifest"] == "arachne.manifest/2"
    plain = Subgraph()
    plain.add_node(Collect("c"))
    assert subgraph_manifest(plain).to_dict()["manifest"] == "arachne.manifest/1"
    wrong = {**data, "manifest": "arachne.manifest/1"}
    with pytest.raises(Exception, match="arachne.manifest/2 lists its primitives, and only it"):
        Manifest.from_dict(wrong)


def test_every_shipped_fault_tested_row_names_a_test_that_exists() -> None:
    root = Path(__file__).parents[2]
    for contract in contracts():
        if not contract.installer.__module__.startswith("arachne."):
            continue
        for row in contract.failure_semantics:
            if not row.scenario:
                continue
            file, _, name = row.scenario.partition("::")
            text = (root / file).read_text(encoding="utf-8")
            assert f"def {name}(" in text, f"{contract.name}: {row.scenario} names no test"
