"""``arachne serve``: the service started by the command, answering, and stopped by SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from arachne.server.app import GRAPH_EXAMPLE
from tests.cli.conftest import ROOT

ARACHNE = str(Path(sys.executable).parent / "arachne")
BOUND = 20.0  # seconds: a bound on a hang, not a timing claim


def test_serve_answers_then_stops_gracefully_on_sigterm() -> None:
    proc = subprocess.Popen(
        [ARACHNE, "serve", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        deadline = time.monotonic() + BOUND
        address = None
        while address is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
            address = found.group(1) if found else None
        assert address is not None, "the service did not say where it listens"
        assert httpx.get(f"{address}/healthz", timeout=BOUND).json() == {"status": "ok"}
        graph = httpx.post(f"{address}/api/graphs", json=GRAPH_EXAMPLE, timeout=BOUND).json()
        started = httpx.post(f"{address}/api/graphs/{graph['id']}/execute", timeout=BOUND)
        assert started.status_code == 201
        proc.send_signal(signal.SIGTERM)
        # uvicorn raises the signal again once it has shut down, as the conventional status.
        assert proc.wait(BOUND) in (0, -signal.SIGTERM)
        assert "the service stopped: 1 running execution(s) stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_serve_refuses_an_address_beyond_loopback() -> None:
    done = subprocess.run(
        [ARACHNE, "serve", "--host", "0.0.0.0"],  # noqa: S104 (the refusal is what is tested)
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BOUND,
        check=False,
    )
    assert done.returncode == 2
    assert "not a loopback address" in done.stderr
