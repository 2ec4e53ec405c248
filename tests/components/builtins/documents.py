"""Graph documents for the built-in tests: small builders, a runner, JSON-lines files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arachne import Runtime
from arachne.runtime import FakeClock
from arachne.spec import build, parse_document


def node(node_id: str, component: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "component": component, "config": config}


def edge(source: str, target: str) -> dict[str, Any]:
    (src, src_port), (dst, dst_port) = source.split("."), target.split(".")
    return {
        "id": f"{source}->{target}",
        "source": {"node": src, "port": src_port},
        "target": {"node": dst, "port": dst_port},
    }


def document(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, Any]:
    return {"arachne": "1.0", "name": "test", "version": "1.0.0", "nodes": nodes, "edges": edges}


def run_document(doc: dict[str, Any], clock: FakeClock | None = None) -> Runtime:
    runtime = Runtime(clock=clock or FakeClock())
    runtime.register(build(parse_document(doc)))
    runtime.run()
    return runtime


def lines(path: Path) -> list[Any]:
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]


class Files:
    """An input file and named output files under one directory."""

    def __init__(self, root: Path, values: list[Any]) -> None:
        self.root = root
        self.input = root / "in.jsonl"
        self.input.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")

    def source(self, node_id: str = "src") -> dict[str, Any]:
        return node(node_id, "arachne.io.jsonl-source", path=str(self.input))

    def sink(self, node_id: str) -> dict[str, Any]:
        return node(node_id, "arachne.io.jsonl-sink", path=str(self.root / f"{node_id}.jsonl"))

    def read(self, node_id: str) -> list[Any]:
        return lines(self.root / f"{node_id}.jsonl")
