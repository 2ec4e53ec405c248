"""A real ``arachne serve`` on 127.0.0.1 and a real Chromium, driven by Playwright.

The browser is Debian's Chromium, installed by ``.ci/browser`` when it is missing (Playwright
downloads none). Each test gets a fresh browser context at 1280x800; a page that logs an error
to its console, or throws, fails the test that opened it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARACHNE = str(Path(sys.executable).parent / "arachne")
BOUND = 20.0  # seconds: a bound on a hang, not a timing claim
SHOTS = ROOT / "docs" / "images"
"""Where the screenshots go with ``ARACHNE_SCREENSHOTS=docs`` (elsewhere, a temporary folder)."""

expect.set_options(timeout=BOUND * 1000)  # (a bound on a hang: a loaded machine is slow)

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # (as root in CI)
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the machine's network is closed: ask nothing of it
    "--disable-component-update",
    "--disable-sync",
    "--enable-precise-memory-info",
]


def chromium() -> str:
    """Return the path of Debian's Chromium, installing it with ``.ci/browser`` if missing."""
    done = subprocess.run(
        [str(ROOT / ".ci" / "browser")], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"no Chromium for the dashboard tests: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


class Server:
    """``arachne serve`` in a child process on a free loopback port."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [ARACHNE, "serve", "--port", str(port), "--log-level", "warning", *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + BOUND
        while True:
            try:
                httpx.get(f"{self.url}/healthz", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("arachne serve did not start") from None
                time.sleep(0.05)
        self.api = httpx.Client(base_url=self.url, timeout=BOUND)

    def load(self, document: dict[str, Any], key: str | None = None) -> str:
        """Load ``document`` and start it; return the execution's id."""
        headers = {"X-API-Key": key} if key else {}
        graph = self.api.post("/api/graphs", json=document, headers=headers)
        graph.raise_for_status()
        started = self.api.post(f"/api/graphs/{graph.json()['id']}/execute", headers=headers)
        started.raise_for_status()
        execution_id: str = started.json()["executionId"]
        return execution_id

    def stop(self) -> None:
        if hasattr(self, "api"):
            self.api.close()
        self.process.terminate()
        try:
            self.process.wait(BOUND)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """The folder screenshots are saved in: docs/images when refreshing the docs' pictures."""
    return SHOTS if os.environ.get("ARACHNE_SCREENSHOTS") == "docs" else tmp_path


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    running = Server()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # (module-wide, not session-wide: Playwright's sync API holds an event loop in this thread
    # while it is open, and tests of other modules run asyncio loops of their own here)
    path = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    opened.set_default_timeout(BOUND * 1000)
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        # An API call the page answers itself (a refused inject, a 401 that asks to sign in)
        # is logged by the browser as a failed load: only those of /api/ are expected.
        expected = "/api/" in message.location.get("url", "") or "/api/" in message.text
        if message.type == "error" and not expected:
            problems.append(f"console: {message.text} at {message.location}")

    opened.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    opened.on("console", console)
    try:
        yield opened
    finally:
        context.close()
    assert not problems, f"the page reported errors: {problems}"
