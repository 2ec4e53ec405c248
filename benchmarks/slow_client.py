"""What a slow Socket.IO client costs a busy execution of `arachne serve`, and its memory.

``uv run python -m benchmarks.slow_client [--messages N] [--rounds R] [--quick]``

`arachne serve` runs in a process of its own, on a loopback port, with a data root holding a
file of ``N`` JSON lines. The graph reads it and passes every value through two map nodes
to a filter that keeps none of them: a busy execution, about a million hops per run at the
default size. Each round runs it twice, in alternating order:

- **alone**: started over REST, nobody watching;
- **slow client**: started by a Socket.IO client (``execution:start``, so it is subscribed
  from the first message) that then reads nothing until the execution has ended (a bare
  socket with a small receive buffer: ``tests/server/raw_client.py``): its socket fills,
  then the server's queue for it, then every event for it waits, folded, or is dropped.

Throughput is messages over the execution's own run time (its record's ``startedAt`` to
``completedAt``); the figure is the median ratio of slow-client to alone over the rounds
(1.0: no cost). Memory is the server process's resident set, sampled every 50 ms: printed
are its growth during each kind of run, so a queue that grew with the messages would show.

The goals (issue 14): a ratio of at least 0.90, and the server's memory during a slow-client
run within 32 MiB of an alone run's. The run exits 1 if one is missed; ``--quick`` runs one
small round and checks only that both runs completed and the client was told of what it
missed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.server.raw_client import RawClient

GOAL_RATIO = 0.90
GOAL_MEMORY = 32 << 20
"""Bytes more a slow-client run may hold at its peak than an alone run."""

WAIT = 120.0


def graph() -> dict[str, Any]:
    """numbers.jsonl -> a -> b -> none (a filter that keeps nothing)."""
    return {
        "arachne": "1.0",
        "name": "busy",
        "nodes": [
            {"id": "read", "component": "arachne.io.jsonl-source", "config": {"path": "n.jsonl"}},
            {"id": "a", "component": "arachne.core.map", "config": {"expression": "value + 1"}},
            {"id": "b", "component": "arachne.core.map", "config": {"expression": "value * 2"}},
            {"id": "none", "component": "arachne.core.filter", "config": {"predicate": "false"}},
        ],
        "edges": [
            {"source": {"node": "read", "port": "out"}, "target": {"node": "a", "port": "in"}},
            {"source": {"node": "a", "port": "out"}, "target": {"node": "b", "port": "in"}},
            {"source": {"node": "b", "port": "out"}, "target": {"node": "none", "port": "in"}},
        ],
    }


class Server:
    """`arachne serve` in a subprocess, on a free loopback port, its memory sampled."""

    def __init__(self, root: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [
            *(sys.executable, "-c", "from arachne.cli.main import main; main()"),
            *("serve", "--port", str(self.port), "--data-root", str(root)),
            *("--log-level", "WARNING"),
        ]
        self.process = subprocess.Popen(  # noqa: S603  # (our own interpreter and arguments)
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=WAIT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.api.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("arachne serve did not start")
            time.sleep(0.05)

    def rss(self) -> int:
        """The server's resident set, in bytes."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def close(self) -> None:
        self.api.close()
        self.process.terminate()
        self.process.wait(30)


class Sampler:
    """The server's resident set every 50 ms while a run lasts: its peak."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = server.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.server.rss())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def finished(server: Server, execution_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while True:
        record: dict[str, Any] = server.api.get(f"/api/executions/{execution_id}").json()
        if record["state"] in ("completed", "failed", "cancelled"):
            return record
        if time.monotonic() > deadline:
            raise RuntimeError(f"execution {execution_id} did not end")
        time.sleep(0.02)


def rate(record: dict[str, Any], messages: int) -> float:
    if record["state"] != "completed":
        raise RuntimeError(f"the execution did not complete: {record}")
    return messages / (record["completedAt"] - record["startedAt"])


def run_alone(server: Server, graph_id: str, messages: int) -> tuple[float, int]:
    sampler = Sampler(server)
    ex = server.api.post(f"/api/graphs/{graph_id}/execute").json()["executionId"]
    record = finished(server, ex)
    return rate(record, messages), sampler.stop()


def run_slow(server: Server, graph_id: str, messages: int) -> tuple[float, int, int]:
    """Return the throughput, the server's peak memory, and how many messages the events the
    client read afterwards said were folded (what it was told it missed)."""
    client = RawClient(server.port)
    try:
        sampler = Sampler(server)
        client.send("42" + json.dumps(["execution:start", {"graphId": graph_id}]))
        ex = None
        while ex is None:  # the started event names it; from here on, nothing is read
            frame = client.frame()
            if frame.startswith("42"):
                name, data = json.loads(frame[2:])[:2]
                if name == "execution:started":
                    ex = data["executionId"]
        record = finished(server, ex)
        peak = sampler.stop()
        return rate(record, messages), peak, told(client)
    finally:
        client.close()


def told(client: RawClient) -> int:
    """Read what waits for the client up to the execution's end; return what it was told it
    missed: the messages folded into the events it got, and the events dropped."""
    missed = 0
    while True:
        frame = client.frame()
        if not frame.startswith("42"):
            continue
        name, data = json.loads(frame[2:])[:2]
        if name == "port:emit":
            missed += data["coalesced"]
        elif name == "stream:dropped":
            missed += data["count"]
        elif name == "execution:completed":
            return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    messages, rounds = (20_000, 1) if args.quick else (args.messages, args.rounds)
    with tempfile.TemporaryDirectory() as root:
        Path(root, "n.jsonl").write_text("".join(f"{i}\n" for i in range(messages)))
        server = Server(Path(root))
        try:
            loaded = server.api.post("/api/graphs", json=graph())
            loaded.raise_for_status()
            graph_id = loaded.json()["id"]
            run_alone(server, graph_id, messages)  # warm up
            base = server.rss()
            ratios, alone_peaks, slow_peaks, missed = [], [], [], []
            for index in range(rounds):
                if index % 2:
                    slow = run_slow(server, graph_id, messages)
                    alone = run_alone(server, graph_id, messages)
                else:
                    alone = run_alone(server, graph_id, messages)
                    slow = run_slow(server, graph_id, messages)
                ratios.append(slow[0] / alone[0])
                alone_peaks.append(alone[1] - base)
                slow_peaks.append(slow[1] - base)
                missed.append(slow[2])
                print(
                    f"round {index + 1}: alone {alone[0]:,.0f} msg/s, slow client "
                    f"{slow[0]:,.0f} msg/s (ratio {ratios[-1]:.3f}); peak memory over the "
                    f"start: alone {alone_peaks[-1] / 2**20:+.1f} MiB, slow client "
                    f"{slow_peaks[-1] / 2**20:+.1f} MiB; client told of missed events: "
                    f"{slow[2]:,}",
                    flush=True,
                )
            print(
                f"server memory at the start: {base / 2**20:.1f} MiB, at the end: "
                f"{(server.rss()) / 2**20:.1f} MiB"
            )
        finally:
            server.close()
    ratio = statistics.median(ratios)
    extra = max(slow_peaks) - max(alone_peaks)
    print(f"median throughput ratio, slow client / alone: {ratio:.3f} (goal >= {GOAL_RATIO})")
    print(
        f"peak memory, slow client over alone: {extra / 2**20:+.1f} MiB "
        f"(goal <= {GOAL_MEMORY >> 20} MiB)"
    )
    if args.quick:
        return 0 if all(missed) else 1
    return 0 if ratio >= GOAL_RATIO and extra <= GOAL_MEMORY else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
