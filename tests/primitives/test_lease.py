"""Lease and FencedWrite: the lessor's grants, the refusals before a run, a durable lessor."""

from __future__ import annotations

from pathlib import Path

import pytest

from arachne import GraphError, IterSource, Runtime, Subgraph
from arachne.durable import SqliteStore
from arachne.primitives import FencedWrite, Grant, Lease, Lessor, PrimitiveError
from tests.runtime.nodes import Collect


def test_one_holder_at_a_time_and_tokens_only_grow() -> None:
    lessor = Lessor(1.0)
    first = lessor.acquire("k", "a", now=0.0)
    assert first == Grant("k", "a", 1, 1.0)
    assert lessor.acquire("k", "b", now=0.5) is None  # (a holds it)
    assert lessor.renew(first, now=0.9) == Grant("k", "a", 1, 1.9)  # (the same token)
    second = lessor.acquire("k", "b", now=2.0)  # (a's ran out)
    assert second is not None
    assert second.token == 2
    assert lessor.renew(first, now=2.1) is None  # (superseded: no renewal)
    assert lessor.release(second)
    assert lessor.acquire("other", "a", now=2.2) == Grant("other", "a", 3, 3.2)


def test_a_lessor_on_a_store_never_gives_a_token_twice(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "leases.db") as store:
        lessor = Lessor(1.0, store=store)
        assert [lessor.acquire(key, "a", 0.0).token for key in "xyz"] == [1, 2, 3]  # type: ignore[union-attr]
    with SqliteStore(tmp_path / "leases.db") as store:
        again = Lessor(1.0, store=store)  # (restarted)
        assert again.acquire("x", "b", 0.0) == Grant("x", "b", 4, 1.0)


def test_a_lease_without_a_fenced_resource_is_refused() -> None:
    with pytest.raises(PrimitiveError, match="requires FencedResource, which nothing in the graph"):
        Lease.install(Subgraph(), "guard", lessor=Lessor(1.0), key="k", holder="a")


def test_a_lease_whose_writes_reach_no_fence_is_refused_before_the_run() -> None:
    g = Subgraph()
    resource = FencedWrite.install(g, "resource")
    g.add_node(Collect("accepted"))
    g.add_node(Collect("refused"))
    g.connect(resource["out"], ("accepted", "in"))
    g.connect(resource["rejected"], ("refused", "in"))
    g.add_node(IterSource([1], name="src"))
    guard = Lease.install(g, "guard", lessor=Lessor(1.0), key="k", holder="a")
    g.connect(("src", "out"), guard["in"])
    g.add_node(Collect("elsewhere"))
    g.connect(guard["out"], ("elsewhere", "in"))
    with pytest.raises(GraphError, match="Lease 'guard': its writes reach no FencedWrite"):
        Runtime().open_execution(g)


def test_bad_lease_options_are_refused_naming_the_fix() -> None:
    g = Subgraph()
    FencedWrite.install(g, "resource")
    with pytest.raises(PrimitiveError, match="margin 2.0: it must be below the lessor's ttl"):
        Lease.install(g, "guard", lessor=Lessor(1.0), key="k", holder="a", margin=2.0)
    with pytest.raises(PrimitiveError, match="lessor 'x': give a Lessor"):
        Lease.install(g, "guard", lessor="x", key="k", holder="a")
    with pytest.raises(ValueError, match="ttl 0: give the seconds a lease lasts"):
        Lessor(0)


def test_a_fence_whose_refusals_lead_nowhere_is_refused() -> None:
    g = Subgraph()
    resource = FencedWrite.install(g, "resource")
    g.add_node(Collect("accepted"))
    g.connect(resource["out"], ("accepted", "in"))
    with pytest.raises(GraphError, match="FencedWrite 'resource': refused writes leave by"):
        Runtime().open_execution(g)
