"""The built-in definitions: ids, aliases, strict config schemas and ports that match the nodes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from arachne import Node, Subgraph
from arachne.components import Registry
from arachne.components.builtins import BUILTINS
from arachne.components.definition import ComponentDefinition

SEED_ALIASES = {
    "symbia.core.passthrough",
    "symbia.core.logger",
    "symbia.core.delay",
    "symbia.core.filter",
    "symbia.core.map",
    "symbia.core.merge",
    "symbia.core.split",
    "symbia.core.accumulator",
    "symbia.io.http-request",
    "symbia.data.json-transform",
}

SAMPLE_CONFIG: dict[str, dict[str, Any]] = {
    "arachne.core.filter": {"predicate": "value > 10"},
    "arachne.core.map": {"expression": "value * 2"},
    "arachne.core.split": {"condition": "value.ok"},
    "arachne.data.json-transform": {"expression": "a.b"},
    "arachne.io.jsonl-source": {"path": "in.jsonl"},
    "arachne.io.jsonl-sink": {"path": "out.jsonl"},
    "arachne.durable.queue-writer": {"store": "queue.db", "queue": "jobs"},
    "arachne.durable.queue-reader": {"store": "queue.db", "queue": "jobs"},
    "arachne.core.rate_limiter": {"rate": 5.0, "burst": 2},
    "arachne.core.window": {"window": {"tumbling": {"size": 10.0, "align": 0.0}}},
    "arachne.core.interval_join": {"lower": 0, "upper": 5},
}
PRIMITIVES = {
    "arachne.core.rate_limiter": "RateLimiter",
    "arachne.core.kill_switch": "KillSwitch",
    "arachne.core.event_clock": "EventClock",
    "arachne.core.window": "Window",
    "arachne.core.join": "Join",
    "arachne.core.interval_join": "IntervalJoin",
}
"""The built-ins that are primitives: each builds the subgraph its contract lowers into."""


def ids(definition: ComponentDefinition) -> str:
    return definition.id


def test_every_component_of_the_runtime_service_is_there_under_its_alias() -> None:
    registry = Registry.default()
    own = {"symbia.core.dead-letters"}  # (not the Runtime Service's: for its documents' sake)
    assert {alias for d in BUILTINS for alias in d.aliases} == SEED_ALIASES | own
    for alias in SEED_ALIASES:
        definition = registry.resolve(alias)
        assert definition.id == "arachne." + alias.removeprefix("symbia.")
    assert len({d.id for d in BUILTINS}) == len(BUILTINS) == 22


@pytest.mark.parametrize("definition", BUILTINS, ids=ids)
def test_the_id_names_the_category(definition: ComponentDefinition) -> None:
    assert definition.id.split(".")[:2] == ["arachne", definition.category]
    assert definition.category in ("core", "io", "data", "durable")
    assert definition.name
    assert definition.description


@pytest.mark.parametrize("definition", BUILTINS, ids=ids)
def test_the_config_schema_is_strict_and_its_defaults_are_valid(
    definition: ComponentDefinition,
) -> None:
    schema = definition.config_schema
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    for key, prop in schema["properties"].items():
        assert prop.get("description"), key
        if "default" in prop:
            Draft202012Validator(prop).validate(prop["default"])


@pytest.mark.parametrize("definition", BUILTINS, ids=ids)
def test_the_documented_ports_are_the_node_ports(definition: ComponentDefinition) -> None:
    built = Registry.default().create(definition.id, SAMPLE_CONFIG.get(definition.id, {}))
    outputs = [p.name for p in definition.outputs if p.name != "error"]
    if definition.id in PRIMITIVES:  # (a primitive lowered: its exposed ports)
        assert isinstance(built, Subgraph)
        assert [p.name for p in definition.inputs] == list(built.inputs())
        assert outputs == list(built.outputs())
        return
    assert isinstance(built, Node)
    assert [p.name for p in definition.inputs] == list(built.input_specs())
    assert outputs == list(built.output_specs())


@pytest.mark.parametrize("definition", BUILTINS, ids=ids)
def test_a_built_node_carries_its_config(definition: ComponentDefinition) -> None:
    config = SAMPLE_CONFIG.get(definition.id, {})
    built = Registry.default().create(definition.id, config)
    if definition.id in PRIMITIVES:  # (its mark keeps the options, the manifest digests them)
        assert isinstance(built, Subgraph)
        assert built.primitive is not None
        assert built.primitive.contract == PRIMITIVES[definition.id]
        assert config.items() <= dict(built.primitive.options).items()
        return
    assert isinstance(built, Node)
    assert config.items() <= dict(built.context.config).items()


def test_definitions_are_json_ready() -> None:
    data = [d.to_dict() for d in BUILTINS]
    assert json.loads(json.dumps(data)) == data
    [filter_doc] = [d for d in data if d["id"] == "arachne.core.filter"]
    assert [p["name"] for p in filter_doc["ports"]["outputs"]] == ["out", "rejected", "error"]
