"""Error policies at work: what happens when a node's hook raises."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from arachne.model.error_record import ERROR_PORT, ErrorRecord
from arachne.model.errors import NodeFailed
from arachne.model.message import EMPTY_HEADERS, new_message
from arachne.model.policies import Retry
from arachne.runtime.completion import describe

if TYPE_CHECKING:
    from arachne.model.message import Message
    from arachne.runtime.execution import Execution
    from arachne.runtime.running_node import RunningNode

__all__ = ["Decision", "decide", "decide_batch"]

log = logging.getLogger("arachne.runtime")

LOGGED_SKIPS: Final = 10
"""Skips logged per node at WARNING; the rest at DEBUG (they are all counted)."""


class Decision:
    """What to do after a failed call: go on (``delay is None``) or retry after ``delay``."""

    __slots__ = ("delay",)

    def __init__(self, delay: float | None) -> None:
        self.delay = delay


GO_ON: Final = Decision(None)


def decide(
    ex: Execution,
    rn: RunningNode,
    port: str | None,
    msg: Message | None,
    exc: BaseException,
    attempt: int,
) -> Decision:
    """Apply ``rn``'s error policy to a call that raised ``exc`` on attempt ``attempt``.

    Returns a retry delay, or ``GO_ON`` once the message has been skipped or dead-lettered
    (an ``ErrorRecord`` leaves by the ``error`` port whenever it is connected). Raises
    ``NodeFailed`` (cause chained) under ``"fail"``.
    """
    rn.errors += 1
    policy = rn.error_policy
    if isinstance(policy, Retry):
        if attempt < policy.max_attempts:
            rn.retried += 1
            spread = ex.rng.uniform(-1.0, 1.0) if policy.jitter else 0.0
            return Decision(policy.delay(attempt, spread))
        final = policy.then
    else:
        final = policy
    if final == "fail":
        where = "on_tick" if port is None else f"on_message({port!r})"
        suffix = f" after {attempt} attempts" if attempt > 1 else ""
        raise NodeFailed(rn.id, f"{where} raised {describe(exc)}{suffix}") from exc
    _route(rn, port, msg, exc, attempt)
    if final == "skip":
        rn.skipped += 1
        level = logging.WARNING if rn.skipped <= LOGGED_SKIPS else logging.DEBUG
        log.log(level, "node %r skipped a message after %s: %s", rn.id, attempt, describe(exc))
    return GO_ON


def decide_batch(
    ex: Execution,
    rn: RunningNode,
    port: str,
    msgs: list[Message],
    exc: BaseException,
    attempt: int,
) -> Decision:
    """Apply the error policy to a failed ``on_batch`` call: the batch is one unit.

    One error is counted and one decision made; when the batch is given up, every message in
    it is skipped or dead-lettered (so each can be replayed).
    """
    decision = decide(ex, rn, port, msgs[0], exc, attempt)
    if decision.delay is None:
        final = rn.error_policy.then if isinstance(rn.error_policy, Retry) else rn.error_policy
        for msg in msgs[1:]:
            _route(rn, port, msg, exc, attempt)
            if final == "skip":
                rn.skipped += 1
    return decision


def _route(
    rn: RunningNode, port: str | None, msg: Message | None, exc: BaseException, attempt: int
) -> None:
    edges = rn.outputs.get(ERROR_PORT, ())
    if not edges:
        return
    headers = msg.headers if msg is not None else EMPTY_HEADERS
    record = ErrorRecord(
        node_id=rn.id,
        port=port,
        error_type=type(exc).__name__,
        error=str(exc),
        attempts=attempt,
        payload=msg.payload if msg is not None else None,
        headers=dict(headers),
    )
    out = new_message(record, headers)
    rn.dead_lettered += 1
    for edge in edges:
        edge.push(out)
