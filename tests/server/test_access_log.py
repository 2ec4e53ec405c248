"""The service's request log never shows an event socket's ``?token=`` credential."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time

import httpx
from websockets.sync.client import connect

from arachne.server.access_log import RedactCredentials, redact
from tests.server.test_serve_command import ARACHNE, BOUND, ROOT

KEY = "viewer-key-0123456789abcdef"


def test_a_token_in_a_query_string_is_redacted() -> None:
    assert redact("/ws?token=abc.def-ghi&x=1") == "/ws?token=[secret]&x=1"
    assert redact("/api?a=1&TOKEN=xyz") == "/api?a=1&TOKEN=[secret]"
    assert redact("/ws?tokens=1") == "/ws?tokens=1"  # (another parameter)
    assert redact("/ws?%74oken=abc") == "/ws?%74oken=[secret]"  # (read as token by the server)
    assert redact("/ws?a=1&tok%65n=abc&b=2") == "/ws?a=1&tok%65n=[secret]&b=2"
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        "",
        0,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", f"/ws?token={KEY}"),
        None,
    )
    assert RedactCredentials().filter(record)
    assert KEY not in record.getMessage()
    assert "/ws?token=[secret]" in record.getMessage()


def test_the_served_log_never_shows_a_socket_s_key() -> None:
    proc = subprocess.Popen(
        [ARACHNE, "serve", "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "API_KEYS": f"{KEY}=viewer"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        deadline = time.monotonic() + BOUND
        address = None
        while address is None and time.monotonic() < deadline:
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", proc.stderr.readline())
            address = found.group(1) if found else None
        assert address is not None
        with connect(address.replace("http", "ws") + f"/ws?token={KEY}") as socket:
            socket.send('{"event": "execution:unsubscribe", "data": {"executionId": "x"}}')
        httpx.get(f"{address}/api/executions?token={KEY}", headers={"X-API-Key": KEY})
    finally:
        proc.terminate()
        _, log = proc.communicate(timeout=BOUND)
    assert "token=[secret]" in log
    assert KEY not in log
