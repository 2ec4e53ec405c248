"""Limits on graph documents, so a hostile document costs bounded time and memory."""

from __future__ import annotations

from typing import Final

__all__ = [
    "MAX_CAPACITY",
    "MAX_COMPONENTS",
    "MAX_DEPTH",
    "MAX_EDGES",
    "MAX_FLOW_DEPTH",
    "MAX_ID_LENGTH",
    "MAX_INCLUDE_DEPTH",
    "MAX_NODES",
    "MAX_PRIORITY",
    "MAX_PROBLEMS",
    "MAX_TEXT_SIZE",
    "MAX_VALUES",
    "MAX_YAML_SIZE",
    "SPEC_VERSIONS",
]

SPEC_VERSIONS: Final[tuple[str, ...]] = ("1.0",)
"""Values of ``arachne:`` (or ``symbia:``) this release reads."""

MAX_TEXT_SIZE: Final = 4 * 1024 * 1024
"""Longest JSON document accepted, in characters (or bytes, for a file): 4 MiB."""

MAX_YAML_SIZE: Final = 256 * 1024
"""Longest YAML document accepted: 256 KiB. Pure-Python YAML reads about 100 KB/s and is
read twice (see ``arachne.spec._yaml``); write bigger graphs as JSON."""

MAX_FLOW_DEPTH: Final = 32
"""Deepest YAML flow nesting (``[`` and ``{``, counted even inside strings)."""

MAX_NODES: Final = 10_000
"""Most nodes one document may declare."""

MAX_COMPONENTS: Final = 100
"""Most code components one document may define in its ``components`` section."""

MAX_EDGES: Final = 10_000
"""Most edges one document may declare."""

MAX_DEPTH: Final = 64
"""Deepest nesting of objects and arrays (the document itself is level 1)."""

MAX_VALUES: Final = 500_000
"""Most values (objects, arrays and scalars) in a document, counting YAML aliases expanded."""

MAX_ID_LENGTH: Final = 128
"""Longest node id, edge id, port name or exposed port name."""

MAX_CAPACITY: Final = 1_000_000
"""Largest edge capacity a document may ask for."""

MAX_PRIORITY: Final = 1_000_000
"""Largest absolute edge priority a document may ask for."""

MAX_INCLUDE_DEPTH: Final = 32
"""Deepest nesting of documents used as components inside other documents."""

MAX_PROBLEMS: Final = 200
"""Most problems collected for one error; a hostile document cannot make the message huge."""
