"""``arachne.core.filter``: route each value by a JavaScript predicate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arachne.components.builtins._defs import (
    ANY_VALUE,
    ERROR_OUTPUT,
    keyword_factory,
    strict_object,
)
from arachne.components.builtins._expression import EXPRESSION_TEXT, compile_expression, truthy
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.model.node import Node
from arachne.model.port import Input, Output

if TYPE_CHECKING:
    from collections.abc import Mapping

    from arachne.model.message import Message

__all__ = ["FILTER", "Filter"]


class Filter(Node):
    """Send each value to ``out`` if ``predicate`` is truthy for it, else to ``rejected``.

    ``predicate`` is a JavaScript expression of ``value`` (``"value > 10"``), compiled once;
    truthiness is JavaScript's (``[]`` is true, ``NaN`` false). When it throws, the value goes
    to the implicit ``error`` port as an ``ErrorRecord``: the node's error policy is ``skip``,
    so with ``error`` unconnected the value is logged, counted and dropped, and the run goes on.
    """

    default_name = "filter"
    error_policy = "skip"
    inp = Input(None, name="in", description="Any value")
    out = Output(None, description="Values the predicate holds for")
    rejected = Output(None, description="Values the predicate does not hold for")

    def __init__(self, *, predicate: str, name: str | None = None) -> None:
        super().__init__(name=name, config={"predicate": predicate})
        self.predicate = compile_expression(predicate)

    def on_config(self, config: Mapping[str, Any]) -> None:
        """Take a new predicate while running (compiled first: a bad one changes nothing)."""
        self.predicate = compile_expression(config["predicate"])

    def on_message(self, port: str, msg: Message) -> None:
        """Route the value by the predicate."""
        value = msg.payload
        self.emit("out" if truthy(self.predicate(value)) else "rejected", value)


FILTER = ComponentDefinition(
    id="arachne.core.filter",
    factory=keyword_factory(Filter),
    name="Filter",
    category="core",
    description="Route each value by a predicate: out, rejected or error",
    inputs=(PortDoc("in", ANY_VALUE, "Any value"),),
    outputs=(
        PortDoc("out", ANY_VALUE, "Values the predicate holds for (matched)"),
        PortDoc("rejected", ANY_VALUE, "Values the predicate does not hold for"),
        PortDoc(ERROR_OUTPUT.name, ERROR_OUTPUT.schema, "Values the predicate threw on"),
    ),
    config_schema=strict_object(
        {
            "predicate": {
                **EXPRESSION_TEXT,
                "description": "JavaScript expression of `value`, e.g. 'value > 10'",
            },
        },
        required=("predicate",),
    ),
    aliases=("symbia.core.filter",),
)
"""The filter component."""
