"""Slots: one call of a node's hook in flight, and what it emitted."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from arachne.model.message import Headers, Message
    from arachne.runtime.tracing import Closer

__all__ = ["CURRENT_SLOT", "Slot"]


@dataclass(slots=True)
class Slot:
    """A call of ``on_message`` (``port`` and ``msg`` set) or ``on_tick`` (both ``None``).

    Emits made during the call are held in ``outputs`` and leave when the call lands, in input
    order if the node is ``ordered``; so a call running in a thread or a coroutine never
    touches an edge.
    """

    port: str | None
    msg: Message | None
    attempt: int = 1
    outputs: list[tuple[str, Any]] = field(default_factory=list)
    done: bool = False
    failed: bool = False
    expired: bool = False  # the call outlived the node's timeout and was abandoned
    probe: tuple[float, float] | None = None  # its message's latency probe: (stamped, origin)
    close: Closer | None = None  # closes the attempt's span (with a tracer)
    headers: Headers | None = None  # what its emits carry, if not its message's (its span's)
    source: object = None  # the input edge its message was taken from (runtime.watermarks)
    position: int = 0  # that edge's count of messages taken, this one included


CURRENT_SLOT: Final[ContextVar[Slot | None]] = ContextVar("arachne_current_slot", default=None)
"""The call in progress in this task or thread, if any: where ``emit`` puts what it sends."""
