"""Latency probes: set on a producer's edges after its turn, landed where the consumer takes them.

See ``runtime.timing`` for what they measure; this is where they move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.runtime.timing import PROBE_EVERY

if TYPE_CHECKING:
    from collections.abc import Callable

    from arachne.runtime.run_context import RunContext
    from arachne.runtime.running_node import RunningNode

__all__ = ["probe_landed", "probe_outputs", "timed"]


def probe_outputs(ctx: RunContext, rn: RunningNode, now: float) -> None:
    """After ``rn``'s turn: probe each free edge it fed at its newest message, stamped ``now``.

    A probe carries the start of the probe ``rn`` last took (a source starts one itself), so
    one chain of probes runs from a source to a sink.
    """
    timing = rn.timing
    if now < timing.next_probe and timing.origin < 0:  # (a probe to hand on always goes)
        return
    timing.next_probe = now + PROBE_EVERY
    origin = timing.origin if rn.links_in else now
    for outlets in rn.outputs.values():
        for outlet in outlets:
            outlet.probe(now, origin)
    timing.origin = -1.0


def probe_landed(
    ctx: RunContext, rn: RunningNode, stamped: float, origin: float, now: float
) -> None:
    """Record a probed message ``rn`` handled by ``now`` (stamped at ``stamped``)."""
    rn.timing.latency.record(now - stamped)
    if origin >= 0:
        if any(rn.outputs.values()):
            rn.timing.origin = origin
        else:
            ctx.end_to_end.record(now - origin)


def timed(ctx: RunContext, rn: RunningNode, work: Callable[[], object]) -> None:
    """Run inline work a timer started (a timed tick, a retry) as a turn: timed, then probed.

    The scheduler times the turns it gives; this does the same for what runs between them.
    """
    if not ctx.metrics or not rn.inline:
        work()
        return
    now = ctx.clock.now
    began = now()
    try:
        work()
    finally:
        ended = now()
        rn.timing.busy += ended - began
        probe_outputs(ctx, rn, ended)
