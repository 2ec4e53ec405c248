from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
QUICK_REFERENCE = ROOT / "examples" / "documents" / "quick_reference.json"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write_document(path: Path, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"arachne": "1.0", "name": "t", "nodes": nodes, "edges": edges}))
    return path


def edge(source: str, target: str) -> dict[str, Any]:
    (sn, sp), (tn, tp) = source.split(":"), target.split(":")
    return {"source": {"node": sn, "port": sp}, "target": {"node": tn, "port": tp}}
