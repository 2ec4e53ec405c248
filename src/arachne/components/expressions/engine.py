"""The interface every expression engine offers: compile text once, call it per message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from arachne.components.expressions.limits import Limits

__all__ = ["Expression", "ExpressionEngine"]


@runtime_checkable
class Expression(Protocol):
    """A compiled expression: call it with one JSON-like value, get a JSON-like value back.

    JSON-like means ``None``, ``bool``, ``int``, ``float``, ``str``, ``list`` (or ``tuple``) and
    ``dict`` with ``str`` keys, nested freely. Every failure raises
    :class:`~arachne.model.errors.ExpressionError`. An expression may be called from any thread.
    """

    @property
    def source(self) -> str:
        """The expression text as written."""
        ...

    @property
    def limits(self) -> Limits:
        """The limits every call runs under."""
        ...

    def __call__(self, value: object) -> object:
        """Evaluate the expression with ``value`` bound to the name ``value``."""
        ...


class ExpressionEngine(Protocol):
    """Something that turns expression text into an :class:`Expression`.

    ``compile`` runs once per node, so it may be slow; it must reject bad text with
    :class:`~arachne.model.errors.ExpressionError` there rather than on the first message.
    """

    @property
    def name(self) -> str:
        """A short id for messages and configuration, such as ``"quickjs"``."""
        ...

    def compile(self, expression: str, *, limits: Limits) -> Expression:
        """Check and compile ``expression``; raise ``ExpressionError`` if it cannot run."""
        ...
