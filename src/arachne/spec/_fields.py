"""Typed reads of one JSON object's keys, each problem recorded with its path and fix."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from arachne.spec._problems import Problems, describe_value, did_you_mean
from arachne.spec.limits import MAX_ID_LENGTH

__all__ = [
    "EDGE_ID_PATTERN",
    "NAME_PATTERN",
    "TEXT_LIMIT",
    "Fields",
    "check_name",
    "unknown_node",
]

NAME_PATTERN: Final = r"^[^/.:\s\x00-\x1f\x7f]+$"
"""Node ids, port names and exposed port names: no ``/``, ``.``, ``:``, spaces or controls."""

EDGE_ID_PATTERN: Final = r"^[^/\s\x00-\x1f\x7f]+$"
"""Edge ids: no ``/`` (it separates nested graphs), spaces or control characters."""

_NAME: Final = re.compile(NAME_PATTERN)
_EDGE_ID: Final = re.compile(EDGE_ID_PATTERN)
TEXT_LIMIT: Final = 10_000
"""Longest name, description, version or component id, in characters."""


def check_name(value: str, *, edge: bool = False) -> str | None:
    """Return why ``value`` is not a valid id or port name, or ``None`` if it is."""
    if not value:
        return "must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"is {len(value)} characters long; keep it to {MAX_ID_LENGTH}"
    if (_EDGE_ID if edge else _NAME).fullmatch(value):
        return None
    for char in "/.:" if not edge else "/":
        if char in value:
            why = {"/": "separates nested graphs", ".": "separates node and port in link ids"}
            reason = why.get(char, "separates node and port in 'node:port'")
            return f"{value!r} may not contain {char!r} (it {reason}); rename it"
    return f"{value!r} may not contain spaces or control characters; rename it"


def unknown_node(node: str, known: Iterable[str]) -> str:
    """Return ``unknown node 'x'`` with the closest declared id, or how to fix it."""
    hint = did_you_mean(node, known) or "; declare it under nodes or fix the id"
    return f"unknown node {node!r}{hint}"


class Fields:
    """Reads the keys of the object at ``where``; unknown keys are reported on creation."""

    def __init__(
        self, data: dict[str, object], where: str, problems: Problems, allowed: tuple[str, ...]
    ) -> None:
        self.data, self.where, self.problems = data, where, problems
        for key in data:
            if key not in allowed:
                problems.add(
                    self.path(key),
                    f"unknown key {key!r}{did_you_mean(key, allowed)} "
                    f"(allowed keys: {', '.join(allowed)})",
                    "unknown-key",
                )

    def path(self, key: str) -> str:
        """Return the JSON path of ``key`` in this object."""
        return f"{self.where}.{key}" if self.where else key

    def wrong(self, key: str, expected: str, fix: str = "") -> None:
        """Record that ``key`` holds the wrong kind of value."""
        found = describe_value(self.data[key])
        self.problems.add(self.path(key), f"expected {expected}, found {found}{fix}", "type")

    def missing(self, key: str, what: str) -> None:
        """Record that a required ``key`` is absent."""
        self.problems.add(self.path(key), f"missing; add {what}", "missing")

    def text(self, key: str, *, required: str = "", empty: bool = False) -> str | None:
        """Return the string at ``key``; ``required`` describes it when it must be present."""
        if key not in self.data:
            if required:
                self.missing(key, required)
            return None
        value = self.data[key]
        if not isinstance(value, str):
            self.wrong(key, "a string", "; quote it" if key == "version" else "")
            return None
        if not value and not empty:
            self.problems.add(self.path(key), "must not be empty", "empty")
            return None
        if len(value) > TEXT_LIMIT:
            self.problems.add(self.path(key), f"longer than {TEXT_LIMIT} characters", "limit")
            return None
        return value

    def name(self, key: str, *, required: str = "", edge: bool = False) -> str | None:
        """Return the id or port name at ``key`` if it is well formed."""
        value = self.text(key, required=required)
        if value is None:
            return None
        why = check_name(value, edge=edge)
        if why is not None:
            self.problems.add(self.path(key), why, "bad-id")
            return None
        return value

    def integer(self, key: str, low: int, high: int) -> int | None:
        """Return the integer at ``key`` if it lies in ``[low, high]`` (booleans are not)."""
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.wrong(key, f"an integer from {low} to {high}")
            return None
        if not low <= value <= high:
            self.problems.add(
                self.path(key),
                f"found {describe_value(value)}; use an integer from {low:,} to {high:,}",
                "limit",
            )
            return None
        return value

    def boolean(self, key: str) -> bool | None:
        """Return the boolean at ``key``."""
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, bool):
            self.wrong(key, "true or false")
            return None
        return value

    def mapping(self, key: str, *, null: bool = False) -> dict[str, object] | None:
        """Return the object at ``key``; ``null`` counts as an empty object if ``null``."""
        if key not in self.data:
            return None
        value = self.data[key]
        if value is None and null:
            return {}
        if not isinstance(value, dict):
            self.wrong(key, "an object")
            return None
        return value

    def array(
        self, key: str, limit: int, *, required: str = "", null: bool = False
    ) -> list[object]:
        """Return the array at ``key`` (empty if absent or wrong) of at most ``limit`` items.

        ``null`` counts as an empty array if ``null`` (YAML's ``edges:`` with nothing after).
        """
        if key not in self.data:
            if required:
                self.missing(key, required)
            return []
        value = self.data[key]
        if value is None and null:
            return []
        if not isinstance(value, list):
            self.wrong(key, "an array")
            return []
        if len(value) > limit:
            self.problems.add(
                self.path(key),
                f"has {len(value):,} items; at most {limit:,} are allowed, split the graph",
                "limit",
            )
            return []
        return value
