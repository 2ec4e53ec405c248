from __future__ import annotations

from typing import Any

import pytest

from arachne.model.errors import GraphError
from arachne.model.flatten import ERROR_PORT_SPEC
from arachne.model.node import Node
from arachne.model.port import Input, Output, PortSpec
from arachne.model.specs import PortRef
from arachne.model.subgraph import Subgraph
from arachne.model.validation import Issue


class Lines(Node):
    out = Output(str)


class Parse(Node):
    inp = Input(str, name="in")
    out = Output(int)


class Clean(Node):
    inp = Input(int, name="in")
    out = Output(int)


class Audit(Node):
    inp = Input(str, name="in")


class Sink(Node):
    inp = Input(int, name="in")


class FloatSink(Node):
    inp = Input(float, name="in")


class AnySink(Node):
    inp = Input(name="in")


class Measure(Node):
    out = Output(float)


class Ticker(Node):
    cadence = 0.5
    out = Output(int)


class BrokenPorts(Node):
    def inputs(self) -> Any:
        return ["in"]


def codes(issues: list[Issue]) -> list[str]:
    return [issue.code for issue in issues]


def only(issues: list[Issue], code: str) -> Issue:
    found = [issue for issue in issues if issue.code == code]
    assert len(found) == 1, issues
    return found[0]


def pipeline() -> Subgraph:
    g = Subgraph("pipeline")
    g.add_node(Lines())
    g.add_node(Parse())
    g.add_node(Sink())
    g.connect(("lines", "out"), ("parse", "in"))
    g.connect(("parse", "out"), ("sink", "in"))
    return g


def etl() -> Subgraph:
    sub = Subgraph("etl")
    sub.add_node(Parse())
    sub.add_node(Clean())
    sub.connect(("parse", "out"), ("clean", "in"))
    sub.expose_input("raw", ("parse", "in"))
    sub.expose_output("rows", ("clean", "out"))
    return sub


def outer_with(sub: Subgraph) -> Subgraph:
    g = Subgraph("outer")
    g.add_node(Lines())
    g.add_node(sub)
    g.add_node(Sink())
    g.connect(("lines", "out"), ("etl", "raw"))
    g.connect(("etl", "rows"), ("sink", "in"))
    return g


# -- building --------------------------------------------------------------------------------


def test_add_node_returns_the_name_used() -> None:
    g = Subgraph()
    assert g.add_node(Parse()) == "parse"
    assert g.add_node(Parse(name="parse2")) == "parse2"
    assert g.add_node(Parse(), name="third") == "third"
    assert [m.id for m in g.members] == ["parse", "parse2", "third"]


def test_add_node_keeps_a_config_copy() -> None:
    config = {"limit": 1}
    g = Subgraph()
    g.add_node(Parse(), config=config)
    config["limit"] = 2
    assert g.members[0].config == {"limit": 1}


def test_add_node_rejects_a_class_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"instantiate the class first \(e.g. add_node\(Producer"):
        Subgraph().add_node(Parse)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes a Node or Subgraph instance, got 3"):
        Subgraph().add_node(3)  # type: ignore[arg-type]


def test_add_node_needs_a_name_for_an_anonymous_subgraph() -> None:
    with pytest.raises(ValueError, match=r"nested subgraph needs a name: Subgraph\('etl'\)"):
        Subgraph().add_node(Subgraph())
    g = Subgraph()
    assert g.add_node(Subgraph(), name="inner") == "inner"


@pytest.mark.parametrize("name", ["a/b", "a.b"])
def test_add_node_rejects_separators_in_names(name: str) -> None:
    with pytest.raises(ValueError, match=f"node name '{name}' may not contain"):
        Subgraph().add_node(Parse(), name=name)


@pytest.mark.parametrize("name", ["", "a/b"])
def test_subgraph_name_must_be_a_plain_word(name: str) -> None:
    with pytest.raises(ValueError, match="must be non-empty and contain no '/'"):
        Subgraph(name)


def test_anonymous_subgraph_name_is_empty() -> None:
    assert Subgraph().name() == ""
    assert Subgraph("etl").name() == "etl"


def test_connect_returns_default_or_given_link_id() -> None:
    g = Subgraph()
    assert g.connect(("a", "out"), ("b", "in")) == "a.out->b.in"
    assert g.connect(("a", "out"), ("b", "in"), id="fast") == "fast"
    conn = g.connections[0]
    assert (conn.capacity, conn.overflow, conn.priority, conn.control) == (1024, "block", 0, False)


def test_connect_records_options() -> None:
    g = Subgraph()
    g.connect(("a", "out"), ("b", "in"), capacity=4, overflow="latest", priority=3, control=1)
    conn = g.connections[0]
    assert (conn.capacity, conn.overflow, conn.priority, conn.control) == (4, "latest", 3, True)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"capacity": 0}, "capacity must be an int >= 1, got 0"),
        ({"capacity": True}, "capacity must be an int >= 1, got True"),
        ({"capacity": 2.0}, "capacity must be an int >= 1, got 2.0"),
        ({"priority": 1.5}, "priority must be an int, got 1.5"),
        ({"priority": False}, "priority must be an int, got False"),
        ({"overflow": "spill"}, "unknown overflow policy 'spill'"),
    ],
)
def test_connect_rejects_bad_options_naming_the_link(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=r"link a\.out->b\.in: ") as info:
        Subgraph().connect(("a", "out"), ("b", "in"), **options)
    assert problem in str(info.value)


@pytest.mark.parametrize("endpoint", ["a.out", ("a",), ("a", ""), ("a", 1), ["a", "out"]])
def test_connect_rejects_bad_endpoints(endpoint: Any) -> None:
    with pytest.raises(TypeError, match=r"src must be a \(node name, port name\) tuple"):
        Subgraph().connect(endpoint, ("b", "in"))
    with pytest.raises(TypeError, match=r"dst must be a \(node name, port name\) tuple"):
        Subgraph().connect(("b", "out"), endpoint)


def test_expose_output_once_per_name() -> None:
    sub = Subgraph("etl")
    sub.expose_output("rows", ("clean", "out"))
    with pytest.raises(ValueError, match="output 'rows' is already exposed; pick another name"):
        sub.expose_output("rows", ("parse", "out"))


def test_expose_rejects_bad_endpoints() -> None:
    with pytest.raises(TypeError, match="target must be"):
        Subgraph("s").expose_input("raw", "parse.in")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="source must be"):
        Subgraph("s").expose_output("rows", "clean.out")  # type: ignore[arg-type]


# -- validation: clean graphs and warnings ---------------------------------------------------


def test_connected_graph_has_no_issues() -> None:
    assert pipeline().validate() == []


def test_int_into_float_and_anything_into_any_are_compatible() -> None:
    g = Subgraph()
    g.add_node(Parse())
    g.add_node(FloatSink())
    g.add_node(AnySink())
    g.add_node(Lines())
    g.connect(("lines", "out"), ("parse", "in"))
    g.connect(("parse", "out"), ("float_sink", "in"))
    g.connect(("parse", "out"), ("any_sink", "in"))
    assert g.validate() == []


def test_unconnected_ports_are_warnings_naming_port_and_node() -> None:
    g = Subgraph()
    g.add_node(Parse())
    issues = g.validate()
    assert [(i.severity, i.code, i.where) for i in issues] == [
        ("warning", "unconnected-input", "parse.in"),
        ("warning", "unconnected-output", "parse.out"),
    ]
    assert issues[0].message == (
        "input port 'in' of node 'parse' is not connected; it will never receive messages"
    )
    assert issues[1].message == (
        "output port 'out' of node 'parse' is not connected; what it emits is counted and dropped"
    )


def test_warnings_do_not_stop_to_graph() -> None:
    g = Subgraph()
    g.add_node(Parse())
    graph = g.to_graph()
    assert list(graph.nodes) == ["parse"]


def test_errors_come_before_warnings() -> None:
    g = Subgraph()
    g.add_node(Parse())
    g.add_node(Sink())
    g.connect(("parse", "out"), ("nowhere", "in"))
    severities = [issue.severity for issue in g.validate()]
    assert severities == sorted(severities, key=lambda s: s != "error")
    assert severities[0] == "error"
    assert "warning" in severities


# -- validation: errors ----------------------------------------------------------------------


def test_unknown_node_names_the_node_known_nodes_and_fix() -> None:
    g = pipeline()
    g.connect(("parse", "out"), ("sinc", "in"))
    issue = only(g.validate(), "unknown-node")
    assert issue.severity == "error"
    assert issue.where == "sinc"
    assert "parse.out -> sinc.in: unknown node 'sinc'" in issue.message
    assert "add it with add_node() or fix the name" in issue.message
    assert "(known nodes: lines, parse, sink)" in issue.message


def test_unknown_source_node_in_an_empty_graph() -> None:
    g = Subgraph()
    g.connect(("a", "out"), ("b", "in"))
    issues = g.validate()
    assert codes(issues) == ["unknown-node", "unknown-node"]
    assert [i.where for i in issues] == ["a", "b"]
    assert "(known nodes: none)" in issues[0].message


def test_unknown_output_port_lists_the_outputs() -> None:
    g = pipeline()
    g.connect(("parse", "outt"), ("sink", "in"))
    issue = only(g.validate(), "unknown-port")
    assert issue.severity == "error"
    assert issue.where == "parse.outt"
    assert "node 'parse' has no output port 'outt'" in issue.message
    assert "its outputs are: error, out" in issue.message


def test_unknown_input_port_on_a_node_without_inputs() -> None:
    g = pipeline()
    g.connect(("parse", "out"), ("lines", "in"))
    issue = only(g.validate(), "unknown-port")
    assert issue.where == "lines.in"
    assert "node 'lines' has no input port 'in'; its inputs are: none" in issue.message


def test_incompatible_schemas_name_both_ports_and_the_fix() -> None:
    g = Subgraph()
    g.add_node(Lines())
    g.add_node(Sink())
    g.connect(("lines", "out"), ("sink", "in"))
    issue = only(g.validate(), "incompatible-schema")
    assert issue.severity == "error"
    assert issue.where == "lines.out -> sink.in"
    assert issue.message == (
        "port 'out' of node 'lines' emits str but port 'in' of node 'sink' expects int; "
        "add a map node between them or change one of the schemas"
    )


def test_float_into_int_is_incompatible() -> None:
    g = Subgraph()
    g.add_node(Measure())
    g.add_node(Clean())
    g.connect(("measure", "out"), ("clean", "in"))
    issue = only(g.validate(), "incompatible-schema")
    assert "emits float but port 'in' of node 'clean' expects int" in issue.message


def test_duplicate_node_name_names_it_and_the_fix() -> None:
    g = Subgraph()
    g.add_node(Parse())
    g.add_node(Parse())
    issue = only(g.validate(), "duplicate-node")
    assert issue.severity == "error"
    assert issue.where == "parse"
    assert "two nodes are named 'parse'" in issue.message
    assert "pass name= to add_node() to give one of them another name" in issue.message


def test_two_node_cycle_names_the_nodes_and_the_fix() -> None:
    g = Subgraph()
    g.add_node(Clean(name="a"))
    g.add_node(Clean(name="b"))
    g.connect(("a", "out"), ("b", "in"))
    g.connect(("b", "out"), ("a", "in"))
    issue = only(g.validate(), "cycle")
    assert issue.severity == "error"
    assert issue.message in (
        "cycle a -> b -> a; remove one of these links (a graph must be acyclic)",
        "cycle b -> a -> b; remove one of these links (a graph must be acyclic)",
    )
    assert issue.where in ("a", "b")


def test_self_loop_is_a_cycle() -> None:
    g = Subgraph()
    g.add_node(Clean())
    g.connect(("clean", "out"), ("clean", "in"))
    issue = only(g.validate(), "cycle")
    assert issue.message.startswith("cycle clean -> clean; remove one of these links")
    assert issue.where == "clean"


def test_each_separate_cycle_is_reported() -> None:
    g = Subgraph()
    for name in ("a", "b", "c"):
        g.add_node(Clean(name=name))
    g.connect(("a", "out"), ("b", "in"))
    g.connect(("b", "out"), ("a", "in"))
    g.connect(("c", "out"), ("c", "in"))
    issues = g.validate()
    assert codes(issues) == ["cycle", "cycle"]
    by_where = {issue.where: issue.message for issue in issues}
    assert by_where.pop("c").startswith("cycle c -> c;")
    [(where, message)] = by_where.items()
    assert where in ("a", "b")
    assert message.startswith(f"cycle {where} -> ")


def test_node_with_bad_ports_is_reported_not_raised() -> None:
    g = Subgraph()
    g.add_node(BrokenPorts(name="broken"))
    issue = only(g.validate(), "bad-ports")
    assert issue.severity == "error"
    assert "node 'broken'" in issue.message
    assert "inputs() must return a dict" in issue.message


def test_to_graph_raises_one_error_listing_every_error() -> None:
    g = Subgraph()
    g.add_node(Lines())
    g.add_node(Sink())
    g.add_node(Sink())
    g.connect(("lines", "out"), ("sink", "in"))
    g.connect(("lines", "outt"), ("sink", "in"))
    g.connect(("lines", "out"), ("nowhere", "in"))
    with pytest.raises(GraphError) as info:
        g.to_graph()
    err = info.value
    assert isinstance(err, ValueError)
    assert sorted(codes(list(err.issues))) == [
        "duplicate-node",
        "incompatible-schema",
        "unknown-node",
        "unknown-port",
    ]
    assert all(issue.severity == "error" for issue in err.issues)
    lines = str(err).splitlines()
    assert lines[0] == "graph has 4 problem(s):"
    assert lines[1:] == [f"  - {issue}" for issue in err.issues]


def test_to_graph_raises_on_a_cycle() -> None:
    g = Subgraph()
    g.add_node(Clean())
    g.connect(("clean", "out"), ("clean", "in"))
    with pytest.raises(GraphError, match="cycle clean -> clean") as info:
        g.to_graph()
    assert codes(list(info.value.issues)) == ["cycle"]


# -- flattening ------------------------------------------------------------------------------


def test_to_graph_builds_specs_from_nodes() -> None:
    g = Subgraph("pipeline")
    g.add_node(Ticker(config={"rate": 1, "burst": 2}), config={"burst": 5})
    g.add_node(Clean())
    g.connect(("ticker", "out"), ("clean", "in"), capacity=8, overflow="drop", priority=2)
    graph = g.to_graph()
    assert graph.name == "pipeline"
    ticker = graph.nodes["ticker"]
    assert ticker.kind == f"{__name__}:Ticker"
    assert ticker.outputs == (PortSpec("out", int), ERROR_PORT_SPEC)
    assert ticker.inputs == ()
    assert dict(ticker.config) == {"rate": 1, "burst": 5}
    assert ticker.cadence == 0.5
    assert graph.nodes["clean"].cadence is None
    link = graph.links["ticker.out->clean.in"]
    assert (link.source, link.target) == (PortRef("ticker", "out"), PortRef("clean", "in"))
    assert (link.capacity, link.overflow, link.priority, link.control) == (8, "drop", 2, False)


def test_explicit_link_id_and_control_flag_survive() -> None:
    g = pipeline()
    g.connect(("parse", "out"), ("sink", "in"), id="ctl", control=True)
    graph = g.to_graph()
    assert graph.links["ctl"].control is True


def test_repeated_connection_gets_a_unique_id() -> None:
    g = pipeline()
    g.connect(("parse", "out"), ("sink", "in"))
    graph = g.to_graph()
    assert list(graph.links) == [
        "lines.out->parse.in",
        "parse.out->sink.in",
        "parse.out->sink.in#2",
    ]


def test_instances_map_flat_ids_to_the_added_objects() -> None:
    sub = etl()
    g = outer_with(sub)
    instances = g.instances()
    assert list(instances) == ["lines", "etl/parse", "etl/clean", "sink"]
    assert instances["etl/parse"] is sub.members[0].unit
    assert instances["lines"] is g.members[0].unit


# -- nested subgraphs ------------------------------------------------------------------------


def test_subgraph_exposes_ports_typed_as_the_inner_ports() -> None:
    sub = etl()
    assert sub.inputs() == {"raw": PortSpec("raw", str)}
    assert sub.outputs() == {"rows": PortSpec("rows", int)}


def test_nested_subgraph_flattens_to_path_ids() -> None:
    g = outer_with(etl())
    assert g.validate() == []
    graph = g.to_graph()
    assert graph.name == "outer"
    assert list(graph.nodes) == ["lines", "etl/parse", "etl/clean", "sink"]
    # A link keeps the id connect() returned, prefixed with the subgraph's path.
    assert set(graph.links) == {
        "etl/parse.out->clean.in",
        "lines.out->etl.raw",
        "etl.rows->sink.in",
    }
    assert graph.links["lines.out->etl.raw"].target == PortRef("etl/parse", "in")
    assert graph.links["etl.rows->sink.in"].source == PortRef("etl/clean", "out")
    assert graph.topology.order == ("lines", "etl/parse", "etl/clean", "sink")


def test_inner_link_ids_are_prefixed_with_the_path() -> None:
    sub = Subgraph("etl")
    sub.add_node(Parse())
    sub.add_node(Clean())
    sub.connect(("parse", "out"), ("clean", "in"), id="p2c")
    sub.expose_input("raw", ("parse", "in"))
    sub.expose_output("rows", ("clean", "out"))
    graph = outer_with(sub).to_graph()
    assert "etl/p2c" in graph.links


def test_exposed_input_fans_out_to_every_target() -> None:
    sub = etl()
    sub.add_node(Audit())
    sub.expose_input("raw", ("audit", "in"))
    g = Subgraph()
    g.add_node(Lines())
    g.add_node(sub)
    g.add_node(Sink())
    g.connect(("lines", "out"), ("etl", "raw"), id="feed")
    g.connect(("etl", "rows"), ("sink", "in"))
    assert g.validate() == []
    graph = g.to_graph()
    assert graph.links["feed#1"].target == PortRef("etl/parse", "in")
    assert graph.links["feed#2"].target == PortRef("etl/audit", "in")


def test_fan_out_without_id_gets_one_link_per_target() -> None:
    sub = etl()
    sub.add_node(Audit())
    sub.expose_input("raw", ("audit", "in"))
    graph = outer_with(sub).to_graph()
    assert {str(link.target) for link in graph.links_from("lines")} == {
        "etl/parse.in",
        "etl/audit.in",
    }


def test_subgraph_nested_twice_and_reexported() -> None:
    mid = Subgraph("mid")
    mid.add_node(etl())
    mid.expose_input("text", ("etl", "raw"))
    mid.expose_output("numbers", ("etl", "rows"))
    assert mid.inputs() == {"text": PortSpec("text", str)}
    assert mid.outputs() == {"numbers": PortSpec("numbers", int)}
    g = Subgraph()
    g.add_node(Lines())
    g.add_node(mid)
    g.add_node(Sink())
    g.connect(("lines", "out"), ("mid", "text"))
    g.connect(("mid", "numbers"), ("sink", "in"))
    assert g.validate() == []
    graph = g.to_graph()
    assert list(graph.nodes) == ["lines", "mid/etl/parse", "mid/etl/clean", "sink"]
    assert graph.links_from("lines")[0].target == PortRef("mid/etl/parse", "in")
    assert graph.links_into("sink")[0].source == PortRef("mid/etl/clean", "out")


def test_nested_errors_name_the_full_path() -> None:
    sub = etl()
    sub.connect(("pars", "out"), ("clean", "in"))
    sub.add_node(Clean())
    issues = outer_with(sub).validate()
    unknown = only(issues, "unknown-node")
    assert unknown.where == "etl/pars"
    assert "etl/pars.out -> etl/clean.in: unknown node 'etl/pars'" in unknown.message
    duplicate = only(issues, "duplicate-node")
    assert "two nodes are named 'etl/clean'" in duplicate.message


def test_nested_unconnected_ports_warn_with_the_path() -> None:
    sub = etl()
    sub.add_node(Audit())
    issues = outer_with(sub).validate()
    warning = only(issues, "unconnected-input")
    assert warning.where == "etl/audit.in"
    assert "node 'etl/audit'" in warning.message


def test_unexposed_subgraph_port_is_an_unknown_port() -> None:
    g = outer_with(etl())
    g.connect(("lines", "out"), ("etl", "text"))
    issue = only(g.validate(), "unknown-port")
    assert issue.where == "etl.text"
    assert "node 'etl' has no input port 'text'; its inputs are: raw" in issue.message


def test_schemas_are_checked_across_the_subgraph_boundary() -> None:
    g = outer_with(etl())
    g.add_node(Audit())
    g.connect(("etl", "rows"), ("audit", "in"))
    issue = only(g.validate(), "incompatible-schema")
    assert issue.message.startswith(
        "port 'rows' of node 'etl' emits int but port 'in' of node 'audit' expects str"
    )


def test_exposure_of_an_unknown_node_is_reported_and_left_out() -> None:
    sub = etl()
    sub.expose_output("extra", ("nope", "out"))
    assert "extra" not in sub.outputs()
    issue = only(outer_with(sub).validate(), "unknown-node")
    assert issue.where == "etl/nope"
    assert issue.message.startswith("exposed output etl/extra: unknown node 'etl/nope'")


def test_exposure_of_an_unknown_port_is_reported_and_left_out() -> None:
    sub = etl()
    sub.expose_input("other", ("parse", "text"))
    assert "other" not in sub.inputs()
    issue = only(outer_with(sub).validate(), "unknown-port")
    assert issue.where == "etl/parse.text"
    assert issue.message.startswith("exposed input etl/other: node 'etl/parse' has no input port")


def test_exposure_of_a_node_with_bad_ports_is_left_out() -> None:
    sub = Subgraph("s")
    sub.add_node(BrokenPorts(name="broken"))
    sub.expose_input("x", ("broken", "in"))
    assert sub.inputs() == {}
    assert "bad-ports" in codes(sub.validate())


def test_cycle_through_a_nested_subgraph_uses_path_ids() -> None:
    sub = Subgraph("loop")
    sub.add_node(Clean())
    sub.expose_input("in", ("clean", "in"))
    sub.expose_output("out", ("clean", "out"))
    g = Subgraph()
    g.add_node(sub)
    g.connect(("loop", "out"), ("loop", "in"))
    issue = only(g.validate(), "cycle")
    assert issue.message.startswith("cycle loop/clean -> loop/clean;")
    with pytest.raises(GraphError, match="loop/clean"):
        g.to_graph()


def test_ports_that_change_between_calls_fail_to_graph_with_a_graph_error() -> None:
    class Shifty(Node):
        calls = 0

        def outputs(self) -> dict[str, Any]:
            type(self).calls += 1
            return {"out": int} if type(self).calls == 1 else {}

    g = Subgraph()
    g.add_node(Shifty())
    g.add_node(Sink())
    g.connect(("shifty", "out"), ("sink", "in"))
    with pytest.raises(GraphError, match="node 'shifty' has no output 'out'"):
        g.to_graph()
