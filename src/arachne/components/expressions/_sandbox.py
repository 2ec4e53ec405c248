"""One locked-down QuickJS context holding one compiled expression.

This is the only module that touches the ``quickjs`` binding; it gives the rest of the package
typed calls. A context is tied to the thread that built it: QuickJS checks stack overflow
against the stack of the creating thread, so a call from another thread could fail spuriously
or overflow for real. :mod:`.quickjs_engine` therefore keeps one sandbox per thread.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final, Protocol, cast

import quickjs  # type: ignore[import-untyped]  # the binding ships no stubs

from arachne.components.expressions._harness import (
    CHECK_MARK,
    LOCKDOWN,
    check_source,
    function_source,
)

if TYPE_CHECKING:
    from arachne.components.expressions.limits import Limits

__all__ = ["ENGINE_ERRORS", "EngineError", "Sandbox", "SyntaxProblem", "failure_of"]

EngineError: Final[type[Exception]] = quickjs.JSException
"""What the binding raises when JavaScript throws; its text is ``"Name: message\\n<stack>"``."""

ENGINE_ERRORS: Final[tuple[type[Exception], ...]] = (
    quickjs.JSException,
    # The binding's own conversion failures: a lone surrogate or NUL in text, an unknown value
    # tag. The package sends only JSON text and reads back only strings, but a failure here must
    # still surface as an ExpressionError, never as a stray builtin exception.
    UnicodeError,
    ValueError,
    TypeError,
    OverflowError,
    SystemError,
    MemoryError,
)
"""Every exception a call into the binding is known to raise."""


_LOCKDOWN_TIME_LIMIT: Final = 5.0
"""CPU seconds the trusted lockdown script may take; it needs about 0.004."""


class _Context(Protocol):
    def eval(self, code: str) -> object: ...
    def set_time_limit(self, limit: float) -> None: ...
    def set_memory_limit(self, limit: int) -> None: ...
    def set_max_stack_size(self, limit: int) -> None: ...


class _Function(Protocol):
    def __call__(self, *args: object) -> object: ...


class SyntaxProblem(Exception):  # an internal signal, never escapes the package
    """The expression did not parse; ``args[0]`` is the engine's text."""


class Sandbox:
    """A fresh context, locked down, with the expression compiled into it.

    Building one costs about a millisecond; a call costs a few microseconds plus the size of
    the value. After a time, memory or stack error, drop the sandbox and build a new one: the
    engine does not promise a context stays consistent after it ran out of something.
    """

    __slots__ = ("_context", "run")

    def __init__(self, expression: str, limits: Limits, nonce: str) -> None:
        """Build the context and compile ``expression``; raise :class:`SyntaxProblem` if bad.

        Any other failure of the engine propagates as one of :data:`ENGINE_ERRORS`.
        """
        context = cast("_Context", quickjs.Context())
        context.set_memory_limit(limits.memory_limit)
        context.set_max_stack_size(limits.max_stack_size)
        # The lockdown is trusted and takes a few milliseconds; only the expression's own work
        # counts against its time limit, so a tight limit cannot make every compile fail.
        context.set_time_limit(_LOCKDOWN_TIME_LIMIT)
        install = cast("_Function", context.eval(LOCKDOWN))
        context.set_time_limit(limits.time_limit)
        _check(context, expression)
        try:
            function = context.eval(function_source(expression))
        except quickjs.JSException as exc:
            if str(exc).startswith("SyntaxError"):
                raise SyntaxProblem(str(exc)) from None
            raise
        self._context = context
        self.run = cast("_Function", install(function, nonce))
        """``run(json_text, revived)``: the result's JSON text, or a pair for ``failure_of``."""


def _check(context: _Context, expression: str) -> None:
    """Prove ``expression`` parses and stays inside its wrapper, without running any of it."""
    try:
        context.eval(check_source(expression))
    except quickjs.JSException as exc:
        text = str(exc)
        if text.startswith(CHECK_MARK):
            return
        if text.startswith("SyntaxError"):
            raise SyntaxProblem(text) from None
        if isinstance(exc, quickjs.StackOverflow) or text.startswith(("InternalError", "null")):
            raise  # out of time, memory or stack: the caller reports the limit
        # Anything else came from text that closed the check's brackets early.
        raise SyntaxProblem("SyntaxError: not a single expression") from None
    # The check script always throws; reaching here means the text ended it early.
    raise SyntaxProblem("SyntaxError: not a single expression")


def failure_of(reply: object) -> tuple[str, str]:
    """Return the ``(tag, text)`` pair of a reply from ``run`` that is not a result.

    Raises ``TypeError`` if the reply is not such a pair.
    """
    if not isinstance(reply, quickjs.Object):
        msg = f"unexpected reply {reply!r} from the expression runner"
        raise TypeError(msg)
    pair = json.loads(reply.json())
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
        msg = f"unexpected reply {pair!r} from the expression runner"
        raise TypeError(msg)
    return pair[0], pair[1]
