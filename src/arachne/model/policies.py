"""Policies: what an edge does when full, what a node does when a hook fails, where hooks run."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

__all__ = [
    "DELIVERIES",
    "ERROR_POLICY_NAMES",
    "LONGEST_DELAY",
    "MODES",
    "OVERFLOW_NAMES",
    "Coalesce",
    "Delivery",
    "ErrorPolicy",
    "ErrorPolicyName",
    "Mode",
    "Overflow",
    "OverflowName",
    "Retry",
    "check_delivery",
    "check_error_policy",
    "check_mode",
    "check_overflow",
    "check_timeout",
    "error_policy_from_data",
    "error_policy_to_data",
    "overflow_name",
]

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


ErrorPolicyName: TypeAlias = Literal["fail", "skip", "dead_letter"]
ERROR_POLICY_NAMES: Final[tuple[ErrorPolicyName, ...]] = ("fail", "skip", "dead_letter")

LONGEST_DELAY: Final = 86_400.0
"""The longest wait between two attempts of a :class:`Retry`, in seconds (a day), whatever
``max_backoff`` says: past it the growing delay saturates instead of overflowing."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Call the failed hook again after a growing delay; after the last attempt, apply ``then``.

    Attempt ``n + 1`` starts ``min(max_backoff, backoff * factor ** (n - 1))`` seconds after
    attempt ``n`` failed, scaled by a random factor in ``[1 - jitter, 1 + jitter]``. With the
    defaults ``backoff=0.1, factor=2`` and no jitter, four attempts start at 0, 0.1, 0.3 and
    0.7 s. The node takes no other message while it waits, so order is kept. ``max_backoff``
    ``None`` (or infinity) sets no cap of its own; the wait still stops growing at
    :data:`LONGEST_DELAY`, so a retry that runs for days never overflows.
    """

    max_attempts: int = 3
    backoff: float = 0.1
    max_backoff: float | None = 30.0
    jitter: float = 0.0
    factor: float = 2.0
    then: ErrorPolicyName = "fail"

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError(f"Retry.max_attempts must be an int, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise ValueError(f"Retry.max_attempts must be >= 1, got {self.max_attempts}")
        for field_name in ("backoff", "max_backoff", "jitter", "factor"):
            value = getattr(self, field_name)
            if value is None and field_name == "max_backoff":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"Retry.{field_name} must be a number >= 0, got {value!r}")
        if self.jitter > 1:
            raise ValueError(f"Retry.jitter is a fraction in [0, 1], got {self.jitter}")
        if self.then not in ERROR_POLICY_NAMES:
            raise ValueError(f"Retry.then must be one of {ERROR_POLICY_NAMES}, got {self.then!r}")

    @property
    def name(self) -> str:
        """The policy's name in documents and stats: ``"retry"``."""
        return "retry"

    def delay(self, attempt: int, spread: float = 0.0) -> float:
        """Return the wait after failed attempt ``attempt`` (1-based).

        ``spread`` in ``[-1, 1]`` picks the point within the jitter band (random in the runtime).
        Always a finite number, at most ``max_backoff`` (or :data:`LONGEST_DELAY`) before jitter.
        """
        cap = LONGEST_DELAY if self.max_backoff is None else min(self.max_backoff, LONGEST_DELAY)
        if self.backoff == 0:
            return 0.0
        try:  # a float power: an int one would build a huge exact number first
            grown = self.backoff * math.pow(self.factor, attempt - 1)
        except OverflowError:  # past about 1,024 doublings; the cap was passed long before
            grown = math.inf
        base = min(cap, grown)
        return max(0.0, base * (1 + self.jitter * spread))


ErrorPolicy: TypeAlias = ErrorPolicyName | Retry


def check_error_policy(value: object) -> ErrorPolicy:
    """Return ``value`` as an error policy or raise ``ValueError`` naming the choices."""
    if isinstance(value, Retry):
        return value
    if isinstance(value, str) and value in ERROR_POLICY_NAMES:
        return value
    choices = ", ".join(repr(n) for n in ERROR_POLICY_NAMES)
    raise ValueError(f"unknown error policy {value!r}; use one of {choices} or Retry(...)")


def error_policy_to_data(policy: ErrorPolicy) -> str | dict[str, Any]:
    """Return the policy as JSON-ready data: its name, or ``{"retry": {...}}``."""
    if isinstance(policy, Retry):
        return {
            "retry": {
                "max_attempts": policy.max_attempts,
                "backoff": policy.backoff,
                "max_backoff": policy.max_backoff,
                "jitter": policy.jitter,
                "factor": policy.factor,
                "then": policy.then,
            }
        }
    return policy


def error_policy_from_data(data: object) -> ErrorPolicy:
    """Return the policy written by :func:`error_policy_to_data`; ``ValueError`` if invalid."""
    if isinstance(data, dict) and set(data) == {"retry"} and isinstance(data["retry"], dict):
        try:
            return Retry(**data["retry"])
        except TypeError as exc:
            raise ValueError(f"retry: {exc}") from None
    return check_error_policy(data)


Mode: TypeAlias = Literal["inline", "async", "thread", "process"]
"""Where a node's hooks run: on the loop, as coroutines, in a thread pool, in processes."""

MODES: Final[tuple[Mode, ...]] = ("inline", "async", "thread", "process")


def check_mode(mode: object, concurrency: object) -> Mode:
    """Return ``mode`` as a :data:`Mode`; ``ValueError`` unless it is one (and concurrency >= 1)."""
    found = next((known for known in MODES if mode == known), None)
    if found is None:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
    return found


Delivery: TypeAlias = Literal["exactly-once", "at-least-once", "at-most-once"]
"""What a sink promises across a recovery, strongest first (``Node.delivery``)."""

DELIVERIES: Final[tuple[Delivery, ...]] = ("exactly-once", "at-least-once", "at-most-once")


def check_delivery(delivery: object, node_id: str = "") -> Delivery:
    """Return ``delivery`` as a :data:`Delivery`; ``ValueError`` naming the choices."""
    found = next((known for known in DELIVERIES if delivery == known), None)
    if found is None:
        where = f"node {node_id!r}: " if node_id else ""
        raise ValueError(
            f"{where}unknown delivery {delivery!r}; use one of {', '.join(DELIVERIES)}"
        )
    return found


def check_timeout(timeout: object, mode: str | None, node_id: str = "") -> float | None:
    """Return ``timeout`` (seconds per call, or ``None``); ``ValueError`` naming the fix.

    Only a call off the loop can be abandoned, so with a ``mode`` given an inline node's
    timeout is refused (an inline call cannot be interrupted).
    """
    if timeout is None:
        return None
    where = f"node {node_id!r}: " if node_id else ""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"{where}timeout must be a number of seconds > 0 or None, got {timeout!r}")
    if mode == "inline":
        raise ValueError(
            f"{where}timeout={timeout} needs mode 'async', 'thread' or 'process': an inline "
            "call runs on the scheduler's loop and cannot be interrupted"
        )
    return float(timeout)
