"""The default expression engine: QuickJS (the ``quickjs-ng`` binding), one context each.

Every compiled expression owns its own locked-down context per thread that calls it, so one
expression cannot see or change another, and a context is only ever used by the thread that
built it (QuickJS measures stack depth against its creating thread).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Final

from arachne.components.expressions._conversion import NONCE, decode, encode
from arachne.components.expressions._diagnosis import Diagnosis
from arachne.components.expressions._sandbox import (
    ENGINE_ERRORS,
    EngineError,
    Sandbox,
    SyntaxProblem,
    failure_of,
)
from arachne.model.errors import ExpressionError

if TYPE_CHECKING:
    from arachne.components.expressions.limits import Limits

__all__ = ["QuickJSEngine", "QuickJSExpression"]


class _PerThread(threading.local):
    """The sandbox of one expression in the current thread; None until built or after a limit."""

    sandbox: Sandbox | None = None


class QuickJSEngine:
    """Compiles JavaScript expressions into sandboxed QuickJS functions of ``value``.

    Stateless: one instance serves any number of expressions, from any thread.
    """

    name: Final = "quickjs"

    def compile(self, expression: str, *, limits: Limits) -> QuickJSExpression:
        """Check and compile ``expression``; raise ``ExpressionError`` if it cannot run.

        The text must be one JavaScript expression of ``value``, at most ``limits.max_length``
        characters, that parses without running any of it; see ``docs/expressions.md``.
        """
        if not isinstance(expression, str):  # a graph document can put any value here
            # Unreachable for the type checker, not for a document: it is checked all the same.
            msg = f"an expression must be a str, got {type(expression).__name__}"  # type: ignore[unreachable]
            raise ExpressionError(msg)
        diagnosis = Diagnosis(expression, limits)
        if len(expression) > limits.max_length:
            raise diagnosis.too_long()
        if "\x00" in expression or not _encodable(expression):
            raise diagnosis.unencodable_text()
        sandbox = _open_sandbox(expression, limits, diagnosis)
        return QuickJSExpression(expression, limits, diagnosis, sandbox)

    def __repr__(self) -> str:
        return "QuickJSEngine()"


class QuickJSExpression:
    """A compiled expression; call it with a JSON-like value to get a JSON-like value back.

    Made by :meth:`QuickJSEngine.compile`. Each thread that calls it gets its own context,
    built on its first call; after a call runs out of time, memory or stack, that thread's
    context is dropped and rebuilt on the next call, so one hostile input cannot leave the
    expression broken.
    """

    __slots__ = ("_diagnosis", "_limits", "_local", "_source")

    def __init__(self, source: str, limits: Limits, diagnosis: Diagnosis, sandbox: Sandbox) -> None:
        self._source = source
        self._limits = limits
        self._diagnosis = diagnosis
        self._local = _PerThread()
        self._local.sandbox = sandbox

    @property
    def source(self) -> str:
        """The expression text as written."""
        return self._source

    @property
    def limits(self) -> Limits:
        """The limits every call runs under."""
        return self._limits

    def __repr__(self) -> str:
        return f"QuickJSExpression({self._source!r})"

    def __call__(self, value: object) -> object:
        """Evaluate the expression with ``value`` bound to ``value``; return the result.

        ``undefined`` comes back as None, JavaScript numbers as int when integral and float
        otherwise. Raises ``ExpressionError`` for anything that goes wrong.
        """
        try:
            text, revived = encode(value)
        except RecursionError:
            raise self._diagnosis.bad_input(value, "nested too deeply") from None
        except (TypeError, ValueError) as exc:
            raise self._diagnosis.bad_input(value, str(exc)) from None
        local = self._local
        sandbox = local.sandbox
        if sandbox is None:
            sandbox = local.sandbox = _open_sandbox(self._source, self._limits, self._diagnosis)
        try:
            reply = sandbox.run(text, revived)
        except ENGINE_ERRORS as exc:
            local.sandbox = None
            raise _engine_error(self._diagnosis, exc) from None
        if type(reply) is str:
            try:
                return decode(reply)
            except RecursionError:
                raise self._diagnosis.too_deep_result() from None
            except ValueError as exc:  # not expected: the engine made this JSON
                raise self._diagnosis.engine_failed(exc) from None
        raise self._failure(reply)

    def _failure(self, reply: object) -> ExpressionError:
        """Return the error for a reply other than a result, dropping the context if needed."""
        try:
            tag, text = failure_of(reply)
        except ENGINE_ERRORS as exc:
            self._local.sandbox = None
            return self._diagnosis.engine_failed(exc)
        if tag == "U":
            return self._diagnosis.unconvertible(text)
        limit = self._diagnosis.limit(text)
        if limit is not None:
            self._local.sandbox = None
            return limit
        if tag == "E":
            return self._diagnosis.raised(text)
        if tag == "I":
            return self._diagnosis.unreadable_input(text)
        return self._diagnosis.conversion_failed(text)


def _open_sandbox(expression: str, limits: Limits, diagnosis: Diagnosis) -> Sandbox:
    """Build a sandbox for ``expression`` in this thread, or raise its ``ExpressionError``."""
    try:
        return Sandbox(expression, limits, NONCE)
    except SyntaxProblem as exc:
        raise diagnosis.syntax(str(exc)) from None
    except ENGINE_ERRORS as exc:
        raise _engine_error(diagnosis, exc) from None


def _engine_error(diagnosis: Diagnosis, exc: Exception) -> ExpressionError:
    """Return the error for an exception raised by the binding itself."""
    if isinstance(exc, EngineError):
        text = str(exc)
        return diagnosis.limit(text) or diagnosis.raised(text)
    return diagnosis.engine_failed(exc)


def _encodable(text: str) -> bool:
    """Return True if ``text`` has no lone surrogates, so the binding can read it as UTF-8."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
