"""OpenTelemetry traces: a span for each node's handling of a message, linked along the graph.

``OpenTelemetryTracer`` implements the runtime's tracing seam (``arachne.runtime.tracing``)
with the OpenTelemetry API (the ``otel`` extra: ``pip install arachne-runtime[otel]``):

- a message that starts at a source (or an ``inject`` without a ``traceparent`` of its own)
  starts a trace: a root span named after the node, opened and closed at once;
- every node that handles a traced message does so inside a span of its own, child of the
  span whose emit carried it (the W3C ``traceparent`` travels in the message's headers, so
  this holds across thread, async and process modes), and marked failed when the call
  raised; ``http-request`` sends the context on to the server it calls;
- the message's ``trace_id`` header is the trace's id, so log records (``JsonLogFormatter``)
  and spans of one message share it.

``sample`` (0 to 1) decides at the root which share of messages is traced; the others carry
no headers, so the nodes they pass take their fast paths (the source still asks, value by
value, and a tracer turns fusion off). The tracer provider's own sampler applies as well.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from arachne.runtime.tracing import TRACEPARENT

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["OpenTelemetryTracer"]


class OpenTelemetryTracer:
    """Spans through OpenTelemetry: ``Runtime(tracer=OpenTelemetryTracer())``.

    ``provider`` defaults to the global tracer provider; ``sample`` is the share of messages
    starting at a source that are traced (1.0: all).
    """

    def __init__(
        self,
        provider: TracerProvider | None = None,
        *,
        sample: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if isinstance(sample, bool) or not isinstance(sample, int | float) or not 0 <= sample <= 1:
            raise ValueError(f"sample must be a number from 0 to 1, got {sample!r}")
        source = provider if provider is not None else trace.get_tracer_provider()
        self._tracer = source.get_tracer("arachne")
        self._propagator = TraceContextTextMapPropagator()
        self._sample = float(sample)
        self._rng = random.Random(seed)  # noqa: S311  # sampling, not cryptography

    def root(self, execution_id: str, node_id: str) -> tuple[str, str] | None:
        """Start a trace at ``node_id``: its root span; ``None`` if the message is not sampled."""
        if self._sample < 1.0 and self._rng.random() >= self._sample:
            return None
        span = self._tracer.start_span(
            node_id, context=Context(), attributes=_attributes(execution_id, node_id)
        )
        span.end()
        own = self._traceparent(span)
        if own is None:
            return None
        return format(span.get_span_context().trace_id, "032x"), own

    def begin(self, execution_id: str, node_id: str, parent: str) -> tuple[Span, str]:
        """Open ``node_id``'s span, child of the ``parent`` traceparent."""
        context = self._propagator.extract({TRACEPARENT: parent})
        span = self._tracer.start_span(
            node_id, context=context, attributes=_attributes(execution_id, node_id)
        )
        return span, self._traceparent(span) or parent

    def end(self, span: Any, error: BaseException | None) -> None:
        """Close ``span``, recording ``error`` on it if the call raised."""
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()

    def _traceparent(self, span: Span) -> str | None:
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, context=trace.set_span_in_context(span))
        return carrier.get(TRACEPARENT)


def _attributes(execution_id: str, node_id: str) -> dict[str, str]:
    return {"arachne.execution_id": execution_id, "arachne.node_id": node_id}
