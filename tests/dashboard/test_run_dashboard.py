"""``arachne run --dashboard``: the same page, over one run, on loopback, in a real Chromium."""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import ARACHNE, BOUND, ROOT

SLOW = """\
arachne: "1.0"
name: Slow doubling
nodes:
  - id: input
    component: arachne.core.passthrough
  - id: wait
    component: arachne.core.delay
    config: {ms: 4000}
  - id: double
    component: arachne.core.map
    config: {expression: "value * 2"}
edges:
  - {id: into-wait, source: "input:out", target: "wait:in"}
  - {id: into-double, source: "wait:out", target: "double:in"}
"""


def test_a_run_serves_its_own_dashboard_while_it_goes(tmp_path: Path, page: Page) -> None:
    document = tmp_path / "slow.yaml"
    document.write_text(SLOW)
    run = subprocess.Popen(
        [ARACHNE, "run", str(document), "--inject", "input:in=21", "--dashboard"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stderr is not None
    try:
        lines: queue.Queue[str] = queue.Queue()
        stderr = run.stderr
        threading.Thread(target=lambda: [lines.put(line) for line in stderr], daemon=True).start()
        deadline = time.monotonic() + BOUND
        url = None
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            found = re.search(r"dashboard at (http://127\.0\.0\.1:\d+/\S+)", line)
            url = found.group(1) if found else None
        assert url is not None, "the run did not print its dashboard's address"
        page.goto(url)
        expect(page.locator("#execution-graph")).to_have_text("graph Slow doubling")
        row = page.locator("#edges tr[data-edge='into-wait']")
        expect(row.locator("td").nth(4)).to_have_text("1")  # the value reached the delay
        expect(page.locator("#execution-state")).to_have_text("running")
        # It shows and steers this run; it starts no other.
        base = url.split("/#")[0]
        graph_id = httpx.get(f"{base}/api/graphs").json()[0]["id"]
        refused = httpx.post(f"{base}/api/graphs/{graph_id}/execute")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "single_run"
        expect(page.locator("#log")).to_contain_text("wait:out → double:in value 21")
        expect(page.locator("#execution-state")).to_have_text("completed")
        assert run.stdout is not None
        out = run.stdout.read()
        run.wait(BOUND)
        assert out.strip() == "42"
        assert run.returncode == 0
        # Off a terminal, the dashboard goes with the run.
        try:
            httpx.get(f"{base}/healthz", timeout=2.0)
            raise AssertionError("the dashboard still answers after the run")
        except httpx.TransportError:
            pass
    finally:
        run.kill()
        run.wait(BOUND)
        for stream in (run.stdout, run.stderr):
            if stream is not None:
                stream.close()
