"""Expressions: the JavaScript snippets the built-in filter, map and split components run.

An expression is one JavaScript expression of the input, bound to the name ``value``, exactly as
the Runtime Service writes them::

    is_big = compile("value > 10")
    is_big(12)  # True
    compile("value.data.items")({"data": {"items": [1, 2]}})  # [1, 2]

It is compiled once per node and called once per message. It runs in a locked-down QuickJS
context with a time, memory and stack limit (:class:`Limits`), sees nothing of the host, and
every failure raises :class:`~arachne.model.errors.ExpressionError`. Another engine can be
plugged in through :class:`ExpressionEngine`. See ``docs/expressions.md``.
"""

from __future__ import annotations

from typing import Final

from arachne.components.expressions.engine import Expression, ExpressionEngine
from arachne.components.expressions.limits import Limits
from arachne.components.expressions.quickjs_engine import QuickJSEngine

__all__ = ["Expression", "ExpressionEngine", "Limits", "QuickJSEngine", "compile"]

_DEFAULT_ENGINE: Final = QuickJSEngine()
_DEFAULT_LIMITS: Final = Limits()


def compile(  # shadows the builtin inside this module only; the package's one verb
    expression: str,
    *,
    limits: Limits | None = None,
    engine: ExpressionEngine | None = None,
) -> Expression:
    """Return ``expression`` compiled by ``engine`` (QuickJS by default) under ``limits``.

    Raises :class:`~arachne.model.errors.ExpressionError` if the text is too long or is not one
    valid JavaScript expression; the returned callable raises it for failures while running.
    """
    chosen = engine if engine is not None else _DEFAULT_ENGINE
    return chosen.compile(expression, limits=limits if limits is not None else _DEFAULT_LIMITS)
