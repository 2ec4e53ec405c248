"""``arachne.core.merge``: several inputs into one output, in arrival order."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from arachne.components.builtins._defs import ANY_VALUE, PORT_NAME, keyword_factory, strict_object
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.model.node import Node

if TYPE_CHECKING:
    from arachne.model.message import Message

__all__ = ["MERGE", "Merge"]

_PORT = re.compile(str(PORT_NAME["pattern"]))


class Merge(Node):
    """Forward every value from any input to ``out``, unchanged and as it arrives.

    By default there is one input, ``in``, and any number of edges may end there (fan-in).
    Name several ``inputs`` (``["left", "right"]``) to give each upstream its own port: each
    port then has its own queue and the scheduler serves them in turn, so a flooded input
    cannot starve the others.
    """

    default_name = "merge"

    def __init__(self, *, inputs: Sequence[str] = ("in",), name: str | None = None) -> None:
        names = list(inputs)
        bad = [n for n in names if not isinstance(n, str) or not _PORT.match(n)]
        if not names or bad or len(set(names)) != len(names):
            raise ValueError(
                f"inputs must be distinct port names (words, not 'error'), got {names!r}"
            )
        super().__init__(name=name, config={"inputs": names})
        self.input_names = tuple(names)

    def inputs(self) -> Mapping[str, Any]:
        """Return the configured input ports (any value on each)."""
        return dict.fromkeys(self.input_names)

    def outputs(self) -> Mapping[str, Any]:
        """Return the one output, ``out``."""
        return {"out": None}

    def on_message(self, port: str, msg: Message) -> None:
        """Forward the value."""
        self.emit("out", msg.payload)

    def on_batch(self, port: str, msgs: list[Message]) -> None:
        """Forward a batch of messages as they are (each keeps its own headers)."""
        emit = self.emit
        for msg in msgs:
            emit("out", msg)


MERGE = ComponentDefinition(
    id="arachne.core.merge",
    factory=keyword_factory(Merge),
    name="Merge",
    category="core",
    description="Combine several inputs into one output, in arrival order",
    inputs=(
        PortDoc(
            "in",
            ANY_VALUE,
            "Any value; any number of edges may end here (the names in 'inputs' replace it)",
        ),
    ),
    outputs=(PortDoc("out", ANY_VALUE, "Every value from every input, unchanged"),),
    config_schema=strict_object(
        {
            "inputs": {
                "type": "array",
                "items": dict(PORT_NAME),
                "minItems": 1,
                "uniqueItems": True,
                "default": ["in"],
                "description": "Names of the input ports",
            },
        }
    ),
    aliases=("symbia.core.merge",),
)
"""The merge component."""
