"""``arachne.core.passthrough``: forward every value unchanged."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.components.builtins._defs import ANY_VALUE, keyword_factory, strict_object
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.model.node import Node
from arachne.model.port import Input, Output

if TYPE_CHECKING:
    from arachne.model.message import Message

__all__ = ["PASSTHROUGH", "Passthrough"]


class Passthrough(Node):
    """Forward every value from ``in`` to ``out`` unchanged, headers included.

    The usual entry point of a graph document: values injected into ``in`` flow on from here.
    """

    default_name = "passthrough"
    inp = Input(None, name="in", description="Any value")
    out = Output(None, description="The same value")

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name, config={})

    def on_message(self, port: str, msg: Message) -> None:
        """Forward the value."""
        self.emit("out", msg.payload)

    def on_batch(self, port: str, msgs: list[Message]) -> None:
        """Forward a batch of messages as they are (so each keeps its own headers)."""
        emit = self.emit
        for msg in msgs:
            emit("out", msg)


PASSTHROUGH = ComponentDefinition(
    id="arachne.core.passthrough",
    factory=keyword_factory(Passthrough),
    name="Passthrough",
    category="core",
    description="Forward every value unchanged",
    inputs=(PortDoc("in", ANY_VALUE, "Any value"),),
    outputs=(PortDoc("out", ANY_VALUE, "The same value"),),
    config_schema=strict_object({}),
    aliases=("symbia.core.passthrough",),
)
"""The passthrough component."""
