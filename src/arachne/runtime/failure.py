"""Error policies at work: what happens when a node's hook raises, and retries scheduled.

Every path that calls a node (a message, a batch, a tick, a call off the loop, a fused stage)
hands a failure to :func:`decide` and, when it says retry, schedules it with
:func:`schedule_retry`; lifecycle hooks that raise become :func:`node_failure`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from arachne.model.error_record import ERROR_PORT, ErrorRecord
from arachne.model.errors import NodeFailed, describe
from arachne.model.message import EMPTY_HEADERS, new_message
from arachne.model.policies import Retry
from arachne.runtime import events
from arachne.runtime.log_context import CURRENT_NODE, node_fields
from arachne.runtime.probes import timed

if TYPE_CHECKING:
    from arachne.model.message import Message
    from arachne.model.policies import ErrorPolicyName
    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import RunningNode

__all__ = ["decide", "decide_batch", "node_failure", "schedule_retry"]

log = logging.getLogger("arachne.runtime")

LOGGED_SKIPS: Final = 10
"""Skips logged per node at WARNING (when nothing else records them); the rest at DEBUG."""


def node_failure(
    ctx: RunContext, rn: RunningNode, hook: str, exc: BaseException, message: str
) -> NodeFailed:
    """Return the ``NodeFailed`` that ends the run for ``exc`` in ``hook``, cause chained.

    Counts the error and announces it (``NodeFailed`` event) for whoever listens.
    """
    rn.counts.errors += 1
    failure = NodeFailed(rn.id, message)
    failure.__cause__ = exc
    bus = ctx.bus
    if events.NodeFailed in bus.wanted:
        bus.publish(
            events.NodeFailed(
                execution_id=ctx.execution_id,
                node_id=rn.id,
                hook=hook,
                error_type=type(exc).__name__,
                error=str(exc),
            )
        )
    return failure


def decide(
    ctx: RunContext,
    rn: RunningNode,
    port: str | None,
    msg: Message | None,
    exc: BaseException,
    attempt: int,
) -> float | None:
    """Apply ``rn``'s error policy to a call that raised ``exc`` on attempt ``attempt``.

    Returns the delay before the next attempt, or ``None`` once the message has been skipped
    or dead-lettered (an ``ErrorRecord`` leaves by the ``error`` port whenever it is
    connected). Raises ``NodeFailed`` (cause chained) under ``"fail"``.
    """
    policy = rn.error_policy
    if isinstance(policy, Retry) and attempt < policy.max_attempts:
        rn.counts.errors += 1
        rn.counts.retried += 1
        spread = ctx.rng.uniform(-1.0, 1.0) if policy.jitter else 0.0
        delay = policy.delay(attempt, spread)
        bus = ctx.bus
        if events.RetryScheduled in bus.wanted:
            bus.publish(
                events.RetryScheduled(
                    execution_id=ctx.execution_id,
                    node_id=rn.id,
                    port=port,
                    attempt=attempt,
                    delay=delay,
                    error=describe(exc),
                )
            )
        return delay
    final = _final(rn)
    if final == "fail":
        where = "on_tick" if port is None else f"on_message({port!r})"
        suffix = f" after {attempt} attempts" if attempt > 1 else ""
        hook = "on_tick" if port is None else "on_message"
        raise node_failure(ctx, rn, hook, exc, f"{where} raised {describe(exc)}{suffix}")
    rn.counts.errors += 1
    _give_up(ctx, rn, final, port, msg, exc, attempt)
    return None


def decide_batch(
    ctx: RunContext,
    rn: RunningNode,
    port: str,
    msgs: list[Message],
    exc: BaseException,
    attempt: int,
) -> float | None:
    """Apply the error policy to a failed batch call: the batch is one unit.

    One error is counted and one decision made; when the batch is given up, every message in
    it is skipped or dead-lettered (so each can be replayed).
    """
    delay = decide(ctx, rn, port, msgs[0], exc, attempt)
    if delay is None:
        final = _final(rn)
        for msg in msgs[1:]:
            _give_up(ctx, rn, final, port, msg, exc, attempt)
    return delay


def schedule_retry(
    ctx: RunContext,
    rn: RunningNode,
    delay: float,
    retry: Callable[[], None],
    *,
    hold: bool = True,
) -> None:
    """Run ``retry`` after ``delay`` seconds on the execution's clock.

    With ``hold`` the node takes nothing else meanwhile (so its order is kept); ``retry`` must
    release it, and waits, if its outputs are full when it comes due, until they have room
    (the bound on a ``block`` edge holds through retries). Calls off the loop retry their own
    slot and leave the node running.
    """
    at = ctx.clock.now() + delay

    def due() -> None:
        token = CURRENT_NODE.set(rn)  # the retry logs as its node
        try:
            if hold:
                timed(ctx, rn, lambda: _when_room(rn, retry))
            else:
                retry()  # a call off the loop: timed as it runs
        finally:
            CURRENT_NODE.reset(token)

    if hold:
        rn.suspended = True
    ctx.timers.add(at, due)
    ctx.gate.wake()


def _when_room(rn: RunningNode, retry: Callable[[], None]) -> None:
    """Run a held node's due retry now, or once its full outputs have room (see activate)."""
    if rn.blocked:
        rn.deferred = retry
        return
    retry()


def _final(rn: RunningNode) -> ErrorPolicyName:
    policy = rn.error_policy
    return policy.then if isinstance(policy, Retry) else policy


def _give_up(
    ctx: RunContext,
    rn: RunningNode,
    final: ErrorPolicyName,
    port: str | None,
    msg: Message | None,
    exc: BaseException,
    attempt: int,
) -> None:
    routed = _route(ctx, rn, port, msg, exc, attempt)
    if final == "dead_letter" and routed:
        return
    # Skipped; also a dead letter with nowhere to go (its error edge was removed while the
    # run went on): counted and logged rather than lost without a trace.
    rn.counts.skipped += 1
    _announce(ctx, events.MessageSkipped, rn, port, exc, attempt)
    if not routed:  # nothing else keeps a trace of it
        level = logging.WARNING if rn.counts.skipped <= LOGGED_SKIPS else logging.DEBUG
        extra = node_fields(rn, msg.headers if msg is not None else None)
        extra["error_type"] = type(exc).__name__
        log.log(
            level,
            "node %r skipped a message after %s: %s",
            rn.id,
            attempt,
            describe(exc),
            extra=extra,
        )


def _route(
    ctx: RunContext,
    rn: RunningNode,
    port: str | None,
    msg: Message | None,
    exc: BaseException,
    attempt: int,
) -> bool:
    """Send an ``ErrorRecord`` out of the ``error`` port if it is connected; say whether."""
    outlets = rn.outputs.get(ERROR_PORT, ())
    if not outlets:
        return False
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
    rn.counts.dead_lettered += 1
    for outlet in outlets:
        outlet.push(out)
    _announce(ctx, events.DeadLettered, rn, port, exc, attempt)
    return True


def _announce(
    ctx: RunContext,
    kind: type[events.MessageSkipped | events.DeadLettered],
    rn: RunningNode,
    port: str | None,
    exc: BaseException,
    attempt: int,
) -> None:
    """Publish that ``rn`` gave a message up (``kind`` says how), if anyone listens."""
    bus = ctx.bus
    if kind in bus.wanted:
        bus.publish(
            kind(
                execution_id=ctx.execution_id,
                node_id=rn.id,
                port=port,
                attempts=attempt,
                error=describe(exc),
            )
        )
