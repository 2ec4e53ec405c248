"""The ``arachne.core.kill_switch`` component: the KillSwitch primitive in graph documents."""

from __future__ import annotations

from arachne.components.builtins._defs import ANY_VALUE, primitive_factory, strict_object
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.primitives import KillSwitch

__all__ = ["KILL_SWITCH"]


KILL_SWITCH = ComponentDefinition(
    id="arachne.core.kill_switch",
    factory=primitive_factory(KillSwitch),
    name="Kill switch",
    category="core",
    description=(
        "Pass values until `shutdown` or `abort` comes on `control` (served before any data); "
        "the KillSwitch primitive"
    ),
    inputs=(
        PortDoc("in", ANY_VALUE, "Any value"),
        PortDoc(
            "control",
            {"anyOf": [{"enum": ["shutdown", "abort"]}, {"type": "object"}]},
            'Commands: "shutdown", "abort" or {"abort": reason}; link it with control: true',
        ),
    ),
    outputs=(PortDoc("out", ANY_VALUE, "Values that came before a command"),),
    config_schema=strict_object({}),
)
"""The kill switch component."""
