"""The durable queue's node pair: between executions, and exactly once across a kill."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from arachne import IterSource, Runtime, Subgraph
from arachne.components.builtins import QueueReader, QueueWriter
from arachne.durable import DurableQueue, SqliteStore
from tests.runtime.nodes import Collect

BOUND = 60.0  # seconds: a bound on a hang, not a timing claim


def test_one_execution_writes_and_another_reads_everything_in_order(tmp_path: Path) -> None:
    store = str(tmp_path / "q.db")
    writer = Subgraph()
    writer.add_node(IterSource(range(300), name="numbers"))
    writer.add_node(QueueWriter(store=store, queue="jobs", name="put"))
    writer.connect(("numbers", "out"), ("put", "in"))
    first = Runtime()
    first.register(writer)
    first.run()
    reader = Subgraph()
    reader.add_node(QueueReader(store=store, queue="jobs", batch=64, until_empty=True, name="get"))
    reader.add_node(Collect("got"))
    reader.connect(("get", "out"), ("got", "in"))
    second = Runtime()
    second.register(reader)
    second.run()
    assert second.execution.instances["got"].payloads == list(range(300))
    with SqliteStore(store) as opened:
        stats = DurableQueue(opened, "jobs", capacity=10).stats()
    assert (stats.ready, stats.leased) == (0, 0)  # acked as they left (no checkpoints)


def test_a_full_queue_holds_the_writer_back_then_fails_past_its_timeout(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="capacity must be an int >= 1"):
        QueueWriter(store=str(tmp_path / "q.db"), queue="jobs", capacity=0)
    g = Subgraph()
    g.add_node(IterSource(range(5), name="numbers"))
    g.add_node(
        QueueWriter(store=str(tmp_path / "q.db"), queue="jobs", capacity=2, full_timeout_s=0.05)
    )
    g.connect(("numbers", "out"), ("queue_writer", "in"))
    runtime = Runtime()
    runtime.register(g)
    with pytest.raises(Exception, match="holds 2 messages, its capacity"):
        runtime.run()


READER = textwrap.dedent(
    """
    import sys
    from arachne import Runtime, Subgraph
    from arachne.components.builtins import JsonlSink, QueueReader
    from arachne.durable import SqliteStore

    folder = sys.argv[1]
    g = Subgraph()
    g.add_node(QueueReader(store=folder + "/q.db", queue="jobs", batch=50, visibility=0.3,
                           poll_ms=10, until_empty=True, name="get"))
    g.add_node(JsonlSink(path=folder + "/out.jsonl", name="put"))
    g.connect(("get", "out"), ("put", "in"), capacity=16)
    runtime = Runtime(store=SqliteStore(folder + "/run.db"), checkpoint_every=0.02)
    runtime.register(g)
    runtime.run()
    """
)


def test_a_checkpointed_reader_killed_mid_run_delivers_each_message_once(tmp_path: Path) -> None:
    count = 20_000
    with SqliteStore(tmp_path / "q.db") as store:
        queue = DurableQueue(store, "jobs", capacity=count)
        for n in range(count):
            queue.enqueue(n)
    script = tmp_path / "reader.py"
    script.write_text(READER)
    kills = 0
    for pause in (0.6, 0.9, 1.2):
        proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)])
        time.sleep(pause)  # a moment mid-run of a real process
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(BOUND)
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], timeout=BOUND, check=False)
    assert done.returncode == 0
    assert kills >= 1
    with sqlite3.connect(tmp_path / "run.db") as db:
        restored = [
            json.loads(body)["checkpoint"]
            for (body,) in db.execute(
                "SELECT body FROM event_log WHERE name = 'CheckpointRestored'"
            ).fetchall()
        ]
    assert restored  # the final run went on from a checkpoint a killed one wrote
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    values = [json.loads(line) for line in lines]
    assert sorted(values) == list(range(count))  # each once: no duplicate, no gap


def test_a_resumed_reader_removes_what_its_checkpoint_covered(tmp_path: Path) -> None:
    store = str(tmp_path / "q.db")
    with SqliteStore(store) as opened:
        queue = DurableQueue(opened, "jobs", capacity=10)
        ids = [queue.enqueue(n) for n in range(4)]
    reader = QueueReader(store=store, queue="jobs", until_empty=True, name="get")
    reader.restore(reader_state := {"handled": ids[:2]})  # handled before the crash
    assert reader_state == {"handled": ids[:2]}
    g = Subgraph()
    g.add_node(reader)
    g.add_node(Collect("got"))
    g.connect(("get", "out"), ("got", "in"))
    runtime = Runtime()
    runtime.register(g)
    runtime.run()
    assert runtime.execution.instances["got"].payloads == [2, 3]
    with pytest.raises(ValueError, match="queue-reader state"):
        QueueReader(store=store, queue="jobs").restore({"handled": "all"})
