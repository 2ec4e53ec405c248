"""Limits on a code component: what one invocation and one instance may use, and ceilings.

A definition sets its limits under ``execution.limits`` (any it leaves out take the defaults
here); the operator's :data:`CEILINGS` (or their own, ``ARACHNE_CODE_CEILINGS``, read by the
command and the service) bound what a definition may ask for. Every name is the one the
definition uses, so an error names the field to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final

__all__ = ["CEILINGS", "DEFAULTS", "CodeLimits"]

_UNITS: Final = {
    "timeMs": "CPU milliseconds one invocation may use (a busy loop is stopped)",
    "memoryBytes": "bytes of heap (JavaScript) or linear memory (WebAssembly) of one instance",
    "stackBytes": "bytes of stack for recursion and nesting (JavaScript)",
    "sourceBytes": "bytes of source text (or of the base64 module)",
    "emits": "values one invocation may emit",
    "emitBytes": "bytes of JSON one invocation may emit",
    "logs": "lines one invocation may log",
    "stateBytes": "bytes of JSON an instance may keep with setState",
    "fuel": "WebAssembly instructions (fuel units) one invocation may run",
}


@dataclass(frozen=True, slots=True)
class CodeLimits:
    """Bounds on one code component (names as in ``execution.limits``)."""

    timeMs: int = 200  # the definition's own names
    memoryBytes: int = 32 << 20
    stackBytes: int = 256 << 10
    sourceBytes: int = 256 << 10
    emits: int = 1000
    emitBytes: int = 1 << 20
    logs: int = 100
    stateBytes: int = 1 << 20
    fuel: int = 100_000_000

    def __post_init__(self) -> None:
        for item in fields(self):
            amount = getattr(self, item.name)
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                raise ValueError(
                    f"execution.limits.{item.name} must be a positive whole number "
                    f"({_UNITS[item.name]}), got {amount!r}"
                )
        if self.memoryBytes < 1 << 20:
            raise ValueError(
                f"execution.limits.memoryBytes must be at least 1 MiB (1048576), "
                f"got {self.memoryBytes}"
            )
        if self.stackBytes < 64 << 10:
            raise ValueError(
                f"execution.limits.stackBytes must be at least 64 KiB (65536), "
                f"got {self.stackBytes}"
            )

    @classmethod
    def parse(
        cls, data: object, *, where: str = "execution.limits", base: CodeLimits | None = None
    ) -> CodeLimits:
        """Return the limits ``data`` (a JSON object) sets over ``base`` (the defaults)."""
        base = DEFAULTS if base is None else base
        if data is None:
            return base
        if not isinstance(data, Mapping):
            raise ValueError(f"{where} must be an object of limits, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_UNITS))
        if unknown:
            raise ValueError(
                f"{where}: unknown limit {unknown[0]!r}; the limits are {', '.join(_UNITS)}"
            )
        try:
            return replace(base, **dict(data))
        except ValueError as exc:
            raise ValueError(str(exc).replace("execution.limits", where, 1)) from None

    def within(self, ceilings: CodeLimits, *, where: str = "execution.limits") -> None:
        """Raise ``ValueError`` naming the first limit above the operator's ceiling."""
        for item in fields(self):
            asked, most = getattr(self, item.name), getattr(ceilings, item.name)
            if asked > most:
                raise ValueError(
                    f"{where}.{item.name}: {asked} is over the operator's ceiling of {most}; "
                    "ask for less, or have the operator raise the ceiling "
                    "(ARACHNE_CODE_CEILINGS)"
                )

    def capped(self, ceilings: CodeLimits) -> CodeLimits:
        """Return these limits, each lowered to its ceiling where it is above."""
        return CodeLimits(
            **{
                item.name: min(getattr(self, item.name), getattr(ceilings, item.name))
                for item in fields(self)
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the limits as the JSON object a definition would hold."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


DEFAULTS: Final = CodeLimits()
"""What a definition gets for every limit it does not set."""

CEILINGS: Final = CodeLimits(
    timeMs=10_000,
    memoryBytes=512 << 20,
    stackBytes=4 << 20,
    sourceBytes=4 << 20,
    emits=100_000,
    emitBytes=4 << 20,
    logs=1000,
    stateBytes=4 << 20,
    fuel=10_000_000_000,
)
"""The most a definition may ask for unless the operator sets other ceilings.

``emitBytes`` and ``stateBytes`` are bounded so that a reply and a state always fit in one
frame between the runtime and a worker.
"""
