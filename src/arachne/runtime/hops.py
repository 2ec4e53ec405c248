"""Hops: what a message's headers gain as a node handles it, on every path that handles one.

One handling of a message by a node is a *hop*. Before the node's code runs, the runtime
works out the headers its emits will carry meanwhile:

- with a tracer, a span of the node, child of the message's (``runtime.tracing``);
- with lineage on, a lineage hop, child of the message's (``runtime.lineage``);
- the taint labels (``runtime.taints``): those the message arrived with are counted on the
  node's input route, the node's declared labels are put on and its repairs taken off, and a
  retried handling adds ``retried``.

A message with no headers, handled once by a node that declares no labels, costs one test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.model.message import EMPTY_HEADERS, Headers, Message, new_message
from arachne.runtime.lineage import LINEAGE
from arachne.runtime.taints import RETRIED, TAINTS, labels_of, retaint
from arachne.runtime.tracing import TRACEPARENT, open_span

if TYPE_CHECKING:
    from collections.abc import Iterable

    from arachne.runtime.lineage import Lineage
    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import RunningNode
    from arachne.runtime.tracing import Closer

__all__ = ["carry", "combine", "open_batch", "open_hop"]

_RETRIED = frozenset((RETRIED,))


def combine(many: Iterable[Headers]) -> Headers:
    """Return the headers of one value made from messages with headers ``many``.

    For a node that keeps messages and emits one value from them later (an accumulator's
    batch): the value comes from every one of them (their lineage ids, as a tuple) and
    carries every label any of them had. Other headers are the first's.
    """
    first: Headers | None = None
    ids: list[int] = []
    labels: set[str] = set()
    for headers in many:
        if not headers:
            continue
        if first is None:
            first = headers
        ids.extend(_ids(headers.get(LINEAGE)))
        labels.update(labels_of(headers))
    if first is None:
        return EMPTY_HEADERS
    fields = first.as_dict()
    fields.pop(LINEAGE, None)
    fields.pop(TAINTS, None)
    if ids:
        unique = tuple(dict.fromkeys(ids))
        fields[LINEAGE] = unique[0] if len(unique) == 1 else unique
    if labels:
        fields[TAINTS] = tuple(sorted(labels))
    return Headers.trusted(fields) if fields else EMPTY_HEADERS


def carry(own: Headers, current: Headers) -> Headers:
    """Return the headers of a ``Message`` a node emits with headers ``own`` of its own.

    ``current`` are those of what it handles (or a source's fresh ones): the message keeps
    its own, and takes ``current``'s lineage (unless it names its own) and every label of
    both, so a header a node adds does not cut its output off from where it came from.
    """
    lineage = current.get(LINEAGE)
    labels = labels_of(current)
    if lineage is None and not labels:
        return own
    fields = own.as_dict()
    if lineage is not None and LINEAGE not in own:
        fields[LINEAGE] = lineage
    if labels:
        fields[TAINTS] = tuple(sorted({*labels_of(own), *labels}))
    return Headers.trusted(fields)


def _ids(value: object) -> tuple[int, ...]:
    """Return the lineage ids a ``lineage`` header holds: one int, or a tuple of them."""
    if type(value) is int:
        return (value,)
    if type(value) is tuple:
        return tuple(item for item in value if type(item) is int)
    return ()


def open_hop(
    ctx: RunContext, rn: RunningNode, port: str, headers: Headers, attempt: int = 1
) -> tuple[Closer | None, Headers]:
    """Open ``rn``'s hop for a message with ``headers`` on ``port`` (its ``attempt``-th try).

    Return what closes its span (``None``: no span) and the headers its emits carry meanwhile.
    """
    close = None
    if headers and ctx.tracer is not None:
        close, headers = open_span(ctx.tracer, ctx.execution_id, rn.id, headers)
    marked = _marked(ctx, rn, port, headers, attempt)
    lineage = ctx.lineage
    if lineage is not None and marked is not headers:
        hop = marked.get(LINEAGE)
        if type(hop) is int and hop != headers.get(LINEAGE):
            close = _unlisting(lineage, rn.id, (hop,), close)
    return close, marked


def _unlisting(
    lineage: Lineage, node_id: str, hops: tuple[int, ...], inner: Closer | None
) -> Closer:
    """Return what closes a handling: a failed one is not one of the node's outputs.

    Its hops stay in the table (what the node emitted before it failed came from them), but
    ``Lineage.recent`` no longer lists them; ``inner`` closes the handling's span.
    """

    def close(error: BaseException | None) -> None:
        if error is not None:
            lineage.unlist(node_id, hops)
        if inner is not None:
            inner(error)

    return close


def _marked(ctx: RunContext, rn: RunningNode, port: str, headers: Headers, attempt: int) -> Headers:
    """Return ``headers`` with ``rn``'s taint labels and lineage hop (see the module's text)."""
    if headers and attempt == 1:
        labels = labels_of(headers)
        if labels:
            ctx.taints.add(rn.id, port, labels)
    if rn.marks or attempt > 1:
        added = rn.introduces | _RETRIED if attempt > 1 else rn.introduces
        headers = retaint(headers, added, rn.repairs)
    if headers:
        lineage = ctx.lineage
        if lineage is not None:
            parent = headers.get(LINEAGE)
            if parent is not None:
                parents = (parent,) if type(parent) is int else _ids(parent)
                if parents:
                    hop = lineage.hop(rn.id, parents, taints=labels_of(headers))
                    headers = headers.with_item(LINEAGE, hop)
    return headers


def open_batch(
    ctx: RunContext, rn: RunningNode, port: str, msgs: list[Message], attempt: int
) -> tuple[Closer | None, Headers | None, list[Message]]:
    """Open ``rn``'s hop for a batch handled in one call (``on_batch``).

    Each message gets a hop of its own (so one emitted as it came keeps its own lineage and
    labels); return what closes the batch's span, the headers of what the call emits as new
    values (from all the messages: every lineage id, every label) or ``None`` when none carry
    any, and the messages to hand to the call.
    """
    if not rn.marks and attempt == 1 and all(msg.headers is EMPTY_HEADERS for msg in msgs):
        return None, None, msgs
    close = None
    current: Headers = EMPTY_HEADERS
    tracer = ctx.tracer
    if tracer is not None:
        # One span for the batch, child of its first traced message's.
        traced = next((msg.headers for msg in msgs if TRACEPARENT in msg.headers), None)
        if traced is not None:
            close, current = open_span(tracer, ctx.execution_id, rn.id, traced)
    lineage = ctx.lineage
    handed: list[Message] = []
    hops: list[int] = []
    labels: set[str] = set()
    for msg in msgs:
        headers = _marked(ctx, rn, port, msg.headers, attempt)
        hop = headers.get(LINEAGE)
        if type(hop) is int and hop != msg.headers.get(LINEAGE):
            hops.append(hop)
        labels.update(labels_of(headers))
        handed.append(msg if headers is msg.headers else new_message(msg.payload, headers))
    if lineage is not None and hops:
        close = _unlisting(lineage, rn.id, tuple(hops), close)
    if current is EMPTY_HEADERS:
        current = next((msg.headers for msg in handed if msg.headers), EMPTY_HEADERS)
    fields = current.as_dict()
    if lineage is not None and hops:
        # What the call makes from the whole batch comes from every message in it.
        fields[LINEAGE] = (
            hops[0]
            if len(hops) == 1
            else lineage.hop(rn.id, tuple(hops), False, tuple(sorted(labels)))
        )
    if labels:
        fields[TAINTS] = tuple(sorted(labels))
    else:
        fields.pop(TAINTS, None)
    return close, (Headers.trusted(fields) if fields else None), handed
