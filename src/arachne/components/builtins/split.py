"""``arachne.core.split``: branch each value on a JavaScript condition."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    from arachne.model.message import Message

__all__ = ["SPLIT", "Split"]


class Split(Node):
    """Send each value to ``true`` or ``false``, by what ``condition`` says of it.

    ``condition`` is a JavaScript expression of ``value``
    (``"value.status === 'active'"``), compiled once, judged by JavaScript truthiness. When it
    throws, the value goes to the implicit ``error`` port as an ``ErrorRecord`` (policy
    ``skip``: with ``error`` unconnected it is logged, counted and dropped).
    """

    default_name = "split"
    error_policy = "skip"
    inp = Input(None, name="in", description="Any value")
    when_true = Output(None, name="true", description="Values the condition holds for")
    when_false = Output(None, name="false", description="Values the condition does not hold for")

    def __init__(self, *, condition: str, name: str | None = None) -> None:
        super().__init__(name=name, config={"condition": condition})
        self.condition = compile_expression(condition)

    def on_message(self, port: str, msg: Message) -> None:
        """Send the value down the branch the condition picks."""
        value = msg.payload
        self.emit("true" if truthy(self.condition(value)) else "false", value)


SPLIT = ComponentDefinition(
    id="arachne.core.split",
    factory=keyword_factory(Split),
    name="Split",
    category="core",
    description="Branch each value on a condition: true or false",
    inputs=(PortDoc("in", ANY_VALUE, "Any value"),),
    outputs=(
        PortDoc("true", ANY_VALUE, "Values the condition holds for"),
        PortDoc("false", ANY_VALUE, "Values the condition does not hold for"),
        ERROR_OUTPUT,
    ),
    config_schema=strict_object(
        {
            "condition": {
                **EXPRESSION_TEXT,
                "description": 'JavaScript expression of `value`, e.g. "value.ok === true"',
            },
        },
        required=("condition",),
    ),
    aliases=("symbia.core.split",),
)
"""The split component."""
