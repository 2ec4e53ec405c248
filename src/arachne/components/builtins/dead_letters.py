"""``arachne.core.dead-letters``: keep the records of failed messages, for inspection and replay."""

from __future__ import annotations

from arachne.components.builtins._defs import ERROR_RECORD_SCHEMA, keyword_factory, strict_object
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.model.dead_letters import DEFAULT_LIMIT, DeadLetters

__all__ = ["DEAD_LETTERS", "DeadLetters"]

DEAD_LETTERS = ComponentDefinition(
    id="arachne.core.dead-letters",
    factory=keyword_factory(DeadLetters),
    name="Dead letters",
    category="core",
    description="Keep failed messages' records for inspection and replay",
    inputs=(
        PortDoc(
            "in",
            ERROR_RECORD_SCHEMA,
            "ErrorRecords: link nodes' error ports here",
        ),
    ),
    config_schema=strict_object(
        {
            "limit": {
                "type": "integer",
                "minimum": 1,
                "default": DEFAULT_LIMIT,
                "description": "Records kept; past it the oldest go, counted in overflowed",
            },
        }
    ),
    aliases=("symbia.core.dead-letters",),
)
"""The dead-letters component: a :class:`~arachne.model.DeadLetters` built from a document."""
