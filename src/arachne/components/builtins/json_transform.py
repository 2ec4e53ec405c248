"""``arachne.data.json-transform``: reshape each value with a JMESPath expression."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arachne.components.builtins._defs import (
    ANY_VALUE,
    ERROR_OUTPUT,
    keyword_factory,
    strict_object,
)
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.model.node import Node
from arachne.model.port import Input, Output

if TYPE_CHECKING:
    from arachne.model.message import Message

__all__ = ["JSON_TRANSFORM", "JsonTransform", "compile_jmespath"]


class JsonTransform(Node):
    """Send what the JMESPath ``expression`` selects from each value (``null`` if nothing).

    The expression is compiled once, when the node is built, so a syntax error is reported
    then (as a ``SpecError`` from a graph document). A type error while searching (``length``
    of a number, say) fails the message: under the default ``skip`` policy it becomes an
    ``ErrorRecord`` on ``error``, or a logged warning when ``error`` is not connected.
    """

    default_name = "json_transform"
    error_policy = "skip"
    inp = Input(None, name="in", description="Any JSON value")
    out = Output(None, description="What the expression selects; null when it selects nothing")

    def __init__(self, *, expression: str, name: str | None = None) -> None:
        super().__init__(name=name, config={"expression": expression})
        self.expression = expression
        self._search = compile_jmespath(expression).search

    def on_message(self, port: str, msg: Message) -> None:
        """Search the value and send the result."""
        self.emit("out", self._search(msg.payload))


def compile_jmespath(expression: str) -> Any:
    """Return the compiled JMESPath ``expression``; ``ValueError`` names what is wrong."""
    import jmespath  # lazily: only graphs that use it pay for the import
    from jmespath.exceptions import JMESPathError

    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"expression must be a non-empty JMESPath string, got {expression!r}")
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        detail = getattr(exc, "message", None) or getattr(exc, "msg", None) or str(exc)
        token = getattr(exc, "token_value", None)
        if token is None and "Incomplete" in type(exc).__name__:
            detail = "incomplete expression"
        elif token is not None and "message" not in vars(exc):
            detail = f"{detail} {token!r}"
        position = getattr(exc, "lex_position", None)
        where = f" at position {position}" if isinstance(position, int) else ""
        raise ValueError(
            f"expression {expression!r} is not valid JMESPath: {detail}{where}; "
            "see https://jmespath.org/specification.html"
        ) from None


JSON_TRANSFORM = ComponentDefinition(
    id="arachne.data.json-transform",
    factory=keyword_factory(JsonTransform),
    name="JSON transform",
    category="data",
    description="Extract or reshape each value with a JMESPath expression",
    inputs=(PortDoc("in", ANY_VALUE, "Any JSON value"),),
    outputs=(
        PortDoc("out", ANY_VALUE, "What the expression selects; null when it selects nothing"),
        ERROR_OUTPUT,
    ),
    config_schema=strict_object(
        {
            "expression": {
                "type": "string",
                "minLength": 1,
                "description": "JMESPath expression, e.g. 'data.items[?active].name'",
            },
        },
        required=("expression",),
    ),
    aliases=("symbia.data.json-transform",),
)
"""The json-transform component."""
