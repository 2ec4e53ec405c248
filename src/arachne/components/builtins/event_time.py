"""The event-time components: the EventClock, Window, Join and IntervalJoin primitives.

``arachne.core.event_clock``, ``arachne.core.window``, ``arachne.core.join`` and
``arachne.core.interval_join`` lower their primitives with the document's config as options;
fields are named (``timestamp: t``), functions being for Python only.
"""

from __future__ import annotations

from typing import Any, Final

from arachne.components.builtins._defs import ANY_VALUE, primitive_factory, strict_object
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.primitives import EventClock, IntervalJoin, Join, Window
from arachne.primitives.joins import EMIT_MODES, INSERT_MODES
from arachne.primitives.windows import REDUCERS

__all__ = ["EVENT_CLOCK", "INTERVAL_JOIN", "JOIN", "WINDOW"]

_FIELD: Final = {"type": "string", "minLength": 1}
_SECONDS: Final = {"type": "number", "minimum": 0}
_SPAN: Final = {"type": "number", "exclusiveMinimum": 0}

_WINDOW_SCHEMA: Final = {
    "description": 'One of {"tumbling": size}, {"sliding": {"size": s, "slide": d}}, '
    '{"session": gap}: seconds of event time',
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "tumbling": {
            "anyOf": [
                _SPAN,
                strict_object({"size": _SPAN, "align": {"type": "number"}}, required=("size",)),
            ]
        },
        "sliding": strict_object(
            {"size": _SPAN, "slide": _SPAN, "align": {"type": "number"}},
            required=("size", "slide"),
        ),
        "session": {"anyOf": [_SPAN, strict_object({"gap": _SPAN}, required=("gap",))]},
    },
    "additionalProperties": False,
}

_LATE: Final = PortDoc(
    "late", {"x-arachne-schema": "Late"}, "Items behind the watermark: Late(key, time, item)"
)


def _fields(*names: str) -> dict[str, Any]:
    described = {
        "key": "The field that groups items (default: one group)",
        "timestamp": "The field holding an item's event time, in seconds (default: the item)",
        "value": "The field the aggregate reads (default: the item)",
    }
    return {name: {**_FIELD, "description": described[name]} for name in names}


EVENT_CLOCK = ComponentDefinition(
    id="arachne.core.event_clock",
    factory=primitive_factory(EventClock),
    name="Event clock",
    category="core",
    description=(
        "Read each item's event time and send a watermark after it (the highest time seen "
        "less max_delay); the EventClock primitive"
    ),
    inputs=(PortDoc("in", ANY_VALUE, "Items with an event time"),),
    outputs=(PortDoc("out", ANY_VALUE, "The same items, followed by watermarks"),),
    config_schema=strict_object(
        {
            **_fields("timestamp"),
            "max_delay": {
                **_SECONDS,
                "description": "How far behind the newest an item may come (default 0)",
            },
            "idle_after": {
                **_SPAN,
                "description": "Seconds without items after which the stream is idle",
            },
        }
    ),
)
"""The event clock component."""

WINDOW = ComponentDefinition(
    id="arachne.core.window",
    factory=primitive_factory(Window),
    name="Window",
    category="core",
    description="Keyed tumbling, sliding or session windows on event time; the Window primitive",
    inputs=(PortDoc("in", ANY_VALUE, "Items, after an event clock"),),
    outputs=(
        PortDoc(
            "out",
            {"x-arachne-schema": "WindowResult"},
            "Each closed window: WindowResult(key, start, end, value, count)",
        ),
        _LATE,
        PortDoc(
            "meta",
            {"x-arachne-schema": "WindowMeta"},
            "How each window closed: WindowMeta(key, start, end, count, watermark)",
        ),
    ),
    config_schema=strict_object(
        {
            "window": _WINDOW_SCHEMA,
            **_fields("key", "timestamp", "value"),
            "aggregate": {"enum": list(REDUCERS), "description": "The reducer (default count)"},
            "allowed_lateness": {
                **_SECONDS,
                "description": "How far behind the watermark an item may still come",
            },
        },
        required=("window",),
    ),
)
"""The window component."""

JOIN = ComponentDefinition(
    id="arachne.core.join",
    factory=primitive_factory(Join),
    name="Join",
    category="core",
    description="A keyed join of two streams with insert and emit modes; the Join primitive",
    inputs=(
        PortDoc("left", ANY_VALUE, "One side"),
        PortDoc("right", ANY_VALUE, "The other side"),
    ),
    outputs=(PortDoc("out", {"x-arachne-schema": "JoinRow"}, "JoinRow(key, left, right)"),),
    config_schema=strict_object(
        {
            **_fields("key"),
            "insert_mode": {"enum": list(INSERT_MODES), "description": "Default last"},
            "emit_mode": {"enum": list(EMIT_MODES), "description": "Default complete"},
        }
    ),
)
"""The join component."""

INTERVAL_JOIN = ComponentDefinition(
    id="arachne.core.interval_join",
    factory=primitive_factory(IntervalJoin),
    name="Interval join",
    category="core",
    description=(
        "Pair each left item at tl with the right items at tl+lower..tl+upper of its key; "
        "state evicted by watermark; the IntervalJoin primitive"
    ),
    inputs=(
        PortDoc("left", ANY_VALUE, "One side, after an event clock"),
        PortDoc("right", ANY_VALUE, "The other side, after an event clock"),
    ),
    outputs=(
        PortDoc("out", {"x-arachne-schema": "JoinRow"}, "JoinRow(key, left, right)"),
        _LATE,
    ),
    config_schema=strict_object(
        {
            **_fields("key", "timestamp"),
            "lower": {"type": "number", "description": "Seconds from tl where pairing starts"},
            "upper": {"type": "number", "description": "Seconds from tl where it ends"},
        },
        required=("lower", "upper"),
    ),
)
"""The interval join component."""
