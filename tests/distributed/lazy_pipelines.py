"""Graphs with large payloads for the lazy-payload tests (importable by worker processes).

``frames(seed, count)`` makes messages whose headers say what they are (an id, a camera, a
size) and whose payloads are bytes, some of them large. ``scanner`` routes on headers only and
sends every ``keep``-th frame on to a reader that opens it and writes its digest; the rest it
counts without ever reading their payloads.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from arachne import AsyncNode, Input, IterSource, Message, Node, Output, Subgraph, open_payload
from arachne.model.message import Headers

SMALL = 200
LARGE = 150_000


def frames(seed: int, count: int) -> list[Message]:
    """``count`` messages, a third of them large (150 KB), each with its size in its headers."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        size = LARGE if rng.random() < 0.34 else SMALL
        body = rng.randbytes(16) * (size // 16)
        out.append(Message(body, Headers({"id": i, "camera": rng.choice("xyz"), "size": size})))
    return out


class Scan(Node):
    """Looks at headers only: every ``keep``-th large frame goes on, the rest are counted."""

    inp = Input(None, name="in")
    out = Output(None)
    counts = Output(None)

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.seen = 0

    def on_message(self, port: str, msg: Message) -> None:
        self.seen += 1
        if msg.headers["size"] == LARGE and msg.headers["id"] % self.keep == 0:
            self.emit("out", msg)
        else:
            self.emit("counts", [msg.headers["camera"], msg.headers["size"]])


class Digest(AsyncNode):
    """Opens each payload and keeps ``[id, sha256, length]``, in a list or a JSON-lines file.

    With ``table`` (shared by the graphs a restarted cluster builds) it also writes each row
    there by id: what a restarted consumer writes again lands on the same row.
    """

    inp = Input(None, name="in")

    def __init__(
        self,
        path: str | None = None,
        table: dict[int, list[Any]] | None = None,
        pause: float = 0.0,
    ) -> None:
        self.path = path
        self.table = table
        self.pause = pause
        self.rows: list[list[Any]] = []

    async def on_message(self, port: str, msg: Message) -> None:
        if self.pause:
            await self.sleep(self.pause)
        body = await open_payload(msg.payload)
        row = [msg.headers["id"], hashlib.sha256(body).hexdigest(), len(body)]
        self.rows.append(row)
        if self.table is not None:
            self.table[row[0]] = row
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")


class Tally(Node):
    """Counts ``[camera, size]`` pairs (it never sees a payload)."""

    inp = Input(None, name="in")

    def __init__(self) -> None:
        self.tally: dict[str, int] = {}

    def on_message(self, port: str, msg: Message) -> None:
        camera, size = msg.payload
        self.tally[camera] = self.tally.get(camera, 0) + size


SOURCE = {
    "builder": "tests.distributed.lazy_pipelines:scanner",
    "kwargs": {"seed": 5, "count": 90, "keep": 3},
}
"""The scanner both the process and the Ray tests run (each adds its output ``path``)."""

PLACED = {"a": ["source"], "b": ["scan", "digest", "tally"]}


def fetched_only_what_was_read(reports: dict[str, Any], path: Path) -> list[list[Any]]:
    """Check two partitions' reports: every large frame lent, those read opened; the rows."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    (received,) = [row for row in reports["b"]["links"] if row["role"] == "receive"]
    (sent,) = [row for row in reports["a"]["links"] if row["role"] == "send"]
    large = sum(1 for m in frames(5, 90) if m.headers["size"] == LARGE)
    assert received["lazy"] == sent["lent"] == large
    assert received["opened"] == len(rows) < large
    assert received["fetched_bytes"] == LARGE * len(rows)
    assert sent["lent_held"] == 0
    return rows


def scanner(seed: int, count: int, keep: int, path: str | None = None) -> Subgraph:
    """source -> scan -> (digest | tally): only the frames digest opens need their payloads."""
    return scanner_parts(seed, count, keep, path)[0]


def scanner_parts(
    seed: int,
    count: int,
    keep: int,
    path: str | None = None,
    *,
    table: dict[int, list[Any]] | None = None,
    pause: float = 0.0,
) -> tuple[Subgraph, Digest, Tally]:
    """The scanner graph, with its digest and tally nodes (to read what they kept)."""
    g = Subgraph("scanner")
    g.add_node(IterSource(frames(seed, count)), name="source")
    g.add_node(Scan(keep), name="scan")
    digest, tally = Digest(path, table, pause), Tally()
    g.add_node(digest, name="digest")
    g.add_node(tally, name="tally")
    g.connect(("source", "out"), ("scan", "in"), capacity=4)
    g.connect(("scan", "out"), ("digest", "in"), capacity=4)
    g.connect(("scan", "counts"), ("tally", "in"), capacity=4)
    return g, digest, tally
