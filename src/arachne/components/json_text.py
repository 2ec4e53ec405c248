"""JSON text for values leaving a graph: the logger's lines, the JSON-lines sink, the CLI."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

__all__ = ["dumps", "plain", "render"]


def dumps(value: object, *, strict: bool = True) -> str:
    """Return ``value`` as one line of compact JSON.

    Objects with a ``to_dict()`` method (an ``ErrorRecord``, say) and dataclasses are written
    as objects; anything else JSON cannot hold raises ``TypeError`` naming its type. NaN and
    infinities raise ``ValueError`` unless ``strict`` is off (they are not JSON).
    """
    try:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), default=plain, allow_nan=not strict
        )
    except ValueError as exc:
        raise ValueError(f"cannot write the value as JSON: {exc}") from None


def render(value: object) -> str:
    """Return ``value`` as JSON for a log line, or its ``repr`` when it is not JSON."""
    try:
        return dumps(value, strict=False)
    except (TypeError, ValueError):
        return repr(value)


def plain(value: Any) -> Any:
    """Return JSON data for a value ``json`` cannot write (``default=`` of ``json.dumps``).

    ``to_dict()`` objects and dataclasses become objects, sets and tuples arrays; anything
    else raises ``TypeError`` naming its type and the fix.
    """
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(
        f"a value of type {type(value).__name__} cannot be written as JSON; "
        "turn it into JSON data (objects, arrays, strings, numbers) with a map first"
    )
