"""RateLimiter in real executions: its schedule, its modes, its refusals, its health and docs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from arachne import GraphError, IterSource, Runtime, SpecError, Subgraph
from arachne.cli.main import app
from arachne.cli.primitives import pages
from arachne.observability.query import QueryPlane
from arachne.primitives import PrimitiveError, RateGate, RateLimiter, contracts
from arachne.runtime import FakeClock
from arachne.spec import build, loads_document
from tests.primitives.test_rate_limiter_sim import Stamp

DOCS = Path(__file__).parents[2] / "docs" / "primitives"


def limited(values: list[int], **options: object) -> tuple[Subgraph, Stamp, Stamp]:
    g = Subgraph()
    g.add_node(IterSource(values, name="src"))
    limiter = RateLimiter.install(g, "limit", **options)
    out, rejected = Stamp(), Stamp()
    g.add_node(out, name="out")
    g.add_node(rejected, name="rejected")
    g.connect(("src", "out"), limiter["in"], capacity=2)
    g.connect(limiter["out"], ("out", "in"))
    g.connect(limiter["rejected"], ("rejected", "in"))
    return g, out, rejected


def test_shaping_passes_a_burst_then_one_item_per_interval_on_the_runtime_clock() -> None:
    graph, out, rejected = limited(list(range(6)), rate=4.0, burst=3)
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    runtime.run()
    assert out.seen == [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.25), (4, 0.5), (5, 0.75)]
    assert rejected.seen == []


def test_policing_sends_what_is_over_the_rate_out_of_rejected() -> None:
    graph, out, rejected = limited(list(range(6)), rate=4.0, burst=3, mode="police")
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    runtime.run()
    assert [value for value, _ in out.seen] == [0, 1, 2]  # (all came at once: the burst)
    assert [value for value, _ in rejected.seen] == [3, 4, 5]


def test_a_policing_limiter_whose_rejected_port_leads_nowhere_is_refused() -> None:
    g = Subgraph()
    g.add_node(IterSource([1], name="src"))
    limiter = RateLimiter.install(g, "limit", rate=1.0, mode="police")
    g.add_node(Stamp(), name="out")
    g.connect(("src", "out"), limiter["in"])
    g.connect(limiter["out"], ("out", "in"))
    with pytest.raises(GraphError) as refused:
        Runtime().open_execution(g)
    message = str(refused.value)
    assert "RateLimiter 'limit' polices" in message
    assert "connect ('limit', 'rejected') to a sink" in message
    assert "or use mode='shape'" in message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "RateLimiter needs rate: rate: items per second"),
        ({"rate": 0}, "rate 0: give items per second, a number above 0"),
        ({"rate": float("inf")}, "rate inf: give items per second"),
        ({"rate": True}, "rate True: give items per second"),
        ({"rate": 1, "burst": 0}, "burst 0: give how many items may pass at once"),
        ({"rate": 1, "mode": "drop"}, "mode 'drop': 'shape' delays items over the rate"),
        ({"rate": 1, "speed": 2}, "RateLimiter has no option 'speed'"),
    ],
)
def test_bad_options_are_refused_naming_the_fix(options: dict[str, object], message: str) -> None:
    with pytest.raises(PrimitiveError, match=message.replace("(", r"\(")):
        RateLimiter.install(Subgraph(), "limit", **options)


def test_a_checkpoint_keeps_the_debt_so_a_resumed_gate_grants_no_new_burst() -> None:
    gate = RateGate(rate=2.0, burst=1, police=False)
    gate.tat = 10.0  # (due at 10 s; a snapshot taken at 9 s owes 1 s)
    gate.restore({"debt": 1.0})
    assert gate.snapshot() == {"debt": 1.0}  # (not yet applied: kept as it was)
    graph, out, _ = limited([1, 2], rate=2.0, burst=1)
    instance = graph.instances()["limit/gate"]
    assert isinstance(instance, RateGate)
    instance.restore({"debt": 1.0})
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    runtime.run()
    assert out.seen == [(1, 1.0), (2, 1.5)]  # (the first waits out the debt: no burst)


def test_the_query_plane_reports_the_limiter_and_its_health() -> None:
    graph, _, _ = limited(list(range(5)), rate=4.0, burst=2)
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    runtime.run()
    with QueryPlane(runtime.execution) as plane:
        snapshot = plane.primitives()
        topology = plane.topology()
    limit = snapshot.of("limit")
    assert (limit.contract, limit.version, limit.maturity) == ("RateLimiter", 1, "fault-tested")
    assert limit.health == {"state": "healthy", "passed": 5, "delayed": 3, "rejected": 0}
    assert snapshot.to_dict()["primitives"][0]["health"]["passed"] == 5
    assert topology.manifest.primitive("limit").nodes == ("limit/gate",)


def test_a_document_uses_it_by_its_component_and_the_contract_checks_the_options() -> None:
    text = """
arachne: "1.0"
name: limited
nodes:
  - {id: src, component: arachne.core.passthrough}
  - {id: limit, component: arachne.core.rate_limiter, config: {rate: 5, mode: police}}
  - {id: log, component: arachne.core.logger}
edges:
  - {source: "src:out", target: "limit:in"}
  - {source: "limit:out", target: "log:in"}
"""
    with pytest.raises(SpecError, match="RateLimiter 'limit' polices"):
        build(loads_document(text, format="yaml"))
    fixed = text + '  - {source: "limit:rejected", target: "log:in"}\n'
    assert "limit/gate" in build(loads_document(fixed, format="yaml")).instances()


def test_the_docs_pages_match_the_contracts() -> None:
    shipped = [c for c in contracts() if c.installer.__module__.startswith("arachne.")]
    assert "RateLimiter" in [c.name for c in shipped]
    for name, text in pages(shipped).items():
        page = DOCS / name
        assert page.is_file(), f"{page} is missing: run `arachne primitives --docs docs/primitives`"
        assert page.read_text(encoding="utf-8") == text, (
            f"{page} is stale: run `arachne primitives --docs docs/primitives` and commit it"
        )


def test_the_command_lists_shows_and_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["primitives"])
    assert listed.exit_code == 0
    row = next(line for line in listed.output.splitlines() if line.startswith("RateLimiter "))
    assert row.split()[:4] == ["RateLimiter", "1", "policy", "fault-tested"]
    shown = runner.invoke(app, ["primitives", "RateLimiter"])
    assert shown.output.startswith("# RateLimiter")
    unknown = runner.invoke(app, ["primitives", "Nope"])
    assert unknown.exit_code != 0
    assert "no primitive 'Nope'; the primitives: " in unknown.output
    stale = runner.invoke(app, ["primitives", "--check", str(tmp_path)])  # (an empty folder)
    assert stale.exit_code == 1
    assert "rate-limiter.md" in stale.output
    assert runner.invoke(app, ["primitives", "--docs", str(tmp_path)]).exit_code == 0
    assert runner.invoke(app, ["primitives", "--check", str(tmp_path)]).exit_code == 0
