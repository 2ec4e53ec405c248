"""``arachne serve --store``: graphs and executions kept, and resumed after kill -9 or SIGTERM."""

from __future__ import annotations

import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.durable.faults import DOCUMENT

ARACHNE = str(Path(sys.executable).parent / "arachne")
BOUND = 60.0  # seconds: a bound on a hang, not a timing claim
ORDERS = 150_000


def _start(folder: Path) -> tuple[subprocess.Popen[str], str]:
    """Serve with the store beside ``folder/data``, the data root graphs' files live in."""
    proc = subprocess.Popen(
        [ARACHNE, "serve", "--port", "0", "--store", str(folder / "service.db")],
        cwd=folder / "data",
        env={"DATA_ROOT": str(folder / "data"), "CHECKPOINT_EVERY": "0.05", "PATH": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + BOUND
    said = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        said.append(line)
        found = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
        if found:
            return proc, found.group(1)
        if not line and proc.poll() is not None:
            break
    _end(proc)
    raise AssertionError(f"the service did not say where it listens: {''.join(said)[-2000:]}")


def _end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(BOUND)
    assert proc.stderr is not None
    proc.stderr.close()


def _state(address: str, execution_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{address}/api/executions/{execution_id}", timeout=BOUND)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def _wait_for(address: str, execution_id: str, states: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        record = _state(address, execution_id)
        if record["state"] in states:
            return record
        time.sleep(0.05)  # polling a real server's progress: there is no clock to fake
    raise AssertionError(f"execution {execution_id} never reached {states}")


def _orders(folder: Path) -> None:
    (folder / "data").mkdir()
    rng = random.Random(3)
    with (folder / "data" / "orders.jsonl").open("w") as file:
        for i in range(ORDERS):
            file.write(json.dumps({"id": i, "amount": rng.randint(1, 40), "qty": 2}) + "\n")


def _reference(folder: Path) -> bytes:
    data = folder / "data"
    (data / "graph.yaml").write_text(DOCUMENT)
    subprocess.run([ARACHNE, "run", "graph.yaml", "-q"], cwd=data, check=True, capture_output=True)
    output = (data / "totals.jsonl").read_bytes()
    (data / "totals.jsonl").unlink()
    return output


def test_a_service_killed_mid_run_resumes_its_execution_to_the_same_output(tmp_path: Path) -> None:
    _orders(tmp_path)
    expected = _reference(tmp_path)
    proc, address = _start(tmp_path)
    try:
        graph = httpx.post(f"{address}/api/graphs", json=yaml.safe_load(DOCUMENT), timeout=BOUND)
        assert graph.status_code == 201, graph.text
        graph_id = graph.json()["id"]
        started = httpx.post(f"{address}/api/graphs/{graph_id}/execute", timeout=BOUND)
        assert started.status_code == 201, started.text
        execution_id = started.json()["executionId"]
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:  # until a checkpoint has been written
            reply = httpx.get(f"{address}/api/executions/{execution_id}/metrics", timeout=BOUND)
            if reply.json().get("messagesProcessed", 0) > 20_000:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        _end(proc)
    proc, address = _start(tmp_path)
    try:
        graphs = httpx.get(f"{address}/api/graphs", timeout=BOUND).json()
        assert [g["id"] for g in graphs] == [graph_id]  # kept across the crash
        record = _wait_for(address, execution_id, {"completed", "failed"})
        assert record["state"] == "completed", record
        assert (tmp_path / "data" / "totals.jsonl").read_bytes() == expected
        with sqlite3.connect(tmp_path / "service.db") as db:
            (resumes,) = db.execute(
                "SELECT resumes FROM runs WHERE name = ?", (execution_id,)
            ).fetchone()
            (restored,) = db.execute(
                "SELECT body FROM event_log WHERE run = ? AND name = 'CheckpointRestored'",
                (execution_id,),
            ).fetchone()
        assert resumes == 1
        assert json.loads(restored)["checkpoint"] > 1  # from mid-run, not checkpoint zero
        proc.send_signal(signal.SIGTERM)
        proc.wait(BOUND)
    finally:
        _end(proc)
    proc, address = _start(tmp_path)
    try:  # ended under the former process: listed, not run again
        listed = httpx.get(f"{address}/api/executions", timeout=BOUND).json()
        assert [(e["id"], e["state"]) for e in listed] == [(execution_id, "completed")]
        gone = httpx.delete(f"{address}/api/executions/{execution_id}", timeout=BOUND)
        assert gone.status_code == 204
        assert httpx.get(f"{address}/api/executions", timeout=BOUND).json() == []
    finally:
        _end(proc)


def test_a_service_stopped_with_sigterm_resumes_its_running_execution(tmp_path: Path) -> None:
    _orders(tmp_path)
    expected = _reference(tmp_path)
    proc, address = _start(tmp_path)
    try:
        graph_id = httpx.post(
            f"{address}/api/graphs", json=yaml.safe_load(DOCUMENT), timeout=BOUND
        ).json()["id"]
        execution_id = httpx.post(f"{address}/api/graphs/{graph_id}/execute", timeout=BOUND).json()[
            "executionId"
        ]
        _wait_for(address, execution_id, {"running"})
        proc.send_signal(signal.SIGTERM)
        proc.wait(BOUND)
        assert proc.stderr is not None
        assert "the service stopped: 1 running execution(s)" in proc.stderr.read()
    finally:
        _end(proc)
    assert (tmp_path / "data" / "totals.jsonl").read_bytes() != expected  # it was cut short
    proc, address = _start(tmp_path)
    try:
        record = _wait_for(address, execution_id, {"completed", "failed"})
        assert record["state"] == "completed", record
        assert (tmp_path / "data" / "totals.jsonl").read_bytes() == expected
    finally:
        _end(proc)
