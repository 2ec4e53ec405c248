"""The service's OpenAPI document: FastAPI's, with the graph document's JSON Schema and links.

``POST /api/graphs`` takes a graph document read as raw JSON (so its errors name the document's
own paths); its request body refers to ``#/components/schemas/GraphDocument``, which this
module fills from :data:`arachne.spec.schema.DOCUMENT_SCHEMA`, its ``$defs`` moved beside it.
A loaded graph's id and a started execution's id are linked to the operations that take them.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from arachne.spec.schema import DOCUMENT_SCHEMA

__all__ = ["GRAPH_DOCUMENT_REF", "install_openapi"]

GRAPH_DOCUMENT_REF: Final = "#/components/schemas/GraphDocument"
"""Where a request body refers for a graph document."""


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the document with the graph document's schema in it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(_graph_schemas())
            _link(document, ("/api/graphs", "post"), "graph_id", "$response.body#/id")
            _link(
                document,
                ("/api/graphs/{graph_id}/execute", "post"),
                "execution_id",
                "$response.body#/executionId",
            )
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _link(document: dict[str, Any], source: tuple[str, str], name: str, value: str) -> None:
    """Link ``source``'s success to every operation taking the path parameter ``name``.

    The links say where a new graph's or execution's id can be used next (OpenAPI clients
    and Schemathesis' stateful phase follow them).
    """
    path, method = source
    operation = document["paths"][path][method]
    success = next(code for code in operation["responses"] if code.startswith("2"))
    links = operation["responses"][success].setdefault("links", {})
    for target, operations in document["paths"].items():
        if f"{{{name}}}" not in target:
            continue
        for target_method, target_operation in operations.items():
            link_name = target_operation["operationId"]
            links[link_name] = {
                "operationId": target_operation["operationId"],
                "parameters": {name: value},
                "description": f"{target_method.upper()} {target} with this {name}",
            }


def _graph_schemas() -> dict[str, Any]:
    schema = copy.deepcopy(DOCUMENT_SCHEMA)
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    definitions: dict[str, Any] = schema.pop("$defs", {})
    names = {name: f"GraphDocument_{name}" for name in definitions}
    found = {"GraphDocument": _moved(schema, names)}
    for name, definition in definitions.items():
        found[names[name]] = _moved(definition, names)
    return found


def _moved(node: Any, names: dict[str, str]) -> Any:
    """Return ``node`` with its ``#/$defs/NAME`` references pointing into the components."""
    if isinstance(node, dict):
        return {
            key: (
                f"#/components/schemas/{names[value.removeprefix('#/$defs/')]}"
                if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/")
                else _moved(value, names)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_moved(item, names) for item in node]
    return node
