"""``arachne.core.map``: transform each value with a JavaScript expression."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arachne.components.builtins._defs import (
    ANY_VALUE,
    ERROR_OUTPUT,
    keyword_factory,
    strict_object,
)
from arachne.components.builtins._expression import EXPRESSION_TEXT, compile_expression
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.model.node import Node
from arachne.model.port import Input, Output

if TYPE_CHECKING:
    from collections.abc import Mapping

    from arachne.model.message import Message

__all__ = ["MAP", "Map"]


class Map(Node):
    """Send what ``expression`` makes of each value (``"value * 2"``, ``"value.data.items"``).

    The JavaScript expression is compiled once; ``undefined`` comes out as ``null``. When it
    throws, the value goes to the implicit ``error`` port as an ``ErrorRecord`` (policy
    ``skip``: with ``error`` unconnected it is logged, counted and dropped).
    """

    default_name = "map"
    error_policy = "skip"
    inp = Input(None, name="in", description="Any value")
    out = Output(None, description="The expression's result")

    def __init__(self, *, expression: str, name: str | None = None) -> None:
        super().__init__(name=name, config={"expression": expression})
        self.expression = compile_expression(expression)

    def on_config(self, config: Mapping[str, Any]) -> None:
        """Take a new expression while running (compiled first: a bad one changes nothing)."""
        self.expression = compile_expression(config["expression"])

    def on_message(self, port: str, msg: Message) -> None:
        """Send the expression's result."""
        self.emit("out", self.expression(msg.payload))


MAP = ComponentDefinition(
    id="arachne.core.map",
    factory=keyword_factory(Map),
    name="Map",
    category="core",
    description="Transform each value with an expression",
    inputs=(PortDoc("in", ANY_VALUE, "Any value"),),
    outputs=(PortDoc("out", ANY_VALUE, "The expression's result"), ERROR_OUTPUT),
    config_schema=strict_object(
        {
            "expression": {
                **EXPRESSION_TEXT,
                "description": "JavaScript expression of `value`, e.g. 'value * 2'",
            },
        },
        required=("expression",),
    ),
    aliases=("symbia.core.map",),
)
"""The map component."""
