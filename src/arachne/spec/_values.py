"""Plain JSON values: a bounded, iterative deep copy that rejects anything JSON cannot say."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeAlias

from arachne.model.errors import SpecError
from arachne.spec._problems import Problems
from arachne.spec.limits import MAX_DEPTH, MAX_VALUES

__all__ = ["DuplicateKeys", "plain_json", "render_path", "too_many_values"]

_Path: TypeAlias = "tuple[_Path, str | int] | None"
"""A JSON path as a linked list of parts, rendered only when a problem needs it."""

_Entry: TypeAlias = "tuple[object, list[object] | dict[str, object], int | str, _Path, int]"
"""A value still to copy: the value, where its copy goes (container and slot), path, depth."""


class DuplicateKeys(dict[str, object]):
    """An object read from JSON text that repeated some keys (the JSON reader marks them)."""

    duplicates: tuple[str, ...] = ()


def render_path(path: _Path) -> str:
    """Return ``path`` as ``nodes[2].config.x`` (shortened at the front if very long)."""
    parts: list[str | int] = []
    while path is not None:
        path, part = path
        parts.append(part)
    text = ""
    for part in reversed(parts):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text if len(text) <= 160 else "..." + text[-157:]


def too_many_values() -> SpecError:
    """Return the error for a document over :data:`MAX_VALUES` values."""
    return SpecError(
        f"document has more than {MAX_VALUES:,} values (YAML aliases count once per use); "
        "split it or move bulk data out of node config"
    )


def plain_json(data: object) -> object:
    """Return a deep copy of ``data`` made of dicts, lists, str, int, float, bool and None.

    Tuples count as arrays. Raises ``SpecError`` listing every value JSON cannot represent
    (bytes, dates, sets, non-string keys, NaN and infinities), keys a JSON text repeated, and
    nesting deeper than :data:`MAX_DEPTH`; stops at once past :data:`MAX_VALUES` values, so
    a self-referencing structure or a YAML alias bomb ends quickly. Never recurses.
    """
    problems = Problems()
    holder: list[object] = [None]
    stack: list[_Entry] = [(data, holder, 0, None, 1)]
    count = 1  # every value is counted once, when its container is reached
    pending: list[_Entry] = []
    while stack:
        value, target, slot, path, depth = stack.pop()
        count += len(value) if isinstance(value, Mapping | list | tuple) else 0
        if count > MAX_VALUES:  # checked before copying, so a huge array is never allocated
            raise too_many_values()
        if depth > MAX_DEPTH:
            problems.add(
                render_path(path),
                f"nested deeper than {MAX_DEPTH} levels; flatten this value",
                "too-deep",
            )
            continue
        if isinstance(value, Mapping):
            copy: dict[str, object] = {}
            if isinstance(value, DuplicateKeys) and value.duplicates:
                keys = ", ".join(repr(key) for key in value.duplicates)
                problems.add(
                    render_path(path) or "document",
                    f"key {keys} appears more than once; keep one",
                    "duplicate-key",
                )
            for key, item in value.items():
                if not isinstance(key, str):
                    problems.add(
                        render_path(path) or "document",
                        f"key {key!r} is a {type(key).__name__}, not a string; quote it",
                        "bad-key",
                    )
                    continue
                copy[key] = _scalar(item, (path, key), problems, pending, copy, key, depth)
            _store(target, slot, copy)
        elif isinstance(value, list | tuple):
            array: list[object] = [None] * len(value)
            for index, item in enumerate(value):
                array[index] = _scalar(item, (path, index), problems, pending, array, index, depth)
            _store(target, slot, array)
        else:
            _store(target, slot, _scalar(value, path, problems, pending, holder, 0, depth - 1))
        # Children go on in reverse so they come off in document order (problems read in order).
        stack.extend(reversed(pending))
        pending.clear()
    problems.check()
    return holder[0]


def _scalar(
    value: object,
    path: _Path,
    problems: Problems,
    stack: list[_Entry],
    target: list[object] | dict[str, object],
    slot: int | str,
    depth: int,
) -> object:
    """Return a scalar as is; queue a container (returning a placeholder); report the rest."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        problems.add(
            render_path(path),
            f"found {value!r}; numbers must be finite (JSON has no NaN or Infinity)",
            "bad-number",
        )
        return None
    if isinstance(value, Mapping | list | tuple):
        stack.append((value, target, slot, path, depth + 1))
        return None
    kind = type(value).__name__
    problems.add(
        render_path(path) or "document",
        f"found a {kind}, which JSON cannot represent; write a string, number, boolean, "
        "null, array or object (in YAML, quote dates and drop !!binary / !!set tags)",
        "bad-value",
    )
    return None


def _store(target: list[object] | dict[str, object], slot: int | str, value: object) -> None:
    if isinstance(target, dict):
        target[str(slot)] = value
    else:
        target[int(slot)] = value
