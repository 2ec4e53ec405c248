"""The built-in components, registered by :meth:`arachne.components.Registry.default`.

Each is a ``Node`` subclass (usable directly from Python) plus a ``ComponentDefinition``
naming it ``arachne.<category>.<name>``, with the Runtime Service's ``symbia.*`` id as an
alias. ``docs/components.md`` describes every one.
"""

from __future__ import annotations

from arachne.components.builtins.accumulator import ACCUMULATOR, Accumulator
from arachne.components.builtins.dead_letters import DEAD_LETTERS, DeadLetters
from arachne.components.builtins.dedupe import DEDUPE, Dedupe
from arachne.components.builtins.delay import DELAY, Delay
from arachne.components.builtins.event_time import EVENT_CLOCK, INTERVAL_JOIN, JOIN, WINDOW
from arachne.components.builtins.filter import FILTER, Filter
from arachne.components.builtins.http_request import HTTP_REQUEST, HttpRequest
from arachne.components.builtins.json_transform import JSON_TRANSFORM, JsonTransform
from arachne.components.builtins.jsonl_sink import JSONL_SINK, JsonlSink
from arachne.components.builtins.jsonl_source import JSONL_SOURCE, JsonlSource
from arachne.components.builtins.kill_switch import KILL_SWITCH
from arachne.components.builtins.logger import LOGGER, Logger
from arachne.components.builtins.map import MAP, Map
from arachne.components.builtins.merge import MERGE, Merge
from arachne.components.builtins.passthrough import PASSTHROUGH, Passthrough
from arachne.components.builtins.queue import QUEUE_READER, QUEUE_WRITER, QueueReader, QueueWriter
from arachne.components.builtins.rate_limiter import RATE_LIMITER
from arachne.components.builtins.split import SPLIT, Split
from arachne.components.definition import ComponentDefinition

__all__ = [
    "BUILTINS",
    "Accumulator",
    "DeadLetters",
    "Dedupe",
    "Delay",
    "Filter",
    "HttpRequest",
    "JsonTransform",
    "JsonlSink",
    "JsonlSource",
    "Logger",
    "Map",
    "Merge",
    "Passthrough",
    "QueueReader",
    "QueueWriter",
    "Split",
]

BUILTINS: tuple[ComponentDefinition, ...] = (
    PASSTHROUGH,
    LOGGER,
    DELAY,
    FILTER,
    MAP,
    MERGE,
    SPLIT,
    ACCUMULATOR,
    DEDUPE,
    RATE_LIMITER,
    KILL_SWITCH,
    EVENT_CLOCK,
    WINDOW,
    JOIN,
    INTERVAL_JOIN,
    DEAD_LETTERS,
    HTTP_REQUEST,
    JSONL_SOURCE,
    JSONL_SINK,
    JSON_TRANSFORM,
    QUEUE_WRITER,
    QUEUE_READER,
)
"""Every built-in definition, in the order ``arachne components`` lists them."""
