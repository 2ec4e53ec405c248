"""The runtime's one event hook: lifecycle events for whoever installs a listener."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = ["Event", "EventHook"]


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to an execution or one of its nodes.

    ``kind`` is one of ``execution.state``, ``node.started``, ``node.finished``,
    ``node.stopped``, ``node.failed``; ``detail`` carries kind-specific data (the new state,
    the error text).
    """

    kind: str
    execution_id: str
    node_id: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


EventHook: TypeAlias = Callable[[Event], None]
"""Called synchronously on the loop thread; keep it quick and never raise."""
