from __future__ import annotations

import dataclasses

import pytest

from arachne.model.context import NodeContext


def test_create_copies_config_read_only() -> None:
    config = {"threshold": 3}
    ctx = NodeContext.create("parse", config=config)
    config["threshold"] = 99
    assert ctx.config == {"threshold": 3}
    with pytest.raises(TypeError):
        ctx.config["threshold"] = 4  # type: ignore[index]


def test_create_fills_ids_and_node_logger() -> None:
    ctx = NodeContext.create("etl/parse", execution_id="ex-1", graph_name="etl")
    assert ctx.node_id == "etl/parse"
    assert ctx.execution_id == "ex-1"
    assert ctx.graph_name == "etl"
    assert ctx.logger.name == "arachne.node.etl/parse"
    assert dict(ctx.config) == {}


def test_create_uses_given_state_object() -> None:
    state: dict[str, object] = {"seen": 1}
    ctx = NodeContext.create("n", state=state)
    ctx.state["seen"] = 2
    assert state == {"seen": 2}


def test_state_is_fresh_per_context() -> None:
    a, b = NodeContext.create("a"), NodeContext.create("b")
    a.state["k"] = 1
    assert b.state == {}
    c, d = NodeContext("c"), NodeContext("d")
    c.state["k"] = 1
    assert d.state == {}


def test_plain_constructor_defaults() -> None:
    ctx = NodeContext("n")
    assert (ctx.execution_id, ctx.graph_name) == ("", "")
    assert dict(ctx.config) == {}
    assert ctx.logger.name == "arachne.node"


def test_context_is_frozen() -> None:
    ctx = NodeContext.create("n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.node_id = "m"  # type: ignore[misc]
