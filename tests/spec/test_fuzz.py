"""Whatever a document holds, parsing, analysis and building raise only ``SpecError``."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arachne import SpecError, Subgraph
from arachne.model.validation import errors_in
from arachne.spec import analyze, build, loads_document, parse_document
from arachne.spec.parse import DOCUMENT_KEYS
from tests.spec.components import registry

REGISTRY = registry()
KINDS = ["core.relay", "math.scale", "core.collect", "io.numbers", "text.upper", "core.broken"]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["n0", "n1:out", "n2:in", "block", "coalesce", "1.0", 10**40, -(2**63)])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6) | st.sampled_from(DOCUMENT_KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)


def check(data: object) -> None:
    """Run the whole pipeline: it either yields a valid graph or raises SpecError."""
    try:
        doc = parse_document(data)
        analyze(doc)
        sub = build(doc, REGISTRY)
    except SpecError:
        return
    assert isinstance(sub, Subgraph)
    assert errors_in(sub.validate()) == []
    sub.to_graph()


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed document over the test components, possibly cyclic or mis-wired."""
    count = draw(st.integers(1, 5))
    nodes: list[dict[str, Any]] = [
        {"id": f"n{i}", "component": f"test.{draw(st.sampled_from(KINDS))}"} for i in range(count)
    ]
    edges: list[dict[str, Any]] = []
    forward = [(a, b) for a in range(count) for b in range(a + 1, count)]
    for _ in range(draw(st.integers(0, 6))):
        if forward and draw(st.integers(0, 7)) > 0:  # mostly acyclic, sometimes anything
            a, b = draw(st.sampled_from(forward))
        else:
            a = draw(st.integers(0, count - 1))
            b = draw(st.integers(0, count - 1))
        source_port = draw(st.sampled_from(["out", "error", "in"]))
        edge: dict[str, Any] = {"source": f"n{a}:{source_port}", "target": f"n{b}:in"}
        if draw(st.booleans()):
            edge["target"] = {"node": f"n{b}", "port": "in"}
        if draw(st.booleans()):
            edge["capacity"] = draw(st.integers(1, 100))
            edge["overflow"] = draw(st.sampled_from(["block", "drop", "latest", "fail"]))
        edges.append(edge)
    return {"arachne": "1.0", "name": "fuzz", "nodes": nodes, "edges": edges}


def locations(data: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) pair inside ``data``."""
    found: list[tuple[Any, Any]] = []
    stack = [data]
    while stack:
        item = stack.pop()
        keys = list(item) if isinstance(item, dict) else range(len(item))
        for key in keys:
            found.append((item, key))
            if isinstance(item[key], dict | list):
                stack.append(item[key])
    return found


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A document with a few random edits: keys dropped, types changed, ids swapped, ..."""
    data = draw(documents())
    for _ in range(draw(st.integers(1, 4))):
        container, key = draw(st.sampled_from(locations(data)))
        action = draw(
            st.sampled_from(["drop", "value", "huge", "deep", "unknown", "swap", "wrap", "cycle"])
        )
        if action == "drop":
            del container[key]
        elif action == "value":
            container[key] = draw(values)
        elif action == "huge":
            container[key] = draw(st.sampled_from([10**30, -(10**30), 2**63, 1e308, -1e308]))
        elif action == "deep":
            container[key] = deep(draw(st.integers(60, 300)))
        elif action == "unknown" and isinstance(container, dict):
            container[draw(st.text(min_size=1, max_size=6))] = draw(values)
        elif action == "swap":
            container[key] = draw(st.sampled_from(["n0", "n1", "n0:out", "n1:in"]))
        elif action == "wrap":
            container[key] = [container[key]]
        elif action == "cycle" and data.get("nodes"):
            data.setdefault("edges", [])
            if isinstance(data["edges"], list):
                data["edges"].append({"source": "n0:out", "target": "n0:in"})
        if not locations(data):
            break
    return data


@FUZZ
@given(values)
def test_any_json_value(data: object) -> None:
    check(data)


@FUZZ
@given(st.dictionaries(st.sampled_from(DOCUMENT_KEYS), values, max_size=8))
def test_any_object_with_document_keys(data: dict[str, Any]) -> None:
    check({"arachne": "1.0", **data})


@FUZZ
@given(documents())
def test_well_formed_documents_build_or_explain(data: dict[str, Any]) -> None:
    check(data)


@FUZZ
@given(mutated())
def test_mutated_documents(data: dict[str, Any]) -> None:
    check(data)


@FUZZ
@given(mutated())
def test_mutated_documents_as_json_and_yaml_text(data: dict[str, Any]) -> None:
    for text, fmt in ((json.dumps(data), "json"), (yaml.safe_dump(data), "yaml")):
        try:
            doc = loads_document(text, format=fmt)  # type: ignore[arg-type]
        except SpecError:
            continue
        check(doc.to_dict())


@FUZZ
@given(st.text(max_size=200), st.sampled_from(["json", "yaml"]))
def test_any_text(text: str, fmt: str) -> None:
    with contextlib.suppress(SpecError):
        loads_document(text, format=fmt)  # type: ignore[arg-type]
