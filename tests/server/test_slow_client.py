"""A Socket.IO client that stops reading costs the service bounded memory, and is told so.

The per-message events are sent every millisecond here (not every 50 ms) and carry long
values, so the client's socket and the kernel's buffers fill within the run; from then on
the service must hold at most its backlog bound for the client, keep at most one waiting
event per edge and per input, and let the execution finish.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from arachne.server import ServerSettings
from arachne.server import stream as stream_module
from arachne.server.sockets import BACKLOG
from tests.server.raw_client import RawClient
from tests.server.test_api import BOUND, Served

LINES = 50_000


def busy_graph() -> dict[str, object]:
    return {
        "arachne": "1.0",
        "name": "busy",
        "nodes": [
            {"id": "read", "component": "arachne.io.jsonl-source", "config": {"path": "n.jsonl"}},
            {
                "id": "same",
                "component": "arachne.core.map",
                "config": {"expression": "String(value).padEnd(8000, 'x')"},
            },
            {"id": "none", "component": "arachne.core.filter", "config": {"predicate": "false"}},
        ],
        "edges": [
            {"source": {"node": "read", "port": "out"}, "target": {"node": "same", "port": "in"}},
            {"source": {"node": "same", "port": "out"}, "target": {"node": "none", "port": "in"}},
        ],
    }


def test_a_client_that_stops_reading_holds_bounded_memory_and_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "FLUSH_EVERY", 0.001)
    (tmp_path / "n.jsonl").write_text("".join(f"{i}\n" for i in range(LINES)))
    served = Served(ServerSettings(data_root=str(tmp_path), max_events_per_second=100_000))
    sockets = served.app.state.sockets
    try:
        graph_id = served.client.post("/api/graphs", json=busy_graph()).json()["id"]
        client = RawClient(served.client.base_url.port or 0)
        try:
            client.send("42" + json.dumps(["execution:start", {"graphId": graph_id}]))
            (sid,) = list(sockets.streams)  # from here on the client reads nothing
            stream = sockets.streams[sid][0]
            deadline = time.monotonic() + 60
            while not stream.subscriptions:
                assert time.monotonic() < deadline
                time.sleep(0.001)
            (ex_id,) = list(stream.subscriptions)
            ex = served.app.state.service.execution(ex_id)
            backlog, waiting = [], []
            while not ex.done:
                assert time.monotonic() < deadline, "the execution did not finish"
                backlog.append(sockets._backlog(sid))
                waiting.append(stream.coalescer.waiting())
                time.sleep(0.005)
            assert ex.state.value == "completed"
            assert ex.stats().nodes["none"].received == LINES
            assert max(backlog) >= BACKLOG  # the client's side did fill up
            assert max(backlog) <= BACKLOG + 8  # and no further than the bound (and a flush)
            assert max(waiting) <= 5  # one per edge (2) and per input (3)
            assert stream.coalescer.coalesced > 0
            # Reading again, the client learns what it missed, and how the execution ended.
            told, names = 0, set()
            client.sock.settimeout(BOUND)
            try:
                while True:
                    frame = client.frame()
                    if frame.startswith("42"):
                        name, data = json.loads(frame[2:])[:2]
                        names.add(name)
                        if name == "port:emit":
                            told = max(told, data["coalesced"])
                        if name == "execution:completed":
                            break
            except TimeoutError:
                pass
            assert told > 0
            assert "execution:completed" in names  # the end waited for the client, not lost
        finally:
            client.close()
    finally:
        served.stop()
