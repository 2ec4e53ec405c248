"""Small components for the spec tests, registered into a fresh ``Registry``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arachne import Input, Message, Node, Output
from arachne.components import ComponentDefinition, Registry


class Numbers(Node):
    """A source with one int output; emits ``config["values"]`` then finishes."""

    out = Output(int)

    def on_tick(self) -> None:
        values = list(self.context.config.get("values", []))
        for value in values:
            self.emit("out", value)
        self.finish()


class Scale(Node):
    """Multiplies ints by ``config["factor"]``."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload * self.context.config["factor"])


class Relay(Node):
    """Forwards anything."""

    inp = Input(None, name="in")
    out = Output(None)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload)


class Upper(Node):
    """Takes and gives strings (to clash with ``Scale``'s ints)."""

    inp = Input(str, name="in")
    out = Output(str)


class Collect(Node):
    """Keeps every payload it receives."""

    inp = Input(None, name="in")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.payloads: list[Any] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.payloads.append(msg.payload)


SCALE_CONFIG: Mapping[str, Any] = {
    "type": "object",
    "properties": {"factor": {"type": "integer", "default": 2}},
    "additionalProperties": False,
}


def broken(config: Mapping[str, Any]) -> Node:
    raise KeyError("boom")


def registry() -> Registry:
    """Return a registry with the test components under ``test.*`` (and a ``symbia`` alias)."""
    reg = Registry()
    reg.register_node(
        Numbers,
        id="test.io.numbers",
        config_schema={"type": "object", "properties": {"values": {"type": "array"}}},
    )
    reg.register_node(
        Scale, id="test.math.scale", config_schema=SCALE_CONFIG, aliases=("symbia.test.scale",)
    )
    reg.register_node(Relay, id="test.core.relay")
    reg.register_node(Upper, id="test.text.upper")
    reg.register_node(Collect, id="test.core.collect")
    reg.register(ComponentDefinition(id="test.core.broken", factory=broken))
    return reg


def doc(*nodes: tuple[str, str], edges: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Return document data with ``nodes`` given as ``(id, component suffix)`` pairs."""
    return {
        "arachne": "1.0",
        "name": "test",
        "nodes": [{"id": node_id, "component": f"test.{kind}"} for node_id, kind in nodes],
        "edges": edges or [],
        **extra,
    }


def chain() -> dict[str, Any]:
    """Return numbers -> scale -> collect, with shorthand edges."""
    return doc(
        ("numbers", "io.numbers"),
        ("scale", "math.scale"),
        ("sink", "core.collect"),
        edges=[
            {"source": "numbers:out", "target": "scale:in"},
            {"source": "scale:out", "target": "sink:in"},
        ],
    )
