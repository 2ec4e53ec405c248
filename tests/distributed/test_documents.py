"""Documents across hosts: output taps on unconnected outputs, nodes spread in topology order."""

from __future__ import annotations

from pathlib import Path

import pytest

from arachne.distributed.documents import OutputTap, document_unit, spread
from arachne.distributed.placement import plan

ROOT = Path(__file__).resolve().parents[2]
NOTIONAL = ROOT / "examples" / "documents" / "notional.yaml"
LARGE_ORDERS = ROOT / "examples" / "documents" / "large_orders.yaml"


def test_taps_go_on_every_unconnected_output_of_the_output_nodes() -> None:
    unit = document_unit(LARGE_ORDERS, taps=True)
    taps = {n.endpoint for n in unit.instances().values() if isinstance(n, OutputTap)}
    assert taps == {("log", "out"), ("small", "out")}
    bare = document_unit(LARGE_ORDERS, taps=False)
    assert not any(isinstance(n, OutputTap) for n in bare.instances().values())


@pytest.mark.parametrize("hosts", [1, 2, 3, 4, 9])
def test_spread_cuts_the_topology_into_runs_and_taps_follow_their_node(hosts: int) -> None:
    unit = document_unit(NOTIONAL, taps=True)
    placement = spread(unit, hosts)
    assert list(placement.partitions) == [f"h{i}" for i in range(hosts)]
    placed = [n for ids in placement.partitions.values() for n in ids]
    graph = unit.to_graph()
    assert sorted(placed) == sorted(graph.nodes)  # every node once
    where = {n: part for part, ids in placement.partitions.items() for n in ids}
    order = ["trades", "price", "large", "report"]
    parts = [int(where[n][1:]) for n in order]
    assert parts == sorted(parts)  # runs of the topology: links only go forward
    assert where["output-tap-1"] == where["report"]
    crossings = plan(graph, placement).crossings
    assert len(crossings) == len({where[n] for n in order}) - 1


def test_spread_refuses_a_bad_count() -> None:
    unit = document_unit(NOTIONAL)
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="hosts must be"):
            spread(unit, bad)  # type: ignore[arg-type]
