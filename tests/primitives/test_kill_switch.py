"""KillSwitch in real executions: its commands, its refusals, its health, documents."""

from __future__ import annotations

import logging

import pytest

from arachne import GraphError, IterSource, Runtime, SpecError, Subgraph
from arachne.observability.query import QueryPlane
from arachne.primitives import KillGate, KillSwitch
from arachne.runtime import FakeClock
from arachne.spec import build, loads_document
from tests.runtime.nodes import Collect


def switched(values: list[object]) -> tuple[Subgraph, Collect]:
    g = Subgraph()
    g.add_node(IterSource(values, name="src"))
    switch = KillSwitch.install(g, "switch")
    sink = Collect("sink")
    g.add_node(sink)
    g.connect(("src", "out"), switch["in"])
    g.connect(switch["out"], ("sink", "in"))
    return g, sink


def test_a_data_link_into_the_control_port_is_refused_naming_the_fix() -> None:
    g, _ = switched([1])
    g.add_node(IterSource(["shutdown"], name="operator"))
    g.connect(("operator", "out"), ("switch", "control"))
    with pytest.raises(GraphError) as refused:
        Runtime().open_execution(g)
    assert "KillSwitch 'switch': link 'operator.out->switch.control'" in str(refused.value)
    assert "connect it with control=True" in str(refused.value)


def test_a_value_that_is_no_command_is_logged_counted_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    g, sink = switched([1, 2, 3])
    runtime = Runtime(clock=FakeClock())
    runtime.register(g)
    runtime.execution.pause()  # (before it starts: it starts paused)
    execution = runtime.start()
    execution.inject(*KillSwitch.install(Subgraph(), "switch").inner("control"), "stop please")
    with caplog.at_level(logging.ERROR):
        execution.resume()
        runtime.wait()
    assert sink.payloads == [1, 2, 3]
    assert "kill switch 'switch' ignored 'stop please' on its control port" in caplog.text
    with QueryPlane(execution) as plane:
        health = plane.primitives().of("switch").health
    assert health == {"state": "healthy", "passed": 3, "ignored": 1}


def test_a_shut_switch_reports_it_and_stays_shut_when_restored() -> None:
    g, sink = switched(list(range(10)))
    gate = g.instances()["switch/gate"]
    assert isinstance(gate, KillGate)
    gate.restore({"state": "shut", "passed": 4})  # (as a checkpoint of a shut switch)
    runtime = Runtime(clock=FakeClock())
    runtime.register(g)
    runtime.run()
    assert sink.payloads == []  # (nothing passes a switch shut before the resume)
    assert runtime.execution.state.value == "completed"
    with QueryPlane(runtime.execution) as plane:
        assert plane.primitives().of("switch").health["state"] == "shut"


DOCUMENT = """
arachne: "1.0"
name: switched
nodes:
  - {id: prices, component: arachne.core.passthrough}
  - {id: operator, component: arachne.core.passthrough}
  - {id: switch, component: arachne.core.kill_switch}
  - {id: orders, component: arachne.core.logger}
edges:
  - {source: "prices:out", target: "switch:in"}
  - {source: "operator:out", target: "switch:control", control: CONTROL}
  - {source: "switch:out", target: "orders:in"}
"""


def test_a_document_uses_it_and_its_control_link_must_be_on_the_control_plane() -> None:
    with pytest.raises(SpecError, match="into its 'control' port is a data link"):
        build(loads_document(DOCUMENT.replace("CONTROL", "false"), format="yaml"))
    graph = build(loads_document(DOCUMENT.replace("CONTROL", "true"), format="yaml"))
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    runtime.execution.pause()  # (before it starts: it starts paused)
    execution = runtime.start()
    for value in range(5):
        execution.inject("prices", "in", value)
    execution.resume()
    execution.inject("operator", "in", "shutdown")
    runtime.wait()
    assert execution.state.value == "completed"
    gate = execution.instances["switch/gate"]
    assert isinstance(gate, KillGate)
    assert gate.state == "shut"
