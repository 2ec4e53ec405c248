"""Function stages: a node that is one function, and the one routine that calls it.

An ``@node`` function is a *stage*: the runtime may call it on a whole list of payloads at
once (a batch taken from an edge, a fused chain's batch, a worker process's one payload)
instead of one ``on_message`` call per message. :func:`call_stage` is that call, for every
path: it applies the function and the stage's meaning of ``None`` ("emit nothing"), and hands
each failure to the caller's error policy, value by value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from operator import length_hint
from typing import Any, Literal, NoReturn, TypeAlias

__all__ = ["FunctionStage", "StageFailure", "StageKind", "call_stage", "reraise"]

StageKind: TypeAlias = Literal["map", "filter", "many", "batch"]


@dataclass(frozen=True, slots=True)
class FunctionStage:
    """What the runtime needs to call a function node without its ``on_message``.

    - ``map``: ``fn(payload)`` returns one result; ``None`` emits nothing.
    - ``filter``: ``fn(payload)`` is a predicate; the payload itself passes when it holds.
    - ``many``: ``fn(payload)`` returns (or yields) any number of results, each emitted
      (``None`` too: a generator says what it emits by yielding it).
    - ``batch``: ``fn(payloads)`` takes a list and returns a list of results (``None`` items
      emit nothing), or ``None`` to emit nothing at all.

    Results leave on ``output_port``.
    """

    fn: Callable[[Any], Any]
    kind: StageKind
    output_port: str


StageFailure: TypeAlias = Callable[[int | None, Exception], bool]
"""Told that the call on value ``index`` raised (``None``: a batch call, the whole list).

Returns True to go on with the next value, False to stop at that one (it will be retried).
It may raise instead, to end the run.
"""


def call_stage(
    stage: FunctionStage, values: list[Any], failed: StageFailure
) -> tuple[list[Any], int]:
    """Call ``stage`` on ``values``; return its results and how many values were used up.

    The count is ``len(values)`` unless ``failed`` asked to stop: then it is the index of the
    value to retry (``0`` for a batch call). Results of the values before a stop are kept, as
    is whatever a ``many`` call yielded before it raised.

    One call per value runs inside C ``map``/``filter`` (measured about a quarter faster than
    a Python loop); a call that raises stops it, the failing value is found by the iterator's
    position, and the loop resumes after it. A map's ``None`` results are removed by
    identity, so values with an unusual ``==`` (arrays) are never compared.
    """
    fn, kind = stage.fn, stage.kind
    if kind == "batch":
        if not values:
            return [], 0
        try:
            # A copy: the list may be the producer's own, shared with sibling stages.
            returned = fn(list(values))
            kept = [] if returned is None else [r for r in returned if r is not None]
        except Exception as exc:
            return [], len(values) if failed(None, exc) else 0
        return kept, len(values)
    if len(values) == 1 and kind != "many":
        # One value (a message pushed alone: tracing, a paced source): no iterator to set up.
        value = values[0]
        try:
            returned = fn(value)
        except Exception as exc:
            return [], 1 if failed(0, exc) else 0
        if kind == "map":
            return ([] if returned is None else [returned]), 1
        return ([value] if returned else []), 1
    results: list[Any] = []
    it = iter(values)
    end = len(values)
    while True:
        try:
            if kind == "map":
                results.extend(map(fn, it))
            elif kind == "filter":
                results.extend(filter(fn, it))
            else:
                results.extend(chain.from_iterable(map(fn, it)))
            break
        except Exception as exc:
            index = len(values) - length_hint(it) - 1
            if not failed(index, exc):
                end = index
                break
    if kind == "map":
        return [result for result in results if result is not None], end
    return results, end


def reraise(index: int | None, exc: Exception) -> NoReturn:
    """Raise ``exc``: the ``StageFailure`` of callers with no policy to apply."""
    raise exc
