"""``arachne.core.logger``: log every value through the node's logger and forward it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from arachne.components.builtins._defs import ANY_VALUE, keyword_factory, strict_object
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.components.json_text import render
from arachne.model.node import Node
from arachne.model.port import Input, Output

if TYPE_CHECKING:
    from arachne.model.message import Message

__all__ = ["LEVELS", "LOGGER", "Logger"]

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
"""The ``level`` names the logger accepts."""


class Logger(Node):
    """Log each value (as JSON) at ``level``, after ``prefix``; forward it unchanged.

    Lines go to the node's own logger, ``arachne.node.<node id>``, so the usual logging
    configuration decides where they appear; a level that is off costs one check per value.
    """

    default_name = "logger"
    inp = Input(None, name="in", description="Any value")
    out = Output(None, description="The same value, after it was logged")

    def __init__(self, *, level: str = "info", prefix: str = "", name: str | None = None) -> None:
        if level not in LEVELS:
            raise ValueError(f"level {level!r} is not one of {', '.join(LEVELS)}")
        super().__init__(name=name, config={"level": level, "prefix": prefix})
        self.level = LEVELS[level]
        self.prefix = prefix

    def on_message(self, port: str, msg: Message) -> None:
        """Log the value, then forward it."""
        logger = self.context.logger
        if logger.isEnabledFor(self.level):
            logger.log(self.level, "%s%s", self.prefix, render(msg.payload))
        self.emit("out", msg.payload)


LOGGER = ComponentDefinition(
    id="arachne.core.logger",
    factory=keyword_factory(Logger),
    name="Logger",
    category="core",
    description="Log each value and forward it",
    inputs=(PortDoc("in", ANY_VALUE, "Any value"),),
    outputs=(PortDoc("out", ANY_VALUE, "The same value, after it was logged"),),
    config_schema=strict_object(
        {
            "level": {
                "enum": list(LEVELS),
                "default": "info",
                "description": "Log level of each line",
            },
            "prefix": {
                "type": "string",
                "default": "",
                "description": "Text written before each value",
            },
        }
    ),
    aliases=("symbia.core.logger",),
)
"""The logger component."""
