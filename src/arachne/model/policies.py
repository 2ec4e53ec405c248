"""Overflow policies: what an edge does with a message that arrives when it is full."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

__all__ = ["OVERFLOW_NAMES", "Coalesce", "Overflow", "OverflowName", "check_overflow"]

OverflowName: TypeAlias = Literal["block", "drop", "latest", "fail"]
OVERFLOW_NAMES: Final[tuple[OverflowName, ...]] = ("block", "drop", "latest", "fail")


@dataclass(frozen=True, slots=True)
class Coalesce:
    """Merge a message that finds the edge full into the message at the queue's tail.

    ``merge(queued, arriving)`` receives the two payloads and returns the merged payload; the
    merged message keeps the arriving message's headers.
    """

    merge: Callable[[Any, Any], Any]

    @property
    def name(self) -> str:
        """The policy's name in documents and stats: ``"coalesce"``."""
        return "coalesce"


Overflow: TypeAlias = OverflowName | Coalesce


def check_overflow(value: object) -> Overflow:
    """Return ``value`` as an overflow policy or raise ``ValueError`` naming the choices."""
    if isinstance(value, Coalesce):
        return value
    if isinstance(value, str) and value in OVERFLOW_NAMES:
        return value
    choices = ", ".join(repr(n) for n in OVERFLOW_NAMES)
    raise ValueError(f"unknown overflow policy {value!r}; use one of {choices} or Coalesce(fn)")


def overflow_name(policy: Overflow) -> str:
    """Return the policy's name: one of :data:`OVERFLOW_NAMES` or ``"coalesce"``."""
    return policy.name if isinstance(policy, Coalesce) else policy
