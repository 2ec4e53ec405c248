"""The ``arachne.core.rate_limiter`` component: the RateLimiter primitive in graph documents."""

from __future__ import annotations

from arachne.components.builtins._defs import ANY_VALUE, primitive_factory, strict_object
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.primitives import RateLimiter

__all__ = ["RATE_LIMITER"]


RATE_LIMITER = ComponentDefinition(
    id="arachne.core.rate_limiter",
    factory=primitive_factory(RateLimiter),
    name="Rate limiter",
    category="core",
    description=(
        "Pass values at `rate` per second with bursts of `burst` (GCRA on the runtime clock); "
        "the RateLimiter primitive"
    ),
    inputs=(PortDoc("in", ANY_VALUE, "Any value"),),
    outputs=(
        PortDoc("out", ANY_VALUE, "Values within the rate (delayed until they are, by shape)"),
        PortDoc("rejected", ANY_VALUE, "Values over the rate, when mode is police"),
    ),
    config_schema=strict_object(
        {
            "rate": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Values per second, on average",
            },
            "burst": {
                "type": "integer",
                "minimum": 1,
                "description": "Values that may pass at once after a quiet spell (default 1)",
            },
            "mode": {
                "enum": ["shape", "police"],
                "description": "shape delays values over the rate (default); police rejects them",
            },
        },
        required=("rate",),
    ),
)
"""The rate limiter component."""
