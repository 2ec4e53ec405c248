"""LeaderElection: terms and their epochs, the refusals before a run, health, the manifest.

Runs are simulated (``arachne.sim``) where candidates wait on each other: virtual time, one
seed, the same run every time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from arachne import Execution, GraphError, IterSource, Retry, Runtime, Subgraph
from arachne.model.manifest import subgraph_manifest
from arachne.observability.query import QueryPlane
from arachne.primitives import (
    Deposed,
    Elected,
    Fenced,
    FencedWrite,
    LeaderElection,
    Lessor,
    PrimitiveError,
)
from arachne.runtime import FakeClock
from arachne.sim import SimLoop, simulate
from tests.runtime.nodes import Collect


def election(lessor: Lessor, work: Mapping[str, list[Any] | None]) -> Subgraph:
    """Candidates on one key, each fed ``work`` (None: nothing on 'in'), into one resource."""
    g = Subgraph()
    resource = FencedWrite.install(g, "resource")
    for name in ("accepted", "refused", "terms"):
        g.add_node(Collect(name))
    g.connect(resource["out"], ("accepted", "in"))
    g.connect(resource["rejected"], ("refused", "in"))
    for name, values in work.items():
        candidate = LeaderElection.install(
            g, name, lessor=lessor, key="k", candidate=name, margin=0.1
        )
        candidate.unit.instances()["candidate"].error_policy = Retry(backoff=2.0)
        g.connect(candidate["leader"], ("terms", "in"))
        if values is not None:
            g.add_node(IterSource(values, name=f"{name}_src"))
            g.connect((f"{name}_src", "out"), candidate["in"])
            g.connect(candidate["out"], resource["in"])
    return g


def simulated(
    lessor: Lessor, work: Mapping[str, list[Any] | None], **options: Any
) -> dict[str, list[Any]]:
    """Simulate ``election(lessor, work)`` from seed 0; return what each sink took."""
    built: list[Subgraph] = []

    def build() -> Subgraph:
        built.append(election(lessor, work))
        return built[-1]

    result = simulate(build, 0, **options)
    assert result.ok, result.failure
    nodes = built[0].instances()
    return {name: _taken(nodes[name]) for name in ("accepted", "refused", "terms")}


def _taken(node: object) -> list[Any]:
    assert isinstance(node, Collect)
    return node.payloads


def test_a_lone_candidate_leads_stamps_its_writes_and_steps_down_at_the_end() -> None:
    lessor = Lessor(1.0)
    g = election(lessor, {"a": [1, 2, 3]})
    runtime = Runtime(clock=FakeClock())
    runtime.register(g)
    runtime.run()
    nodes = g.instances()
    assert _taken(nodes["terms"]) == [
        Elected("k", "a", 1, 0.0),
        Deposed("k", "a", 1, 0.0, "stepped-down"),
    ]
    assert _taken(nodes["accepted"]) == [Fenced("k", 1, "a", value) for value in (1, 2, 3)]
    assert lessor.holder("k", 0.0) is None  # (released: the next need not wait it out)
    with QueryPlane(runtime.execution) as plane:
        health = plane.primitives().of("a").health
    assert health == {
        "state": "following",
        "candidate": "a",
        "epoch": None,
        "elected": 1,
        "deposed": 1,
        "sent": 3,
        "waits": 0,
    }


def test_the_next_leader_waits_its_turn_and_leads_with_a_higher_epoch() -> None:
    taken = simulated(Lessor(1.0), {"a": [1, 2, 3], "b": [10, 20]})
    terms = taken["terms"]
    elected = [term for term in terms if isinstance(term, Elected)]
    assert [term.epoch for term in elected] == [1, 2]
    first, second = elected
    assert {first.holder, second.holder} == {"a", "b"}
    stepped = next(t for t in terms if isinstance(t, Deposed) and t.holder == first.holder)
    assert (stepped.epoch, stepped.reason) == (1, "stepped-down")
    assert second.at >= stepped.at  # (not before the first let the lease go)
    term = {first.holder: 1, second.holder: 2}
    assert sorted((w.value, w.token) for w in taken["accepted"]) == [
        (1, term["a"]),
        (2, term["a"]),
        (3, term["a"]),
        (10, term["b"]),
        (20, term["b"]),
    ]
    assert taken["refused"] == []


def test_a_crashed_leader_finds_its_lease_ran_out_and_takes_a_new_epoch() -> None:
    """Down 2 s (its retry's back-off) on a 1 s lease: back, it is deposed, then elected anew."""
    taken = simulated(
        Lessor(1.0),
        {"a": [1, 2]},
        crashes={"a/candidate"},
        faults={"node.crash": 1.0},
        max_faults=1,
    )
    assert taken["terms"] == [
        Elected("k", "a", 1, 0.0),
        Deposed("k", "a", 1, 2.0, "expired"),
        Elected("k", "a", 2, 2.0),
        Deposed("k", "a", 2, 2.0, "stepped-down"),
    ]
    assert [write.token for write in taken["accepted"]] == [2, 2]  # (written in its new term)


def test_a_leader_superseded_learns_it_at_its_next_renewal_and_contends_again() -> None:
    """Candidates fed nothing contend until the run stops; one loses its lease to another."""
    lessor = Lessor(1.0)

    def during(execution: Execution, loop: SimLoop, _: object) -> None:
        def intrude() -> None:  # (as if the leader's lease ran out and another took it)
            held = lessor.holder("k", loop.time())
            assert held is not None
            lessor.release(held)
            lessor.acquire("k", "intruder", loop.time())

        loop.call_at(0.5, intrude)
        loop.call_at(4.0, lambda: execution.request_stop(drain=True))

    terms = simulated(lessor, {"a": None, "b": None}, during=during)["terms"]
    first, lost, again, last = terms
    assert isinstance(first, Elected)
    assert (first.epoch, first.at) == (1, 0.0)
    assert isinstance(lost, Deposed)
    assert (lost.holder, lost.epoch, lost.reason) == (first.holder, 1, "superseded")
    assert 0.5 < lost.at <= 0.5 + 0.3  # (at its next heartbeat: (ttl - margin) / 3)
    assert isinstance(again, Elected)
    assert again.epoch == 3  # (the intruder's lease was 2)
    assert 1.5 <= again.at <= 1.5 + 0.3  # (once the intruder's ran out)
    assert isinstance(last, Deposed)
    assert (last.holder, last.epoch, last.at, last.reason) == (
        again.holder,
        3,
        pytest.approx(4.0),
        "stepped-down",
    )
    assert lessor.holder("k", 4.0) is None


def test_an_election_needs_a_fenced_resource_in_the_graph() -> None:
    with pytest.raises(PrimitiveError, match="requires FencedResource, which nothing in the"):
        LeaderElection.install(Subgraph(), "a", lessor=Lessor(1.0), key="k", candidate="a")


def test_a_leader_whose_writes_reach_no_fence_is_refused_before_the_run() -> None:
    g = election(Lessor(1.0), {"b": None})  # (b only takes part: it writes nothing)
    assert [issue for issue in g.validate() if issue.severity == "error"] == []
    g.add_node(IterSource([1], name="src"))
    a = LeaderElection.install(g, "a", lessor=Lessor(1.0), key="k", candidate="a")
    g.connect(("src", "out"), a["in"])
    g.add_node(Collect("elsewhere"))
    g.connect(a["out"], ("elsewhere", "in"))
    with pytest.raises(GraphError) as refused:
        Runtime().open_execution(g)
    assert "LeaderElection 'a': its writes reach no FencedWrite" in str(refused.value)
    assert "connect its 'out' to a FencedWrite's 'in'" in str(refused.value)


def test_work_whose_writes_lead_nowhere_is_refused_too() -> None:
    g = election(Lessor(1.0), {})
    g.add_node(IterSource([1], name="src"))
    a = LeaderElection.install(g, "a", lessor=Lessor(1.0), key="k", candidate="a")
    g.connect(("src", "out"), a["in"])
    with pytest.raises(GraphError, match="LeaderElection 'a': its writes reach no FencedWrite"):
        Runtime().open_execution(g)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lessor": "x"}, "lessor 'x': give a Lessor"),
        ({"candidate": ""}, "candidate '': give a non-empty name"),
        ({"margin": 1.0}, r"margin 1.0: it must be below the lessor's ttl \(1.0\)"),
        ({"margin": -1}, "margin -1: give seconds, 0 or more"),
        ({"heartbeat": 0}, "heartbeat 0: give seconds between renewals, above 0"),
        (
            {"margin": 0.5, "heartbeat": 0.5},
            r"heartbeat 0.5: it must be below the lessor's ttl less the margin \(0.5\), or a "
            "leader's lease runs out between two renewals",
        ),
        ({"pause": float("nan")}, "pause nan: give seconds, 0 or more"),
        ({"clock": 3}, "clock: give a function of the runtime's time, or None"),
    ],
)
def test_bad_options_are_refused_naming_the_fix(options: dict[str, Any], message: str) -> None:
    g = election(Lessor(1.0), {})
    given: dict[str, Any] = {"lessor": Lessor(1.0), "key": "k", "candidate": "a", **options}
    with pytest.raises(PrimitiveError, match=f"LeaderElection: {message}"):
        LeaderElection.install(g, "a", **given)
    assert "a" not in g.instances()


def test_the_manifest_lists_the_candidate_with_its_heartbeat() -> None:
    g = election(Lessor(1.0), {"a": [1]})
    record = subgraph_manifest(g).primitive("a")
    assert (record.contract, record.maturity) == ("LeaderElection", "fault-tested")
    assert record.provides == ("LeaderEpoch",)
    assert record.nodes == ("a/candidate",)
    config = g.to_graph().nodes["a/candidate"].config  # (heartbeat: (ttl - margin) / 3)
    assert config == {"key": "k", "candidate": "a", "margin": 0.1, "heartbeat": pytest.approx(0.3)}
