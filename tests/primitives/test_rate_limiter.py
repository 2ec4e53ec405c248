"""RateLimiter in real executions: its schedule, its modes, its refusals, its health and docs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arachne import CommitFailed, GraphError, IterSource, Message, Runtime, SpecError, Subgraph
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
    assert "connect its 'rejected' port to a sink or dead-letter node (or expose it)" in message
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
    gone = tmp_path / "gone-primitive.md"  # (a page left from a primitive there is no more)
    gone.write_text("# Gone\n\n<!-- generated by `arachne primitives --docs`: ... -->\n")
    mine = tmp_path / "notes.md"  # (a page of the user's own: never touched)
    mine.write_text("# My notes\n")
    left = runner.invoke(app, ["primitives", "--check", str(tmp_path)])
    assert left.exit_code == 1
    assert "gone-primitive.md" in left.output
    assert "notes.md" not in left.output
    assert runner.invoke(app, ["primitives", "--docs", str(tmp_path)]).exit_code == 0
    assert not gone.exists()
    assert mine.exists()


class LateClock:
    """A binding's clock whose waits wake ``late`` seconds past what was asked (a busy loop)."""

    def __init__(self, start: float, late: float) -> None:
        self.t, self.late = start, late

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds + self.late


def test_late_wake_ups_do_not_slow_a_shaping_limiter_down() -> None:
    """Each slot counts from the one before, not from when the wait ended."""
    gate = RateGate(rate=100.0, burst=1, police=False)
    clock = LateClock(start=589.5935183553053, late=0.004)
    gate._arachne_binding = clock  # type: ignore[assignment]
    gate.emit = lambda port, value: None  # type: ignore[method-assign,assignment]
    for value in range(50):
        asyncio.run(gate.on_message("in", Message(value)))
    assert gate.tat == pytest.approx(589.5935183553053 + 50 * 0.01)  # (not 50 * 0.014)
    assert gate.passed == 50


@pytest.mark.parametrize("start", [0.0, 589.5935183553053, 1e6 + 0.1])
def test_a_quiet_limiter_passes_its_whole_burst_at_any_clock_reading(start: float) -> None:
    """Rounding never refuses an item the burst allows, wherever the clock stands."""
    gate = RateGate(rate=3.0, burst=4, police=True)
    clock = LateClock(start=start, late=0.0)
    gate._arachne_binding = clock  # type: ignore[assignment]
    sent: list[tuple[str, object]] = []
    gate.emit = lambda port, value: sent.append((port, value))  # type: ignore[method-assign,assignment]
    for value in range(5):
        asyncio.run(gate.on_message("in", Message(value)))
    assert [port for port, _ in sent] == ["out"] * 4 + ["rejected"]
    for value in range(5, 20):  # (then spaced exactly at the rate: never refused)
        clock.t += 1 / 3
        asyncio.run(gate.on_message("in", Message(value)))
    assert [port for port, _ in sent[5:]] == ["out"] * 15


def test_options_are_in_the_gate_s_spec_so_a_changed_rate_is_a_changed_graph() -> None:
    slow, _, _ = limited([1], rate=1.0)
    fast, _, _ = limited([1], rate=1000.0)
    same, _, _ = limited([1], rate=1)  # (an int: the same rate as 1.0)
    assert slow.to_graph().checksum() != fast.to_graph().checksum()
    assert slow.to_graph().checksum() == same.to_graph().checksum()
    assert dict(slow.to_graph().nodes["limit/gate"].config) == {
        "rate": 1.0,
        "burst": 1,
        "mode": "shape",
    }


def test_a_running_limiter_takes_a_new_rate_and_refuses_a_bad_one() -> None:
    graph, _, _ = limited(list(range(4)), rate=1.0)
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    runtime.execution.pause()  # (before it starts: it starts paused)
    execution = runtime.start()
    try:
        with pytest.raises(CommitFailed, match="rate -1.0: give items per second"):
            execution.update_config("limit/gate", {"rate": -1.0, "burst": 1, "mode": "shape"})
        execution.update_config("limit/gate", {"rate": 1000.0, "burst": 4, "mode": "shape"})
    finally:
        execution.resume()
        runtime.wait()
    gate = runtime.execution.instances["limit/gate"]
    assert isinstance(gate, RateGate)
    assert (gate.interval, gate.tolerance) == (0.001, pytest.approx(0.003))


def test_a_limiter_added_while_running_is_in_the_manifest_and_the_query_plane() -> None:
    first = Subgraph()
    first.add_node(IterSource(range(3), name="src"))
    first.add_node(Stamp(), name="out")
    first.connect(("src", "out"), ("out", "in"))
    runtime = Runtime(clock=FakeClock())
    runtime.register(first)
    execution = runtime.open_execution(first, execution_id="live")
    second, _, _ = limited(list(range(3)), rate=2.0)
    fresh = second.instances()
    instances = {
        "src": execution.instances["src"],
        "out": execution.instances["out"],  # (kept: the same instances under the same ids)
        "limit/gate": fresh["limit/gate"],
        "rejected": fresh["rejected"],
    }
    flat = second.to_graph()
    execution.update_graph(flat, instances)
    with QueryPlane(execution) as plane:
        assert [p.id for p in plane.primitives().primitives] == ["limit"]
        assert plane.topology().manifest.primitive("limit").contract == "RateLimiter"
