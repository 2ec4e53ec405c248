"""Node config checked against a component's JSON Schema, with errors that name the field.

A component marks a config field whose value must never be shown back (a token, a password,
request headers) with ``"writeOnly": true`` in its schema: :func:`redact` puts
:data:`SECRET` in its place wherever a config is shown, and an error about it never quotes it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from arachne.model.errors import SpecError, shown

__all__ = ["SECRET", "check_config", "json_path", "redact", "secret_fields"]

SECRET: Final = "[secret]"  # noqa: S105  # (a placeholder, not a password)
"""What a secret config value is shown as."""


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
        secret = set(secret_fields(schema))
        lines = [
            f"{json_path(where, e.absolute_path)}: {_explain(e, hidden=_under(e, secret))}"
            for e in problems
        ]
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


def secret_fields(schema: Mapping[str, Any]) -> list[str]:
    """Return the top-level config fields ``schema`` marks ``writeOnly`` (never shown back)."""
    properties = schema.get("properties") or {}
    return [
        key
        for key, prop in properties.items()
        if isinstance(prop, Mapping) and prop.get("writeOnly") is True
    ]


def redact(schema: Mapping[str, Any], config: object) -> object:
    """Return ``config`` with the value of each secret field of ``schema`` shown as SECRET."""
    if not isinstance(config, Mapping):
        return config
    secret = secret_fields(schema)
    if not secret:
        return config
    return {key: SECRET if key in secret else value for key, value in config.items()}


def _under(error: Any, secret: set[str]) -> bool:
    """Whether the message about ``error`` could quote a secret value."""
    path = list(error.absolute_path)
    if path:
        return path[0] in secret
    if error.validator in ("required", "additionalProperties"):  # (these quote keys only)
        return False
    return isinstance(error.instance, Mapping) and bool(secret & set(error.instance))


def _explain(error: Any, *, hidden: bool = False) -> str:
    keyword = error.validator
    if hidden:  # (the message would quote the value: say what is wanted, not what was found)
        if keyword in ("type", "enum"):
            return f"a secret value is invalid: expected {keyword} {error.validator_value!r}"
        return (
            f"a secret value breaks its schema's {keyword!r} rule; the component's config "
            "schema says what it takes (`arachne components NAME`, GET /api/components)"
        )
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
