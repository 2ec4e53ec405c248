"""The seam a deterministic simulation (``arachne.sim``) fills: choices, faults, assertions.

Outside a simulation every function here is a no-op that costs one context-variable read:
``fault(name)`` returns False, ``always`` and ``sometimes`` check nothing. Inside one (the
harness sets it with :func:`simulating`), one seeded oracle decides what would otherwise be
left to chance or to other threads:

- which of the nodes ready at the same rank runs next (:meth:`Simulation.ready_queue`);
- when a thread- or process-mode call completes: calls run on the simulation's own
  executor, on the loop, in virtual time (:meth:`Simulation.executor`);
- whether a named fault point fires (``fault("durable.write")``), so library code can fail
  where real systems fail, and the run says which points it reached.

A part that keeps data on disk says, with :func:`at_power_loss`, what a power loss would take
back (a commit whose fsync was lost); the harness calls it when it kills a run.

``always(cond, what)`` records a broken invariant (the run fails, naming it) and
``sometimes(cond, what)`` records that a case was seen at least once: a coverage report shows
the faults and cases a set of seeds exercised (Antithesis' ``always``/``sometimes``).
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from concurrent.futures import Executor

    from arachne.runtime.ready_queue import ReadyQueue

__all__ = [
    "FAULT_POINTS",
    "PLANTED",
    "Simulation",
    "always",
    "at_power_loss",
    "current",
    "declare",
    "fault",
    "simulating",
    "sometimes",
]

FAULT_POINTS: dict[str, str] = {}
"""Every fault point library code declared (:func:`declare`), by name: what it stands for.

The coverage report lists them all, so a point no seed ever reached shows as such."""


def declare(name: str, what: str) -> str:
    """Declare fault point ``name`` (what failing there stands for); return the name."""
    FAULT_POINTS[name] = what
    return name


NODE_CRASH = declare("node.crash", "a node's hook crashes before it handles a value")

PLANTED: set[str] = set()
"""Bugs planted on purpose, by name, for a test to prove the simulation finds them.

Empty unless a test adds one (and takes it out again). ``"retry.third.drop"``: a class
node's third try at a message is skipped and counted a success, so the message is lost: a
rare path (two failures in a row at one message) plain tests walk past.
"""


class Simulation(Protocol):
    """What the runtime asks of a running simulation."""

    def ready_queue(self) -> ReadyQueue[Any]:
        """Return a ready queue whose ties the simulation's oracle breaks."""
        ...

    def executor(self) -> Executor:
        """Return the executor thread- and process-mode calls run on under simulation."""
        ...

    def fault(self, name: str) -> bool:
        """Record that fault point ``name`` was reached; return whether it fires now."""
        ...

    def at_power_loss(self, undo: Callable[[], None]) -> None:
        """Keep ``undo``: what the machine losing power (the run killed) would take back."""
        ...

    def always(self, condition: bool, what: str) -> None:
        """Record an invariant check: a false ``condition`` fails the run, naming ``what``."""
        ...

    def sometimes(self, condition: bool, what: str) -> None:
        """Record a case: ``what`` counts as seen once ``condition`` was true."""
        ...


_CURRENT: ContextVar[Simulation | None] = ContextVar("arachne_simulation", default=None)


def current() -> Simulation | None:
    """Return the simulation running in this context, or ``None``."""
    return _CURRENT.get()


@contextlib.contextmanager
def simulating(simulation: Simulation) -> Iterator[None]:
    """Run the block (and the tasks it starts) inside ``simulation``."""
    token = _CURRENT.set(simulation)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def fault(name: str) -> bool:
    """Return whether fault point ``name`` fires now (never outside a simulation)."""
    simulation = _CURRENT.get()
    return False if simulation is None else simulation.fault(name)


def at_power_loss(undo: Callable[[], None]) -> None:
    """Under simulation, have ``undo`` run if the machine loses power (nothing outside one)."""
    simulation = _CURRENT.get()
    if simulation is not None:
        simulation.at_power_loss(undo)


def always(condition: bool, what: str) -> None:
    """Check an invariant under simulation: a false ``condition`` fails the run."""
    simulation = _CURRENT.get()
    if simulation is not None:
        simulation.always(condition, what)


def sometimes(condition: bool, what: str) -> None:
    """Mark a case under simulation: the coverage report says whether it was ever seen."""
    simulation = _CURRENT.get()
    if simulation is not None:
        simulation.sometimes(condition, what)
