"""``arachne mcp``: the query plane and execution controls as MCP tools.

The tools are called in-process (``ArachneTools``, and through the ``mcp`` package's own
in-process client), and once end to end: ``arachne mcp`` spawned over stdio by the package's
stdio client.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import TypeAdapter
from typer.testing import CliRunner

from arachne import Input, Node
from arachne.cli.main import app
from arachne.components.registry import Registry
from arachne.server.mcp import (
    DEFAULT_TOKEN_ENV,
    TOOLS,
    ArachneTools,
    ChangeArg,
    OperatorToken,
    mcp_server,
    start_documents,
)
from arachne.server.service import RuntimeService
from arachne.server.settings import ServerSettings
from tests.server.test_api import eventually

ROOT = Path(__file__).resolve().parents[2]
QUICK_REFERENCE = ROOT / "examples" / "documents" / "quick_reference.json"
ARACHNE = str(Path(sys.executable).parent / "arachne")
TOKEN = "operator-token-0123456789"  # noqa: S105  # (a test's own token)
BOUND = 60.0  # seconds: a bound on a hang, not a timing claim
NAMES = [name for name, _ in TOOLS]


@pytest.fixture
def service() -> Iterator[RuntimeService]:
    served = RuntimeService(ServerSettings(), Registry.default())
    try:
        yield served
    finally:
        served.close()


def tools_over(service: RuntimeService, token: str | None = TOKEN) -> Iterator[ArachneTools]:
    tools = ArachneTools(service, OperatorToken(token))
    try:
        yield tools
    finally:
        tools.close()


@pytest.fixture
def tools(service: RuntimeService) -> Iterator[ArachneTools]:
    yield from tools_over(service)


@pytest.fixture
def execution_id(service: RuntimeService) -> str:
    (ex,) = start_documents(service, [QUICK_REFERENCE])
    eventually(lambda: ex.state.value == "running")
    return ex.id


def logged_by(caplog: pytest.LogCaptureFixture, node: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == f"arachne.node.{node}"]


def state_of(tools: ArachneTools, execution_id: str) -> str:
    (record,) = [e for e in tools.list_executions()["executions"] if e["id"] == execution_id]
    return str(record["state"])


# -- reading ----------------------------------------------------------------------------------


def test_every_tool_is_a_method_in_the_table() -> None:
    methods = {name for name in vars(ArachneTools) if not name.startswith("_")} - {"close"}
    assert methods == set(NAMES)
    assert len(NAMES) == len(set(NAMES))


def test_the_reads_answer_the_query_planes_snapshots(
    tools: ArachneTools, execution_id: str
) -> None:
    (graph,) = tools.list_graphs()["graphs"]
    assert graph["name"] == "Simple Pipeline"
    assert graph["nodeCount"] == 3
    assert [e["id"] for e in tools.list_executions()["executions"]] == [execution_id]

    topology = tools.topology(execution_id)
    assert topology["executionId"] == execution_id
    assert len(topology["digest"]) == 64
    assert [node["id"] for node in topology["manifest"]["nodes"]] == ["double", "input", "output"]
    flow = tools.flow(execution_id)
    assert flow["digest"] == topology["digest"]
    assert [(e["id"], e["source"], e["target"]) for e in flow["edges"]] == [
        ("e1", "input", "double"),
        ("e2", "double", "output"),
    ]
    assert flow["intervalSeconds"] > 0
    load = tools.load(execution_id)
    assert {node["id"] for node in load["nodes"]} == {"input", "double", "output"}
    assert tools.backpressure(execution_id)["causes"] == []


def test_one_plane_per_execution_so_rates_run_from_the_previous_call(
    tools: ArachneTools, execution_id: str
) -> None:
    first = tools.flow(execution_id)
    second = tools.flow(execution_id)
    assert second["observedAt"] >= first["observedAt"]
    assert second["intervalSeconds"] <= second["observedAt"] - first["observedAt"] + 0.5
    ex = tools.service.execution(execution_id)
    assert tools.planes.of(ex) is tools.planes.of(ex)


def test_an_unknown_execution_is_refused_naming_the_known_ones(
    tools: ArachneTools, execution_id: str
) -> None:
    with pytest.raises(
        ToolError, match=rf"no execution 'exec-nope'; the executions: {execution_id}"
    ):
        tools.flow("exec-nope")
    with pytest.raises(ToolError, match="no execution 'exec-nope'"):
        tools.pause("exec-nope", TOKEN)


# -- the operator token -----------------------------------------------------------------------


def test_without_a_configured_token_control_tools_say_how_to_enable_them(
    service: RuntimeService, execution_id: str
) -> None:
    for tools in tools_over(service, token=None):
        with pytest.raises(ToolError, match=f"control tools are off.*Set {DEFAULT_TOKEN_ENV}"):
            tools.pause(execution_id, TOKEN)
        assert tools.flow(execution_id)["edges"]  # reading stays open
    assert service.execution(execution_id).state.value == "running"


def test_a_wrong_or_missing_token_is_refused_without_saying_more(
    tools: ArachneTools, execution_id: str
) -> None:
    for wrong in ("operator-token-0123456780", TOKEN[:-1], TOKEN + "x"):
        with pytest.raises(ToolError) as refused:
            tools.pause(execution_id, wrong)
        assert str(refused.value) == "the operator token is not valid"
    with pytest.raises(ToolError, match="needs the operator token: pass it as token"):
        tools.inject(execution_id, "input", "in", 1, "")
    assert tools.service.execution(execution_id).state.value == "running"


def test_a_short_token_is_refused_when_the_server_starts() -> None:
    with pytest.raises(ValueError, match="MY_TOKEN holds 5 characters; .* at least 16"):
        OperatorToken.from_environment({"MY_TOKEN": "short"}, "MY_TOKEN")
    assert not OperatorToken.from_environment({"MY_TOKEN": ""}, "MY_TOKEN").on


# -- controls ---------------------------------------------------------------------------------


def test_pause_inject_resume_and_stop(
    tools: ArachneTools, execution_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="arachne.node")
    paused = tools.pause(execution_id, TOKEN)
    assert paused == {"executionId": execution_id, "requested": "pause", "state": "paused"}
    assert state_of(tools, execution_id) == "paused"
    assert tools.inject(execution_id, "input", "in", 21, TOKEN)["accepted"]
    assert tools.pause(execution_id, TOKEN)["state"] == "paused"  # idempotent
    assert logged_by(caplog, "output") == []  # queued while paused
    assert tools.resume(execution_id, TOKEN)["state"] == "running"
    eventually(lambda: logged_by(caplog, "output") == ["42"])
    assert tools.stop(execution_id, TOKEN)["requested"] == "stop"
    eventually(lambda: state_of(tools, execution_id) == "completed")
    with pytest.raises(ToolError, match=rf"execution {execution_id} has ended \(completed\)"):
        tools.pause(execution_id, TOKEN)


def test_inject_names_what_is_wrong(tools: ArachneTools, execution_id: str) -> None:
    with pytest.raises(ToolError, match="port"):
        tools.inject(execution_id, "input", "nope", 1, TOKEN)
    with pytest.raises(ToolError, match="NaN and infinities are not JSON"):
        tools.inject(execution_id, "input", "in", math.nan, TOKEN)
    with pytest.raises(ToolError, match="over MAX_INJECT_BYTES"):
        tools.inject(execution_id, "input", "in", "x" * (300 << 10), TOKEN)


def test_start_execution_starts_another_and_names_the_graphs_if_unknown(
    tools: ArachneTools, execution_id: str
) -> None:
    (graph,) = tools.list_graphs()["graphs"]
    started = tools.start_execution(graph["id"], TOKEN)
    assert started["graphId"] == graph["id"]
    assert started["executionId"] != execution_id
    assert len(tools.list_executions()["executions"]) == 2
    with pytest.raises(ToolError, match=f"no graph 'graph-nope'; the graphs: {graph['id']}"):
        tools.start_execution("graph-nope", TOKEN)


def test_lineage_names_each_injected_value_behind_an_output(
    tools: ArachneTools, execution_id: str
) -> None:
    with pytest.raises(ToolError, match="records no lineage"):
        tools.lineage(execution_id, "output")
    (graph,) = tools.list_graphs()["graphs"]
    traced = tools.start_execution(graph["id"], TOKEN, lineage=1.0)["executionId"]
    eventually(lambda: state_of(tools, traced) == "running")
    for value in (4, 9):
        tools.inject(traced, "input", "in", value, TOKEN)
    answer = eventually(
        lambda: len((got := tools.lineage(traced, "output"))["outputs"]) == 2 and got
    )
    assert [out["origins"][0]["value"] for out in answer["outputs"]] == ["4", "9"]
    assert answer["outputs"][0]["nodes"] == ["input", "double", "output"]
    with pytest.raises(ToolError, match="no node 'nope'"):
        tools.lineage(traced, "nope")
    assert tools.taints(traced)["routes"] == []
    assert tools.primitives(traced)["primitives"] == []  # (the graph installs none)


# -- changes ----------------------------------------------------------------------------------

TAP: list[dict[str, Any]] = [
    {"op": "configure", "node": "double", "config": {"expression": "value * 3"}},
    {"op": "add_node", "id": "tap", "component": "arachne.core.logger"},
    {
        "op": "connect",
        "id": "t",
        "source": {"node": "double", "port": "out"},
        "target": {"node": "tap", "port": "in"},
    },
]


def change(operations: list[dict[str, Any]]) -> Any:
    """Return ``operations`` as the tools take them (validated as the MCP server does)."""
    return TypeAdapter(ChangeArg).validate_python(operations)


def test_plan_changes_nothing_and_commit_applies_the_change_as_one(
    tools: ArachneTools, execution_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="arachne.node")
    ex = tools.service.execution(execution_id)
    before = tools.topology(execution_id)["digest"]

    plan = tools.plan(execution_id, change(TAP), TOKEN)
    assert plan["committed"] is False
    assert plan["digest"] == before
    assert plan["delta"]["added_nodes"] == ["tap"]
    assert plan["delta"]["added_links"] == ["t"]
    assert plan["text"].splitlines() == [
        "+ node tap (arachne.core.logger)",
        "+ link t (double.out -> tap.in)",
        "~ node double config expression: 'value * 2' -> 'value * 3'",
    ]
    assert tools.topology(execution_id)["digest"] == before  # nothing changed
    assert "tap" not in ex.graph.nodes
    assert ex.commit_mode == "auto"

    committed = tools.commit(execution_id, change(TAP), TOKEN, expected_digest=plan["digest"])
    assert committed["committed"] is True
    assert committed["text"] == plan["text"]
    assert committed["digest"] != before
    assert committed["digest"] == tools.topology(execution_id)["digest"]
    assert ex.commit_mode == "auto"
    tools.inject(execution_id, "input", "in", 7, TOKEN)
    eventually(lambda: logged_by(caplog, "tap") == ["21"])
    assert logged_by(caplog, "output") == ["21"]

    with pytest.raises(ToolError, match="has changed since it was planned"):
        tools.commit(execution_id, change(TAP[:1]), TOKEN, expected_digest=before)


def test_an_operation_that_cannot_apply_is_named_and_nothing_changes(
    tools: ArachneTools, execution_id: str
) -> None:
    ex = tools.service.execution(execution_id)
    before = ex.running_graph()
    wrong = [TAP[1], {**TAP[2], "target": {"node": "tapp", "port": "in"}}]
    for act in (tools.plan, tools.commit):
        with pytest.raises(ToolError, match=r"change\[1\] \(connect\): unknown node 'tapp'"):
            act(execution_id, change(wrong), TOKEN)
        assert ex.graph == ex.running_graph() == before
        assert ex.commit_mode == "auto"
    bad = [{"op": "configure", "node": "double", "config": {"expression": "value *"}}]
    with pytest.raises(ToolError, match=r"change\[0\] \(configure\): config: expression"):
        tools.commit(execution_id, change(bad), TOKEN)
    inject_edge = [{"op": "retune", "edge": "inject->input.in", "priority": 1}]
    with pytest.raises(ToolError, match="carries inject calls"):
        tools.plan(execution_id, change(inject_edge), TOKEN)
    with pytest.raises(ToolError, match="nothing to change"):
        tools.plan(execution_id, change([{"op": "retune", "edge": "e1"}]), TOKEN)
    assert ex.graph == ex.running_graph() == before


def test_a_node_without_on_config_is_replaced_in_one_change(
    tools: ArachneTools, execution_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="arachne.node")
    prefixed = {"op": "configure", "node": "output", "config": {"prefix": "> "}}
    with pytest.raises(ToolError, match=r"change\[0\] \(configure\): .* has no on_config"):
        tools.plan(execution_id, change([prefixed]), TOKEN)
    replaced = [
        {"op": "disconnect", "edge": "e2"},
        {"op": "remove_node", "id": "output"},
        {
            "op": "add_node",
            "id": "output",
            "component": "arachne.core.logger",
            "config": {"prefix": "> "},
        },
        {
            "op": "connect",
            "id": "e2",
            "source": {"node": "double", "port": "out"},
            "target": {"node": "output", "port": "in"},
        },
    ]
    committed = tools.commit(execution_id, change(replaced), TOKEN)
    assert committed["delta"]["added_nodes"] == ["output"]
    assert committed["delta"]["removed_nodes"] == ["output"]
    tools.inject(execution_id, "input", "in", 4, TOKEN)
    eventually(lambda: logged_by(caplog, "output") == ["> 8"])


def test_an_ended_execution_takes_no_change(tools: ArachneTools, execution_id: str) -> None:
    tools.service.execution(execution_id).stop(timeout=BOUND)
    with pytest.raises(ToolError, match=f"execution {execution_id} has ended"):
        tools.plan(execution_id, change(TAP), TOKEN)


class Refuses(Node):
    """Cannot start: a commit that adds it is rolled back."""

    inp = Input(int, name="in")

    def on_start(self) -> None:
        raise OSError("no room on the device")


def test_a_commit_whose_node_fails_to_start_is_rolled_back_naming_it() -> None:
    registry = Registry.default()
    registry.register_node(Refuses, id="test.refuses")
    service = RuntimeService(ServerSettings(), registry)
    try:
        (ex,) = start_documents(service, [QUICK_REFERENCE])
        eventually(lambda: ex.state.value == "running")
        for tools in tools_over(service):
            before = tools.topology(ex.id)["digest"]
            adds = [
                {"op": "add_node", "id": "archive", "component": "test.refuses"},
                {"op": "retune", "edge": "e1", "capacity": 8},
            ]
            with pytest.raises(ToolError, match="node 'archive' failed: on_start raised OSError"):
                tools.commit(ex.id, change(adds), TOKEN)
            assert tools.topology(ex.id)["digest"] == before
            assert ex.graph == ex.running_graph()
            assert "archive" not in ex.graph.nodes
            assert ex.graph.links["e1"].capacity == 1024
            assert ex.commit_mode == "auto"
            assert state_of(tools, ex.id) == "running"
    finally:
        service.close()


# -- through the mcp package's client ---------------------------------------------------------


async def test_the_server_lists_every_tool_and_answers_errors_as_tool_errors(
    tools: ArachneTools, execution_id: str
) -> None:
    with anyio.fail_after(BOUND):
        async with Client(mcp_server(tools)) as client:
            listed = await client.list_tools()
            assert [tool.name for tool in listed.tools] == NAMES
            for tool in listed.tools:
                assert tool.description, tool.name
            flow = await client.call_tool("flow", {"execution_id": execution_id})
            assert not flow.is_error
            assert flow.structured_content is not None
            assert flow.structured_content["executionId"] == execution_id

            refused = await client.call_tool("pause", {"execution_id": execution_id})
            assert refused.is_error
            assert "token" in refused.content[0].text  # type: ignore[union-attr]
            typo = await client.call_tool(
                "plan",
                {"execution_id": execution_id, "token": TOKEN, "change": [{"op": "add_nod"}]},
            )
            assert typo.is_error
            assert "change.0" in typo.content[0].text  # type: ignore[union-attr]


async def test_arachne_mcp_over_stdio_lists_reads_and_pauses() -> None:
    server = StdioServerParameters(
        command=ARACHNE,
        args=["mcp", str(QUICK_REFERENCE), "--log-level", "WARNING"],
        env={DEFAULT_TOKEN_ENV: TOKEN},
    )
    with anyio.fail_after(BOUND):
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.list_tools()
            assert [tool.name for tool in listed.tools] == NAMES

            executions = await call(session, "list_executions", {})
            (execution,) = executions["executions"]
            execution_id = execution["id"]
            topology = await call(session, "topology", {"execution_id": execution_id})
            flow = await call(session, "flow", {"execution_id": execution_id})
            assert flow["executionId"] == execution_id
            assert flow["digest"] == topology["digest"]
            assert len(flow["digest"]) == 64
            assert [edge["id"] for edge in flow["edges"]] == ["e1", "e2"]

            wrong = await session.call_tool("pause", {"execution_id": execution_id, "token": "x"})
            assert wrong.is_error
            assert wrong.content[0].text.endswith("the operator token is not valid")  # type: ignore[union-attr]
            missing = await session.call_tool("pause", {"execution_id": execution_id})
            assert missing.is_error
            assert "token" in missing.content[0].text  # type: ignore[union-attr]
            unknown = await session.call_tool("pause", {"execution_id": "nope", "token": TOKEN})
            assert unknown.is_error
            assert execution_id in unknown.content[0].text  # type: ignore[union-attr]

            paused = await call(session, "pause", {"execution_id": execution_id, "token": TOKEN})
            assert paused["state"] == "paused"
            (execution,) = (await call(session, "list_executions", {}))["executions"]
            assert execution["state"] == "paused"


async def call(session: ClientSession, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await session.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


# -- the command ------------------------------------------------------------------------------


def test_the_command_refuses_a_short_token_and_a_bad_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.setenv("SHORT_TOKEN", "short")
    short = runner.invoke(app, ["mcp", "--token-env", "SHORT_TOKEN"])
    assert short.exit_code == 2
    assert "SHORT_TOKEN holds 5 characters" in short.output
    missing = runner.invoke(app, ["mcp", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2
    assert "nope.json" in missing.output
    unknown = tmp_path / "unknown.json"
    unknown.write_text(
        '{"arachne": "1.0", "name": "u", "nodes": [{"id": "a", "component": "no.such"}], '
        '"edges": []}'
    )
    refused = runner.invoke(app, ["mcp", str(unknown)])
    assert refused.exit_code == 2
    assert "unknown.json" in refused.output
    assert "no.such" in refused.output


def test_the_command_says_how_to_install_the_mcp_package(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "arachne.server.mcp" or n.split(".")[0] == "mcp"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mcp", None)
    result = CliRunner().invoke(app, ["mcp"])
    assert result.exit_code == 2
    assert "pip install 'arachne-runtime[mcp]'" in result.output
