"""The JSON Schema (draft 2020-12) of graph documents, as ``arachne schema`` prints it.

The schema describes the shape; :func:`~arachne.spec.parse.parse_document` also checks what a
schema cannot say (unique ids, edges naming declared nodes) and names the fix.
"""

from __future__ import annotations

from typing import Any, Final

from arachne.model.policies import ERROR_POLICY_NAMES, OVERFLOW_NAMES
from arachne.spec._edges import EDGE_KEYS, PORT_KEYS
from arachne.spec._fields import EDGE_ID_PATTERN, NAME_PATTERN, TEXT_LIMIT
from arachne.spec.document import DEFAULT_CAPACITY, DEFAULT_VERSION
from arachne.spec.limits import (
    MAX_CAPACITY,
    MAX_COMPONENTS,
    MAX_EDGES,
    MAX_ID_LENGTH,
    MAX_NODES,
    MAX_PRIORITY,
    SPEC_VERSIONS,
)
from arachne.spec.parse import DOCUMENT_KEYS, EXPOSED_KEYS, NODE_KEYS

__all__ = ["DOCUMENT_SCHEMA"]

_NAME: Final = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}
_OBJECT: Final = {"type": "object"}
_TEXT: Final = {"type": "string", "maxLength": TEXT_LIMIT}
_AT_LEAST_0: Final = {"type": "number", "minimum": 0}
_RETRY: Final = {
    "type": "object",
    "properties": {
        "max_attempts": {"type": "integer", "minimum": 1},
        "backoff": _AT_LEAST_0,
        "max_backoff": {"type": ["number", "null"], "minimum": 0},
        "jitter": {"type": "number", "minimum": 0, "maximum": 1},
        "factor": _AT_LEAST_0,
        "then": {"enum": list(ERROR_POLICY_NAMES)},
    },
    "additionalProperties": False,
}


def _closed(
    properties: dict[str, Any], keys: tuple[str, ...], required: list[str]
) -> dict[str, Any]:
    # ``keys`` are the parser's, in its order: tests check both list the same ones.
    properties = {key: properties[key] for key in keys}
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


DOCUMENT_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:arachne:graph-document:1.0",
    "title": "Arachne graph document",
    "description": (
        "A dataflow graph: nodes built from registered components, edges between their "
        "ports. Documents of the Runtime Service (symbia: '1.0') are accepted as well."
    ),
    **_closed(
        {
            "$schema": {
                "type": "string",
                "description": "the schema an editor checks the document against (not read)",
            },
            "arachne": {"enum": list(SPEC_VERSIONS), "description": "format version"},
            "symbia": {"enum": list(SPEC_VERSIONS), "description": "Runtime Service spelling"},
            "name": {**_TEXT, "minLength": 1},
            "version": {**_TEXT, "minLength": 1, "default": DEFAULT_VERSION},
            "description": _TEXT,
            "nodes": {"type": "array", "maxItems": MAX_NODES, "items": {"$ref": "#/$defs/node"}},
            "edges": {
                "type": ["array", "null"],
                "maxItems": MAX_EDGES,
                "items": {"$ref": "#/$defs/edge"},
            },
            "inputs": {"type": ["array", "null"], "items": {"$ref": "#/$defs/exposed"}},
            "outputs": {"type": ["array", "null"], "items": {"$ref": "#/$defs/exposed"}},
            "components": {
                "type": ["array", "null"],
                "maxItems": MAX_COMPONENTS,
                "description": "Code components this graph defines (needs --allow-code).",
                "items": {"type": "object", "required": ["id", "execution"]},
            },
            "metadata": _OBJECT,
        },
        DOCUMENT_KEYS,
        ["name", "nodes"],
    ),
    "oneOf": [{"required": ["arachne"]}, {"required": ["symbia"]}],
    "$defs": {
        "name": {**_NAME, "pattern": NAME_PATTERN},
        "node": _closed(
            {
                "id": {"$ref": "#/$defs/name"},
                "component": {
                    **_TEXT,
                    "minLength": 1,
                    "description": "a registered component id or alias: arachne.core.map",
                },
                "config": {"type": ["object", "null"], "default": {}},
                "errors": {
                    "description": "error policy, overriding the component's",
                    "oneOf": [
                        {"enum": ["fail", "skip", "dead_letter"]},
                        {
                            "type": "object",
                            "properties": {"retry": _RETRY},
                            "required": ["retry"],
                            "additionalProperties": False,
                        },
                    ],
                },
                "renamedFrom": {
                    "description": "ids this node had before: resumed state follows it",
                    "oneOf": [
                        {"$ref": "#/$defs/name"},
                        {"type": "array", "items": {"$ref": "#/$defs/name"}, "minItems": 1},
                    ],
                },
                "name": _TEXT,
                "description": _TEXT,
                "position": _OBJECT,
                "metadata": _OBJECT,
            },
            NODE_KEYS,
            ["id", "component"],
        ),
        "endpoint": {
            "oneOf": [
                {
                    "type": "string",
                    "pattern": NAME_PATTERN.removesuffix("$") + ":" + NAME_PATTERN[1:],
                    "description": "shorthand node:port",
                },
                _closed(
                    {"node": {"$ref": "#/$defs/name"}, "port": {"$ref": "#/$defs/name"}},
                    PORT_KEYS,
                    ["node", "port"],
                ),
            ]
        },
        "edge": _closed(
            {
                "id": {**_NAME, "pattern": EDGE_ID_PATTERN, "description": "default e<n>"},
                "source": {"$ref": "#/$defs/endpoint"},
                "target": {"$ref": "#/$defs/endpoint"},
                "capacity": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_CAPACITY,
                    "default": DEFAULT_CAPACITY,
                },
                "overflow": {"enum": list(OVERFLOW_NAMES), "default": "block"},
                "priority": {
                    "type": "integer",
                    "minimum": -MAX_PRIORITY,
                    "maximum": MAX_PRIORITY,
                    "default": 0,
                },
                "control": {"type": "boolean", "default": False},
            },
            EDGE_KEYS,
            ["source", "target"],
        ),
        "exposed": _closed(
            {
                "name": {"$ref": "#/$defs/name"},
                "node": {"$ref": "#/$defs/name"},
                "port": {"$ref": "#/$defs/name"},
            },
            EXPOSED_KEYS,
            ["name", "node", "port"],
        ),
    },
}
"""JSON Schema of the graph document format (what ``arachne schema`` prints)."""
