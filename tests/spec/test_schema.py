from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from arachne import SpecError
from arachne.spec import DOCUMENT_SCHEMA, parse_document, read_document
from arachne.spec._edges import EDGE_KEYS, PORT_KEYS
from arachne.spec.parse import DOCUMENT_KEYS, EXPOSED_KEYS, NODE_KEYS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "documents"
FILES = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".json", ".yaml", ".yml"))
VALIDATOR = Draft202012Validator(DOCUMENT_SCHEMA)


def raw(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def test_the_schema_is_valid_draft_2020_12_and_plain_json() -> None:
    Draft202012Validator.check_schema(DOCUMENT_SCHEMA)
    assert json.loads(json.dumps(DOCUMENT_SCHEMA)) == DOCUMENT_SCHEMA


def test_the_schema_and_the_parser_know_the_same_keys() -> None:
    defs = DOCUMENT_SCHEMA["$defs"]
    assert tuple(DOCUMENT_SCHEMA["properties"]) == DOCUMENT_KEYS
    assert tuple(defs["node"]["properties"]) == NODE_KEYS
    assert tuple(defs["edge"]["properties"]) == EDGE_KEYS
    assert tuple(defs["endpoint"]["oneOf"][1]["properties"]) == PORT_KEYS
    assert tuple(defs["exposed"]["properties"]) == EXPOSED_KEYS


def test_there_are_json_and_yaml_examples() -> None:
    assert {path.suffix for path in FILES} >= {".json", ".yaml"}
    assert (EXAMPLES / "quick_reference.json") in FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_example_validates_and_parses(path: Path) -> None:
    data = raw(path)
    assert list(VALIDATOR.iter_errors(data)) == []
    parsed = read_document(path)
    assert parsed == parse_document(data)
    assert list(VALIDATOR.iter_errors(parsed.to_dict())) == []


def test_the_quick_reference_example_is_the_runtime_service_s() -> None:
    data = raw(EXAMPLES / "quick_reference.json")
    assert data == {
        "symbia": "1.0",
        "name": "Simple Pipeline",
        "version": "1.0.0",
        "nodes": [
            {"id": "input", "component": "symbia.core.passthrough"},
            {
                "id": "double",
                "component": "symbia.core.map",
                "config": {"expression": "value * 2"},
            },
            {"id": "output", "component": "symbia.core.logger"},
        ],
        "edges": [
            {
                "id": "e1",
                "source": {"node": "input", "port": "out"},
                "target": {"node": "double", "port": "in"},
            },
            {
                "id": "e2",
                "source": {"node": "double", "port": "out"},
                "target": {"node": "output", "port": "in"},
            },
        ],
    }


def mutations() -> list[tuple[str, Any]]:
    def set_(path: tuple[Any, ...], value: Any) -> Any:
        def apply(data: Any) -> None:
            for part in path[:-1]:
                data = data[part]
            data[path[-1]] = value

        return apply

    def delete(path: tuple[Any, ...]) -> Any:
        def apply(data: Any) -> None:
            for part in path[:-1]:
                data = data[part]
            del data[path[-1]]

        return apply

    return [
        ("unknown top key", set_(("nodez",), [])),
        ("unknown node key", set_(("nodes", 0, "kind"), "x")),
        ("unknown edge key", set_(("edges", 0, "weight"), 1)),
        ("no name", delete(("name",))),
        ("no nodes", delete(("nodes",))),
        ("no version key", delete(("symbia",))),
        ("both version keys", set_(("arachne",), "1.0")),
        ("unknown version", set_(("symbia",), "2.0")),
        ("numeric version", set_(("symbia",), 1.0)),
        ("numeric name", set_(("name",), 3)),
        ("node id with a slash", set_(("nodes", 0, "id"), "a/b")),
        ("empty component", set_(("nodes", 0, "component"), "")),
        ("config as array", set_(("nodes", 1, "config"), [])),
        ("capacity zero", set_(("edges", 0, "capacity"), 0)),
        ("capacity huge", set_(("edges", 0, "capacity"), 10**12)),
        ("capacity as bool", set_(("edges", 0, "capacity"), True)),
        ("overflow coalesce", set_(("edges", 0, "overflow"), "coalesce")),
        ("control as string", set_(("edges", 0, "control"), "yes")),
        ("source without port", delete(("edges", 0, "source", "port"))),
        ("source as number", set_(("edges", 0, "source"), 5)),
        ("source shorthand without colon", set_(("edges", 0, "source"), "input")),
        ("edges as object", set_(("edges",), {})),
        ("exposed without port", set_(("inputs",), [{"name": "in", "node": "input"}])),
    ]


@pytest.mark.parametrize(("label", "mutate"), mutations(), ids=[m[0] for m in mutations()])
def test_the_parser_and_the_schema_refuse_the_same_shapes(label: str, mutate: Any) -> None:
    data = copy.deepcopy(raw(EXAMPLES / "quick_reference.json"))
    mutate(data)
    assert list(VALIDATOR.iter_errors(data)), f"the schema accepts: {label}"
    with pytest.raises(SpecError):
        parse_document(data)
