"""Limits on one compiled expression: time per call, memory, stack depth and text length."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_MAX_STACK_SIZE",
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_TIME_LIMIT",
    "Limits",
]

DEFAULT_TIME_LIMIT: Final = 0.1
"""CPU seconds one evaluation may use before it is stopped: 100 ms."""

DEFAULT_MEMORY_LIMIT: Final = 32 * 1024 * 1024
"""Bytes the JavaScript heap of one expression may hold: 32 MiB (the engine itself uses ~0.2)."""

DEFAULT_MAX_STACK_SIZE: Final = 256 * 1024
"""Bytes of C stack the engine may use: 256 KiB, the binding's own default.

Enough for input nested ~2,000 levels deep and expressions nested ~300 brackets deep; small
enough to fit in any thread's stack with room to spare.
"""

DEFAULT_MAX_LENGTH: Final = 4096
"""Longest expression text accepted, in characters."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds applied to every compilation and every evaluation of one expression.

    The time limit is measured in CPU time of the whole process (the engine uses C ``clock()``),
    so busy threads elsewhere make it run out sooner, never later.
    """

    time_limit: float = DEFAULT_TIME_LIMIT
    """CPU seconds per evaluation (and for compiling)."""

    memory_limit: int = DEFAULT_MEMORY_LIMIT
    """Bytes of JavaScript heap per expression, per thread that evaluates it."""

    max_stack_size: int = DEFAULT_MAX_STACK_SIZE
    """Bytes of stack for parsing, recursion and nested values."""

    max_length: int = DEFAULT_MAX_LENGTH
    """Characters of expression text."""

    def __post_init__(self) -> None:
        if not self.time_limit > 0:
            msg = f"Limits.time_limit must be a positive number of seconds, got {self.time_limit!r}"
            raise ValueError(msg)
        for name in ("memory_limit", "max_stack_size", "max_length"):
            amount = getattr(self, name)
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                msg = f"Limits.{name} must be a positive int, got {amount!r}"
                raise ValueError(msg)
        if self.memory_limit < 1024 * 1024:
            msg = f"Limits.memory_limit must be at least 1 MiB, got {self.memory_limit} bytes"
            raise ValueError(msg)
        if self.max_stack_size < 64 * 1024:
            msg = f"Limits.max_stack_size must be at least 64 KiB, got {self.max_stack_size} bytes"
            raise ValueError(msg)
