"""The graph manifest: the same bytes for the same graph, read back whole, and checked."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arachne.cli.main import app
from arachne.components import Registry
from arachne.components.code import enable_code
from arachne.model.errors import SpecError
from arachne.spec import Manifest, document_manifest, parse_document, read_document

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    [*(ROOT / "examples").glob("*/*.json"), *(ROOT / "examples").glob("*/*.yaml")],
)
DOCUMENTS = [
    path
    for path in EXAMPLES
    if path.name not in ("package.json", "package-lock.json", "square.json")
]

DOC: dict[str, Any] = {
    "arachne": "1.0",
    "name": "orders",
    "nodes": [
        {"id": "intake", "component": "arachne.core.passthrough"},
        {"id": "big", "component": "arachne.core.filter", "config": {"predicate": "value > 10"}},
        {"id": "double", "component": "arachne.core.map", "config": {"expression": "value * 2"}},
        {"id": "log", "component": "arachne.core.logger"},
    ],
    "edges": [
        {"source": {"node": "intake", "port": "out"}, "target": {"node": "big", "port": "in"}},
        {
            "id": "kept",
            "source": {"node": "big", "port": "out"},
            "target": {"node": "double", "port": "in"},
            "capacity": 64,
            "overflow": "drop",
        },
        {"source": {"node": "double", "port": "out"}, "target": {"node": "log", "port": "in"}},
    ],
}


def manifest(doc: dict[str, Any]) -> Manifest:
    return document_manifest(parse_document(doc), Registry.default())


BUILD = """
import hashlib, json, sys
from pathlib import Path
from arachne.components import Registry
from arachne.components.code import enable_code
from arachne.spec import document_manifest, parse_document, read_document
paths, doc = json.loads(sys.argv[1]), json.loads(sys.argv[2])
made = {"DOC": document_manifest(parse_document(doc), Registry.default()).canonical().decode()}
for path in paths:
    registry = Registry.default()
    enable_code(registry)  # (builds nothing: code is built when a node starts)
    if path.endswith("squares.yaml"):
        registry.add_code(json.loads((Path(path).parent / "square.json").read_text()))
    text = document_manifest(read_document(Path(path)), registry).canonical()
    made[path] = hashlib.sha256(text).hexdigest()
print(json.dumps(made))
"""

PROCESSES = 100


def _built_in_process(seed: int) -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    done = subprocess.run(
        [sys.executable, "-c", BUILD, json.dumps([str(p) for p in DOCUMENTS]), json.dumps(DOC)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    )
    built: dict[str, str] = json.loads(done.stdout)
    return built


def test_the_manifest_is_the_same_bytes_over_100_processes_with_different_hash_seeds() -> None:
    expected = {"DOC": manifest(DOC).canonical().decode()}
    for path in DOCUMENTS:
        registry = Registry.default()
        enable_code(registry)
        if path.name == "squares.yaml":
            registry.add_code(json.loads((path.parent / "square.json").read_text()))
        text = document_manifest(read_document(path), registry).canonical()
        expected[str(path)] = hashlib.sha256(text).hexdigest()
    with ThreadPoolExecutor(max_workers=2) as pool:  # (the machine has 2 cores)
        built = list(pool.map(_built_in_process, range(PROCESSES)))
    assert len(built) == PROCESSES
    differing = [seed for seed, made in enumerate(built) if made != expected]
    assert differing == [], f"hash seeds {differing} built other bytes"


def test_order_in_the_document_does_not_change_the_manifest_but_content_does() -> None:
    shuffled = {**DOC, "nodes": DOC["nodes"][::-1], "edges": DOC["edges"][::-1]}
    assert manifest(shuffled).digest == manifest(DOC).digest
    changed = json.loads(json.dumps(DOC))
    changed["nodes"][2]["config"]["expression"] = "value * 3"
    assert manifest(changed).digest != manifest(DOC).digest
    assert (
        manifest(changed).node("double").config_digest != manifest(DOC).node("double").config_digest
    )
    policy = json.loads(json.dumps(DOC))
    policy["edges"][1]["capacity"] = 65
    assert manifest(policy).digest != manifest(DOC).digest


def test_the_manifest_names_components_contracts_routes_and_flow_policy() -> None:
    made = manifest(DOC)
    double = made.node("double")
    assert (double.component, double.contract, double.delivery) == (
        "arachne.core.map",
        "1.0.0",
        "at-least-once",
    )
    assert "value * 2" not in made.canonical().decode()  # config is digested, never shown
    kept = next(edge for edge in made.edges if edge.id == "kept")
    assert (kept.source, kept.target, kept.capacity, kept.overflow) == (
        "big.out",
        "double.in",
        64,
        "drop",
    )
    routes = {(r.node, r.port, r.direction) for r in made.routes}
    assert {("big", "out", "out"), ("big", "rejected", "out"), ("big", "error", "out")} <= routes


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_document_round_trips(path: Path) -> None:
    registry = Registry.default()
    enable_code(registry)
    if path.name == "squares.yaml":  # the component it uses is added first
        registry.add_code(json.loads((path.parent / "square.json").read_text()))
    made = document_manifest(read_document(path), registry)
    again = Manifest.from_dict(json.loads(made.canonical()))
    assert again == made
    assert again.canonical() == made.canonical()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d.update(manifest="arachne.manifest/9"), "not a format this version reads"),
        (lambda d: d.update(colour="red"), "unknown field 'colour'"),
        (lambda d: d.pop("edges"), "missing edges"),
        (lambda d: d["nodes"].append(dict(d["nodes"][0])), "appears twice"),
        (lambda d: d["edges"][0].update(source="nowhere.out"), "is no output route"),
        (lambda d: d["routes"][0].update(node="ghost"), "no node 'ghost'"),
        (lambda d: d["nodes"][0].update(concurrency="1"), "nodes[0].concurrency: got str"),
        (lambda d: d["nodes"][0].pop("mode"), "field 'mode' is unknown or missing"),
    ],
)
def test_a_manifest_read_back_is_checked_naming_the_field(change: Any, named: str) -> None:
    data = json.loads(manifest(DOC).canonical())
    change(data)
    with pytest.raises(SpecError, match=named.replace("[", r"\[").replace("]", r"\]")):
        Manifest.from_dict(data)


def test_arachne_manifest_prints_it_and_its_digest(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(DOC))
    runner = CliRunner()
    shown = runner.invoke(app, ["manifest", str(path)])
    assert shown.exit_code == 0, shown.output
    assert Manifest.from_dict(json.loads(shown.output)) == manifest(DOC)
    digest = runner.invoke(app, ["manifest", str(path), "--digest"])
    assert digest.output.strip() == manifest(DOC).digest


def test_a_config_that_json_cannot_write_still_has_a_stable_digest() -> None:
    from arachne import Input, IterSource, Node, Output, Subgraph
    from arachne.spec import subgraph_manifest

    class Scale(Node):
        inp = Input(int, name="in")
        out = Output(int)

    def build_one() -> str:
        sub = Subgraph()
        sub.add_node(IterSource([1], name="numbers"))
        sub.add_node(Scale(name="scale", config={"fn": len, "factor": object()}))
        sub.connect(("numbers", "out"), ("scale", "in"))
        return subgraph_manifest(sub).digest

    assert build_one() == build_one()  # no memory address in it
