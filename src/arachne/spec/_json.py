"""Decoding JSON text: duplicate keys marked, NaN and Infinity refused, depth bounded."""

from __future__ import annotations

import json

from arachne.model.errors import SpecError
from arachne.spec._values import DuplicateKeys
from arachne.spec.limits import MAX_DEPTH

__all__ = ["decode_json"]

_TOO_DEEP = f"nested too deeply (documents may nest {MAX_DEPTH} levels); flatten it"


class _BadConstant(Exception):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's json accepts them, JSON does not."""


def decode_json(text: str) -> object:
    """Return the value of JSON ``text``; ``SpecError`` with line and column if it is invalid.

    Repeated keys are kept in a :class:`DuplicateKeys` dict so the path can be named later;
    ``NaN`` and ``Infinity`` are refused (they are not JSON and no component wants them).
    """
    try:
        return json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except _BadConstant as exc:
        raise SpecError(
            f"JSON: {exc.args[0]} is not valid JSON; write a finite number, a string or null"
        ) from None
    except RecursionError:
        raise SpecError(f"JSON: {_TOO_DEEP}") from None
    except ValueError as exc:  # an integer past Python's digit limit, for one
        raise SpecError(f"JSON: {exc}; write huge numbers as strings") from None


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    marked = DuplicateKeys(result)
    seen: set[str] = set()
    repeated: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in repeated:
            repeated.append(key)
        seen.add(key)
    marked.duplicates = tuple(repeated)
    return marked


def _constant(name: str) -> object:
    raise _BadConstant(name)
