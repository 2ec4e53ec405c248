"""Deterministic simulation: run a graph on virtual time, every choice made by one seed.

``simulate(build, seed)`` runs the graph ``build()`` makes on an event loop whose time jumps
to its next timer (:class:`SimLoop`), with one seeded :class:`Oracle` deciding every choice
left to chance (the ready queue's ties, when thread- and process-mode calls complete, which
fault points fire). The same seed gives the same run, event for event: its trace hash says
so. ``explore`` runs many seeds; ``fault``, ``always`` and ``sometimes`` are the points and
assertions library code and tests declare (no-ops outside a simulation). docs/simulation.md
has the whole story.
"""

from __future__ import annotations

# (imported for the fault points they declare: the coverage report lists every one)
import arachne.components.builtins
import arachne.durable  # noqa: F401
from arachne.runtime.simulation import always, fault, sometimes
from arachne.sim.loop import SimClock, SimLoop, Stalled
from arachne.sim.oracle import Coverage, Livelock, Mode, Oracle
from arachne.sim.run import (
    EXECUTION_ID,
    Exploration,
    Killed,
    RealTimeUsed,
    SimResult,
    SimulatedCrash,
    explore,
    simulate,
)

__all__ = [
    "EXECUTION_ID",
    "Coverage",
    "Exploration",
    "Killed",
    "Livelock",
    "Mode",
    "Oracle",
    "RealTimeUsed",
    "SimClock",
    "SimLoop",
    "SimResult",
    "SimulatedCrash",
    "Stalled",
    "always",
    "explore",
    "fault",
    "simulate",
    "sometimes",
]
