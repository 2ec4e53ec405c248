"""Spans along the graph: the seam a tracer (OpenTelemetry, in ``arachne.observability``) fills.

The runtime knows no tracing library. Given a :class:`Tracer` (``Runtime(tracer=...)``), it
asks it for a root at each message that starts at a source or an ``inject``, and for a span
around each handling of a message that carries a W3C ``traceparent`` header; the handled
message's emits carry the new span's ``traceparent`` on, so spans link parent to child in graph
order, across thread, async and process modes (the header travels with the message; the span
is opened and closed on the loop, around the call). A message the tracer does not sample
carries no headers at all, so it takes the fast paths.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeAlias

from arachne.model.message import Headers

if TYPE_CHECKING:
    from arachne.model.message import Message

__all__ = ["TRACEPARENT", "Closer", "Span", "Tracer", "open_span", "traceparent"]

TRACEPARENT = "traceparent"
"""The header that carries the W3C trace context from node to node."""


class Span(Protocol):
    """A span the tracer opened: whatever it needs to close it."""


class Tracer(Protocol):
    """What the runtime asks of a tracer. Called on the execution's loop only."""

    def root(self, execution_id: str, node_id: str) -> tuple[str, str] | None:
        """Open and close a span for a message starting at ``node_id``.

        Return ``(trace_id, traceparent)`` for its headers, or ``None`` when the message is not
        sampled (it then goes without headers).
        """
        ...

    def begin(self, execution_id: str, node_id: str, parent: str) -> tuple[Span, str]:
        """Open a span for ``node_id`` handling a message, child of ``parent`` (a traceparent).

        Return the span and the ``traceparent`` its emits carry.
        """
        ...

    def end(self, span: Span, error: BaseException | None) -> None:
        """Close ``span``; ``error`` is what the call raised, if it did."""
        ...


Closer: TypeAlias = Callable[[BaseException | None], None]
"""Closes one open span, given what the call raised (``None``: it returned)."""


def traceparent(msg: Message) -> str | None:
    """Return the ``traceparent`` ``msg`` carries, if any."""
    headers = msg.headers
    if not headers:
        return None
    value = headers.get(TRACEPARENT)
    return value if isinstance(value, str) else None


def open_span(
    tracer: Tracer | None, execution_id: str, node_id: str, headers: Headers
) -> tuple[Closer | None, Headers]:
    """Open ``node_id``'s span for a message with ``headers``, if it carries a trace context.

    Return what closes the span (``None``: no tracer, or no ``traceparent``) and the headers
    the node's emits carry meanwhile: ``headers`` with the new span as their ``traceparent``.
    """
    if tracer is None or not headers:
        return None, headers
    parent = headers.get(TRACEPARENT)
    if not isinstance(parent, str):
        return None, headers
    span, own = tracer.begin(execution_id, node_id, parent)
    return partial(tracer.end, span), headers.with_item(TRACEPARENT, own)
