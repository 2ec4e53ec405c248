"""What filter, map and split share: one compiled JavaScript expression and JS truthiness."""

from __future__ import annotations

import math
from typing import Any, Final

from arachne.components.expressions import Expression, compile

__all__ = ["EXPRESSION_TEXT", "compile_expression", "truthy"]

EXPRESSION_TEXT: Final = {"type": "string", "minLength": 1}
"""The config schema of an expression: non-empty text (the engine checks the rest)."""


def compile_expression(text: str) -> Expression:
    """Return ``text`` compiled once, for every message of a node.

    Raises :class:`~arachne.model.errors.ExpressionError` (a ``ValueError``, so a graph
    document reports it as a ``SpecError`` naming the node's config) if it cannot run.
    """
    if not isinstance(text, str):
        raise TypeError(f"an expression is text, got {type(text).__name__}")
    return compile(text)


def truthy(result: Any) -> bool:
    """Return whether JavaScript would take ``result`` as true.

    Unlike Python, ``[]`` and ``{}`` are true and ``NaN`` is false; ``null``/``undefined``
    (``None``), ``false``, ``0`` and ``""`` are false as in Python.
    """
    if result is None or result is False:
        return False
    if isinstance(result, float):
        return result != 0 and not math.isnan(result)
    if isinstance(result, int | str):
        return bool(result)
    return True
