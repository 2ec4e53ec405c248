"""Turn what the engine reported into an :class:`ExpressionError` that names the fix."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from arachne.model.errors import ExpressionError

if TYPE_CHECKING:
    from arachne.components.expressions.limits import Limits

__all__ = ["Diagnosis", "shorten"]

_SHOWN: Final = 80
_POSITION: Final = re.compile(r"\n\s*at <input>:(\d+):(\d+)")
_STACK_TEXTS: Final = (
    "RangeError: Maximum call stack size exceeded",
    "InternalError: stack overflow",
)
_FROZEN_SIGNS: Final = (
    "not extensible",
    "read-only",
    "read only",
    "not configurable",
    "could not delete",
    "home object",
)
_JSON_LIKE: Final = "None, bool, int, float, str, list or dict with str keys"
_RESULT_LIKE: Final = "null, a boolean, number, string, array or plain object"


def shorten(expression: str) -> str:
    """Return ``expression`` cut to a length that fits in one line of a message."""
    flat = " ".join(expression.split())
    return flat if len(flat) <= _SHOWN else flat[: _SHOWN - 3] + "..."


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0].strip()


class Diagnosis:
    """Builds the errors of one expression; every method returns, the caller raises."""

    __slots__ = ("_expression", "_limits", "_shown")

    def __init__(self, expression: str, limits: Limits) -> None:
        self._expression = expression
        self._limits = limits
        self._shown = shorten(expression)

    def _error(self, problem: str, fix: str) -> ExpressionError:
        return ExpressionError(f"expression {self._shown!r} {problem}; {fix}", self._shown)

    def too_long(self) -> ExpressionError:
        """Return the error for text longer than ``Limits.max_length``."""
        return self._error(
            f"is {len(self._expression)} characters long, over the limit of "
            f"{self._limits.max_length}",
            "shorten it, or raise Limits.max_length",
        )

    def unencodable_text(self) -> ExpressionError:
        """Return the error for text with a NUL or lone surrogate, which the engine cannot read."""
        return self._error(
            "contains a NUL character or an unpaired surrogate", "remove it from the text"
        )

    def syntax(self, engine_text: str) -> ExpressionError:
        """Return the error for text that does not parse as one JavaScript expression."""
        where = ""
        message = _first_line(engine_text).removeprefix("SyntaxError: ")
        match = _POSITION.search(engine_text)
        if match is not None:
            line, column = int(match.group(1)) - 1, int(match.group(2))
            lines = self._expression.split("\n")
            if line > len(lines):  # the engine tripped over the wrapper's closing bracket
                message = "the expression is empty or ends too early"
            elif len(lines) == 1:
                where = f" at column {column}"
            else:
                where = f" at line {line}, column {column}"
        return self._error(
            f"is not valid JavaScript{where}: {message}",
            "write one expression of the input `value`, such as `value > 10` or `value.status`",
        )

    def limit(self, engine_text: str) -> ExpressionError | None:
        """Return the error for an exhausted time, memory or stack limit, or None if not one.

        ``null`` thrown with no message is how the engine reports running out of memory when it
        cannot even allocate the error, so it counts as a memory error here.
        """
        limits = self._limits
        if engine_text.startswith("InternalError: interrupted"):
            return self._error(
                f"ran longer than its time limit of {limits.time_limit:g} s and was stopped",
                "avoid unbounded loops, or raise Limits.time_limit",
            )
        if engine_text.startswith(("InternalError: out of memory", "threw null", "null")):
            mib = limits.memory_limit / (1024 * 1024)
            return self._error(
                f"ran out of memory (limit {mib:g} MiB) or threw null",
                "build smaller values, or raise Limits.memory_limit",
            )
        if engine_text.startswith(_STACK_TEXTS):
            kib = limits.max_stack_size / 1024
            return self._error(
                f"nested or recursed too deeply for its stack limit of {kib:g} KiB",
                "flatten nested brackets or recursion, or raise Limits.max_stack_size",
            )
        return None

    def raised(self, engine_text: str) -> ExpressionError:
        """Return the error for an expression that threw while running."""
        text = _first_line(engine_text)
        lowered = text.lower()
        if any(sign in lowered for sign in _FROZEN_SIGNS):
            fix = "shared objects are frozen, so build a new object instead of changing one"
        elif "of undefined" in text or "of null" in text:
            fix = "check the input's shape, or guard with optional chaining (`value?.a?.b`)"
        else:
            fix = "fix the expression or the input it received"
        return self._error(f"raised {text}", fix)

    def bad_input(self, value: object, reason: str) -> ExpressionError:
        """Return the error for a Python value that cannot be handed to the engine."""
        return self._error(
            f"cannot receive a value of type {type(value).__name__} ({reason})",
            f"pass JSON-like data: {_JSON_LIKE}",
        )

    def unreadable_input(self, engine_text: str) -> ExpressionError:
        """Return the error for input the engine could not rebuild, other than by a limit."""
        return self._error(
            f"could not receive its input ({_first_line(engine_text)})",
            f"pass JSON-like data: {_JSON_LIKE}",
        )

    def unconvertible(self, what: str) -> ExpressionError:
        """Return the error for a result holding a function, symbol, BigInt, Map, ...."""
        return self._error(
            f"returned {what}, which has no JSON-like form",
            f"return {_RESULT_LIKE}",
        )

    def conversion_failed(self, engine_text: str) -> ExpressionError:
        """Return the error for a result that failed to serialize: a cycle, a throwing getter."""
        text = _first_line(engine_text)
        if "circular" in text:
            return self._error(
                "returned a structure that contains itself", f"return {_RESULT_LIKE}, acyclic"
            )
        return self._error(f"returned a value that failed to convert ({text})", "return data")

    def too_deep_result(self) -> ExpressionError:
        """Return the error for a result nested deeper than Python's recursion limit."""
        return self._error(
            "returned a value nested too deeply to convert", "return a flatter structure"
        )

    def engine_failed(self, exc: BaseException) -> ExpressionError:
        """Return the error for a failure of the binding itself; reported, never hidden."""
        return self._error(
            f"failed inside the JavaScript engine ({type(exc).__name__}: {exc})",
            "simplify the expression and its input, and report this if it persists",
        )
