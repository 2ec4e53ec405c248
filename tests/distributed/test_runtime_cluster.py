"""`Runtime(cluster=Cluster(...))`: a runtime's registered graph run split into partitions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from arachne import IterSource, Runtime, Subgraph
from arachne.distributed import Cluster, ClusterError, MemoryCluster
from arachne.distributed.documents import OutputTap, document_unit, spread
from arachne.distributed.runtime_cluster import graph_difference
from arachne.model.errors import ExecutionError, NodeFailed
from tests.distributed.pipelines import (
    KEYS,
    JsonLines,
    Keep,
    KeyedSum,
    failing_sink,
    keyed,
    paced,
)

PLACED = {"a": ["source"], "b": ["sum", "sink"]}
NOTIONAL = Path(__file__).resolve().parents[2] / "examples" / "documents" / "notional.yaml"


def kept(count: int) -> Subgraph:
    """source -> keyed sum -> a sink that keeps what it got, in memory."""
    g = Subgraph("kept")
    g.add_node(IterSource([[KEYS[i % 5], i % 97] for i in range(count)]), name="source")
    g.add_node(KeyedSum(), name="sum")
    g.add_node(Keep(), name="sink")
    g.connect(("source", "out"), ("sum", "in"), capacity=64)
    g.connect(("sum", "out"), ("sink", "in"), capacity=64)
    return g


def single(count: int) -> list[object]:
    g = kept(count)
    rt = Runtime()
    rt.register(g)
    rt.run()
    sink = g.instances()["sink"]
    assert isinstance(sink, Keep)
    return sink.got


def test_in_memory_the_registered_instances_run_and_keep_their_output() -> None:
    """The default place: this process, the nodes registered; the sink has every total."""
    g = kept(2_000)
    rt = Runtime(cluster=Cluster(PLACED))
    rt.register(g)
    rt.run()
    sink = g.instances()["sink"]
    assert isinstance(sink, Keep)
    assert sink.got == single(2_000)
    assert sorted(rt.reports) == ["a", "b"]
    (sent,) = [row for row in rt.reports["a"]["links"] if row["role"] == "send"]
    assert sent["closed"]
    assert sent["sent"] > 0
    assert rt.reports["b"]["nodes"]["sum"] == 2_000
    assert isinstance(rt.cluster.last, MemoryCluster)  # type: ignore[union-attr]


def test_run_async_runs_the_cluster_beside_the_loop() -> None:
    g = kept(500)
    rt = Runtime(cluster=Cluster(PLACED))
    rt.register(g)
    asyncio.run(rt.run_async())
    sink = g.instances()["sink"]
    assert isinstance(sink, Keep)
    assert sink.got == single(500)


def test_in_memory_with_a_store_checkpoints_every_partition(tmp_path: Path) -> None:
    g = kept(300)
    rt = Runtime(cluster=Cluster(PLACED, store=tmp_path / "runs", checkpoint_every=0.01))
    rt.register(g)
    rt.run()
    assert (tmp_path / "runs" / "partitions.db").is_file()
    links = rt.reports["a"]["links"] + rt.reports["b"]["links"]
    assert links
    assert all("not-durable" not in row["taints"] for row in links)  # (checkpointed links)
    sink = g.instances()["sink"]
    assert isinstance(sink, Keep)
    assert sink.got == single(300)


def test_worker_processes_build_the_graph_from_its_source(tmp_path: Path) -> None:
    """on='processes': workers build it from the builder; the file equals one process's."""
    reference, out = tmp_path / "one.jsonl", tmp_path / "split.jsonl"
    rt = Runtime()
    rt.register(keyed(3_000, str(reference)))
    rt.run()
    source = {
        "builder": "tests.distributed.pipelines:keyed",
        "kwargs": {"count": 3_000, "path": str(out)},
    }
    rt = Runtime(cluster=Cluster(PLACED, on="processes", source=source))
    rt.register(keyed(3_000, str(out)))
    rt.run()
    assert out.read_text() == reference.read_text()
    assert sorted(rt.reports) == ["a", "b"]


def test_a_source_building_another_graph_is_refused_before_any_worker(tmp_path: Path) -> None:
    source = {
        "builder": "tests.distributed.pipelines:paced",
        "kwargs": {"count": 10, "pause": 0.0, "path": str(tmp_path / "o.jsonl")},
    }
    rt = Runtime(
        cluster=Cluster({"a": ["source"], "b": ["paced", "sink"]}, on="processes", source=source)
    )
    rt.register(keyed(10, str(tmp_path / "o.jsonl")))
    with pytest.raises(ValueError, match="builds another graph than the one registered"):
        rt.run()
    assert rt.reports == {}


def test_what_a_cluster_cannot_take_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="worker processes build the graph themselves"):
        Cluster(PLACED, on="processes")
    with pytest.raises(ValueError, match="nodes= is for Ray"):
        Cluster(PLACED, nodes={"n": ["a", "b"]})
    with pytest.raises(ValueError, match="choose one of 'memory', 'processes', 'ray'"):
        Cluster(PLACED, on="threads")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cluster must run graphs"):
        Runtime(cluster=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="store= shape"):
        Runtime(cluster=Cluster(PLACED), store=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fresh_runs= shape"):
        Runtime(cluster=Cluster(PLACED), fresh_runs=True)
    Runtime(cluster=Cluster(PLACED), record=iter([]))  # (nothing to record: no conflict)
    rt = Runtime(cluster=Cluster(PLACED))
    with pytest.raises(ValueError, match="nothing is registered"):
        rt.run()
    rt.register(kept(10))
    for refused in (rt.start, lambda: rt.execution, lambda: rt.open_execution(kept(1))):
        with pytest.raises(ExecutionError, match="not available on a Runtime"):
            refused()


def test_a_failing_partition_fails_the_run_and_a_timeout_is_named() -> None:
    rt = Runtime(cluster=Cluster({"a": ["source"], "b": ["sink"]}))
    rt.register(failing_sink(100, 50))
    with pytest.raises(NodeFailed, match="the sink failed at item 50"):
        rt.run()
    placed = {"a": ["source"], "b": ["paced", "sink"]}
    slow = Runtime(execution_timeout=0.2, cluster=Cluster(placed))
    slow.register(paced(10_000, 0.01, "/dev/null"))
    with pytest.raises(ClusterError, match="did not finish in 0.2 s"):
        slow.run()


def test_in_memory_the_output_taps_of_a_document_reach_on_output() -> None:
    """A document with taps, split in memory: on_output gets what one process's taps get."""
    alone: list[tuple[str, str, Any]] = []
    unit = document_unit(NOTIONAL, taps=True)
    for node in unit.instances().values():
        if isinstance(node, OutputTap):
            node.sink = lambda n, p, v: alone.append((n, p, v))
    rt = Runtime()
    rt.register(unit)
    rt.run()
    split: list[tuple[str, str, Any]] = []
    unit = document_unit(NOTIONAL, taps=True)
    placement = spread(unit, 2)
    rt = Runtime(cluster=Cluster(placement, on_output=lambda n, p, v: split.append((n, p, v))))
    rt.register(unit)
    rt.run()
    assert len(alone) > 5
    assert split == alone


def test_a_cancelled_run_async_stops_the_partitions() -> None:
    """Cancelled (here by a timeout), the partitions stop: the sink's on_stop has run."""
    g = paced(1_000_000, 0.01, "/dev/null")
    rt = Runtime(cluster=Cluster({"a": ["source"], "b": ["paced", "sink"]}))
    rt.register(g)

    async def cancelled() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(rt.run_async(), 0.2)

    asyncio.run(cancelled())
    sink = g.instances()["sink"]
    assert isinstance(sink, JsonLines)
    assert sink.file.closed


def test_run_inside_a_running_loop_points_to_run_async() -> None:
    rt = Runtime(cluster=Cluster(PLACED))
    rt.register(kept(10))

    async def inside() -> None:
        rt.run()

    with pytest.raises(ExecutionError, match="use run_async"):
        asyncio.run(inside())


def test_a_difference_between_source_and_registered_graph_is_said() -> None:
    said = graph_difference(keyed(1, "x"), paced(1, 0.0, "x"))
    assert "it has node(s) sum the registered graph lacks" in said
    assert "it lacks node(s) paced" in said
    assert "link(s)" in said
    assert graph_difference(keyed(1, "x"), keyed(9, "y")) == ""  # (arguments: not compared)
