"""Resuming a run with a changed graph: saved state follows each node by the manifest diff."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from arachne import Input, IterSource, Node, Output, Runtime, Subgraph
from arachne.cli.main import app
from arachne.components import Registry
from arachne.durable import SqliteStore
from arachne.durable.event_log import EventLog
from arachne.durable.runs import Run
from arachne.model.manifest import Manifest, manifest_of
from arachne.runtime.checkpointing import checksum_or_none
from arachne.spec import build, read_document


class Total(Node):
    """A running total kept in ``context.state``: stateful by declaration."""

    stateful = True
    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Any) -> None:
        state = self.context.state
        state["total"] = state.get("total", 0) + msg.payload
        self.emit("out", state["total"])


class Double(Node):
    """A stateless node: nothing of it is saved."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Any) -> None:
        self.emit("out", msg.payload * 2)


class Halves(Node):
    """Another component keeping state (a change of component its state cannot survive)."""

    stateful = True
    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Any) -> None:
        self.emit("out", msg.payload // 2)


def sums(total: str = "count", *, renamed: str | tuple[str, ...] = (), unit: Node | None = None,
         double: bool = True) -> Subgraph:  # fmt: skip
    g = Subgraph("sums")
    g.add_node(IterSource(range(5), name="numbers"))
    g.add_node(unit or Total(), name=total, renamed_from=renamed)
    g.connect(("numbers", "out"), (total, "in"))
    if double:
        g.add_node(Double(name="double"))
        g.connect((total, "out"), ("double", "in"))
    return g


def checkpoint_v1(
    store: SqliteStore,
    graph: Subgraph | None = None,
    parts: dict[str, dict[str, str]] | None = None,
) -> None:
    """Open run ``sums`` with ``graph`` (v1) and commit one checkpoint of ``parts``.

    By default: the source at its start, and a total of 100.
    """
    runtime = Runtime(store=store, run_name="sums")
    runtime.register(graph or sums())
    checkpointer = runtime.execution.checkpointer
    assert checkpointer is not None
    target: Any = checkpointer.target
    target.write(
        parts
        or {
            "position": {"sums/numbers": json.dumps({"index": 0})},
            "state": {"sums/count": json.dumps({"total": 100})},
        }
    )
    target.release()


def resume(store: SqliteStore, graph: Subgraph, **options: Any) -> Runtime:
    runtime = Runtime(store=store, run_name="sums", **options)
    runtime.register(graph)
    runtime.run()
    return runtime


def test_a_declared_rename_carries_the_saved_state_to_the_renamed_node(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "run.db") as store:
        checkpoint_v1(store)
        runtime = resume(store, sums("total", renamed="count"), upgrade_runs=True)
        assert runtime.execution.state.value == "completed"
        assert runtime.execution.instances["sums/total"].context.state == {"total": 110}
        checkpointer = runtime.execution.checkpointer
        assert checkpointer is not None
        carried = checkpointer.target.carried  # type: ignore[attr-defined]
        assert [str(change) for change in carried.changes] == [
            "node sums/count renamed to sums/total"
        ]
        assert carried.renames == {"sums/count": "sums/total"}


def test_a_changed_graph_is_refused_without_upgrade_naming_the_way(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "run.db") as store:
        checkpoint_v1(store)
        with pytest.raises(ValueError, match=r"another graph .*arachne run --upgrade"):
            resume(store, sums("total", renamed="count"))


def test_saved_state_with_no_node_to_go_to_is_refused_before_the_start(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "run.db") as store:
        checkpoint_v1(store)
        runtime = Runtime(store=store, run_name="sums", upgrade_runs=True)
        runtime.register(sums("total"))  # renamed, but not declared so
        with pytest.raises(ValueError, match=r"'sums/count': its saved state has no node"):
            runtime.run()
        assert runtime.executions == {}  # nothing was started
        again = resume(store, sums("total", renamed="count"), upgrade_runs=True)  # still there
        assert again.execution.instances["sums/total"].context.state == {"total": 110}


def test_a_removed_node_that_saved_nothing_does_not_hold_the_upgrade_back(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "run.db") as store:
        checkpoint_v1(store)
        runtime = resume(store, sums(double=False), upgrade_runs=True)
        assert runtime.execution.instances["sums/count"].context.state == {"total": 110}
        checkpointer = runtime.execution.checkpointer
        assert checkpointer is not None
        removed = [str(c) for c in checkpointer.target.carried.changes]  # type: ignore[attr-defined]
        assert "node sums/double removed" in removed


def test_a_new_component_under_a_stateful_id_is_refused(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "run.db") as store:
        checkpoint_v1(store)
        with pytest.raises(ValueError, match=r"'sums/count': state saved by .*Total cannot be"):
            resume(store, sums(unit=Halves()), upgrade_runs=True)


def test_the_run_remembers_the_new_graph_only_once_a_checkpoint_of_it_commits(
    tmp_path: Path,
) -> None:
    with SqliteStore(tmp_path / "run.db") as store:
        checkpoint_v1(store)
        v2 = Subgraph()  # as the runtime holds it: the named graph under its name
        v2.add_node(sums("total", renamed="count"))
        graph, instances = v2.to_graph(), v2.instances()
        checksum, manifest = checksum_or_none(graph), manifest_of(graph, instances=instances)
        first = Run(store, "sums", checksum=checksum, manifest=manifest, upgrade=True)
        assert first.latest() is not None
        assert first.latest()[1]["state"] == {"sums/total": {"total": 100}}  # type: ignore[index]
        first.release()  # (a crash before its first checkpoint)
        second = Run(store, "sums", checksum=checksum, manifest=manifest, upgrade=True)
        assert second.renames == {"sums/count": "sums/total"}  # the same check and answer
        second.write({"state": {"sums/total": json.dumps({"total": 104})}})
        second.release()
        third = Run(store, "sums", checksum=checksum, manifest=manifest)  # no upgrade needed
        assert third.resumed
        assert third.renames == {}
        assert third.latest() == (2, {"state": {"sums/total": {"total": 104}}})
        third.release()
        with store.transaction() as db:
            saved = db.execute("SELECT manifest FROM runs WHERE name = 'sums'").fetchone()[0]
        assert Manifest.from_dict(json.loads(saved)) == manifest


def test_a_store_written_before_manifests_is_migrated_and_says_why_it_cannot_upgrade(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.db"
    with SqliteStore(path) as store:
        checkpoint_v1(store)
    with sqlite3.connect(path) as db:  # as schema 1 left it: no manifest column
        db.execute("ALTER TABLE runs DROP COLUMN manifest")
        db.execute("PRAGMA user_version=1")
    with SqliteStore(path) as store:
        with pytest.raises(ValueError, match="saved without its graph's manifest"):
            resume(store, sums("total", renamed="count"), upgrade_runs=True)
        runtime = resume(store, sums())  # its own graph still resumes
        assert runtime.execution.instances["sums/count"].context.state == {"total": 110}


DOC_V1: dict[str, Any] = {
    "arachne": "1.0",
    "name": "tally",
    "nodes": [
        {"id": "count", "component": "arachne.core.accumulator", "config": {"count": 3}},
        {"id": "out", "component": "arachne.core.passthrough"},
    ],
    "edges": [
        {"source": {"node": "count", "port": "out"}, "target": {"node": "out", "port": "in"}}
    ],
    "inputs": [{"name": "in", "node": "count", "port": "in"}],
    "outputs": [{"name": "out", "node": "out", "port": "out"}],
}


def test_arachne_run_upgrade_carries_an_accumulators_batch_over_a_rename(tmp_path: Path) -> None:
    v1, v2, db = tmp_path / "v1.yaml", tmp_path / "v2.yaml", tmp_path / "run.db"
    v1.write_text(yaml.safe_dump(DOC_V1))
    doc2 = json.loads(json.dumps(DOC_V1))
    doc2["nodes"][0] = {**doc2["nodes"][0], "id": "batch", "renamedFrom": "count"}
    doc2["edges"][0]["source"]["node"] = "batch"
    doc2["inputs"][0]["node"] = "batch"
    v2.write_text(yaml.safe_dump(doc2))
    # Run v1 as far as a checkpoint holding two values of a batch of three.
    sub = build(read_document(v1), Registry.default())
    with SqliteStore(db) as store:
        runtime = Runtime(store=store, run_name="tally")
        runtime.register(sub)
        checkpointer = runtime.execution.checkpointer
        assert checkpointer is not None
        target: Any = checkpointer.target
        target.write({"state": {"count": json.dumps({"batch": [1, 2]})}})
        target.release()
    runner = CliRunner()
    refused = runner.invoke(app, ["run", str(v2), "--store", str(db), "--inject", "batch=3"])
    assert refused.exit_code != 0
    assert "--upgrade" in refused.output
    done = runner.invoke(
        app, ["run", str(v2), "--store", str(db), "--upgrade", "--inject", "batch=3"]
    )
    assert done.exit_code == 0, done.output
    assert "resumes with a changed graph" in done.output
    assert "renamed to" in done.output
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [1, 2, 3]


def test_a_renamed_node_taking_an_id_whose_node_saved_state_is_refused(tmp_path: Path) -> None:
    # v1 has "count" and "double", both saving state; v2 renames count to "double" and drops
    # the old double: its saved state must not pass unnoticed under the reused id.
    with SqliteStore(tmp_path / "run.db") as store:
        checkpoint_v1(
            store, parts={"state": {"sums/count": '{"total": 1}', "sums/double": '{"n": 2}'}}
        )
        with pytest.raises(ValueError, match=r"'sums/double': its saved state has no node"):
            resume(store, sums("double", renamed="count", double=False), upgrade_runs=True)


def test_a_removed_nodes_finished_mark_does_not_pass_to_the_node_taking_its_id(
    tmp_path: Path,
) -> None:
    with SqliteStore(tmp_path / "run.db") as store:
        checkpoint_v1(
            store,
            parts={
                "position": {"sums/numbers": json.dumps({"index": 0})},
                "state": {"sums/count": json.dumps({"total": 100})},
                "finished": {"sums/double": "true"},
            },
        )
        again = resume(store, sums("double", renamed="count", double=False), upgrade_runs=True)
        taken = again.execution.instances["sums/double"]
        assert taken.context.state == {"total": 110}  # it ran: the old double's mark is gone


class Scaled(Total):
    """A total whose config JSON cannot write: its graph has no checksum."""


def test_a_graph_with_no_checksum_is_still_checked_by_its_manifest(tmp_path: Path) -> None:
    def graph(name: str, renamed: str | tuple[str, ...] = ()) -> Subgraph:
        g = Subgraph("sums")
        g.add_node(IterSource(range(5), name="numbers"))
        g.add_node(Scaled(config={"f": print}), name=name, renamed_from=renamed)
        g.connect(("numbers", "out"), (name, "in"))
        return g

    with SqliteStore(tmp_path / "run.db") as store:
        checkpoint_v1(store, graph("count"))
        with pytest.raises(ValueError, match="made from another graph"):
            resume(store, graph("total", renamed="count"))
        with pytest.raises(ValueError, match=r"'sums/count': its saved state has no node"):
            resume(store, graph("total"), upgrade_runs=True)
        runtime = resume(store, graph("total", renamed="count"), upgrade_runs=True)
        assert runtime.execution.instances["sums/total"].context.state == {"total": 110}


def test_a_recorded_edge_named_by_its_ports_follows_a_renamed_node(tmp_path: Path) -> None:
    old_edge, new_edge = "sums/count.out->double.in", "sums/total.out->double.in"
    with SqliteStore(tmp_path / "run.db") as store:
        # v1 was checkpointed after two of its five numbers, its edge's log recorded a third.
        runtime = Runtime(store=store, run_name="sums", record=[old_edge])
        runtime.register(sums())
        assert old_edge in runtime.execution.graph.links
        checkpointer = runtime.execution.checkpointer
        assert checkpointer is not None
        target: Any = checkpointer.target
        target.write(
            {
                "position": {"sums/numbers": json.dumps({"index": 2})},
                "state": {"sums/count": json.dumps({"total": 1})},
                "recorded": {old_edge: "2"},
            }
        )
        target.append_log(
            [("message", old_edge, n, json.dumps(v)) for n, v in ((1, 0), (2, 1), (3, 99))]
        )
        target.release()
        resumed = resume(
            store, sums("total", renamed="count"), upgrade_runs=True, record=[new_edge]
        )
        assert resumed.execution.state.value == "completed"
        carried = resumed.execution.checkpointer.target.carried  # type: ignore[union-attr]
        assert carried.edge_renames == {
            old_edge: new_edge,
            "sums/numbers.out->count.in": "sums/numbers.out->total.in",
        }
        log = EventLog(store, "sums")
        assert log.recorded_edges() == [new_edge]
        assert log.messages(new_edge) == [0, 1, 3, 6, 10]  # the third, past the checkpoint, cut
