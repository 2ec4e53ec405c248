"""Node config checked against a component's JSON Schema, with errors that name the field."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from arachne.model.errors import SpecError, shown

__all__ = ["check_config", "json_path"]


def check_config(schema: Mapping[str, Any], config: object, *, where: str) -> dict[str, Any]:
    """Return ``config`` as a dict if it satisfies ``schema``; else raise ``SpecError``.

    Every violation is listed, each with its path (``nodes[1].config.expression``), what was
    found and what the schema wants. Defaults declared in the schema's top-level
    ``properties`` are filled in for keys the config leaves out.
    """
    if not isinstance(config, Mapping):
        raise SpecError(
            f"{where}: expected an object, found {type(config).__name__}; write the node's "
            "settings as key: value pairs"
        )
    try:
        validator = Draft202012Validator(schema)
    except SchemaError as exc:  # pragma: no cover - built-ins ship valid schemas
        raise SpecError(
            f"{where}: the component's config schema is invalid: {exc.message}"
        ) from exc
    problems = sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.absolute_path))
    if problems:
        lines = [f"{json_path(where, e.absolute_path)}: {_explain(e)}" for e in problems]
        raise SpecError("; ".join(lines))
    filled = dict(config)
    for key, prop in (schema.get("properties") or {}).items():
        if key not in filled and isinstance(prop, Mapping) and "default" in prop:
            filled[key] = copy.deepcopy(prop["default"])  # a factory may change its config
    return filled


def json_path(prefix: str, parts: Iterable[object]) -> str:
    """Return ``prefix`` extended by ``parts`` as ``a.b[2].c``."""
    path = prefix
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _explain(error: Any) -> str:
    keyword = error.validator
    found = shown(error.instance)
    if keyword == "required":
        return f"{error.message}; add it"
    if keyword == "additionalProperties":
        allowed = ", ".join(sorted((error.schema.get("properties") or {}).keys())) or "none"
        return f"{error.message}; known settings: {allowed}"
    if keyword == "type":
        return f"found {found}, expected type {error.validator_value!r}"
    if keyword == "enum":
        options = ", ".join(map(repr, error.validator_value))
        return f"found {found}, expected one of {options}"
    return f"found {found}: {error.message}"
