"""The oracle: one seeded source for every choice a simulated run makes, and what it saw.

An :class:`Oracle` is the :class:`~arachne.runtime.simulation.Simulation` the runtime asks
(``runtime.simulation``): it breaks the ready queue's ties, decides when each thread- or
process-mode call completes (in virtual time, on the loop), whether each fault point fires,
and keeps the coverage a run reports: every fault point reached and fired, every
``always`` broken, every ``sometimes`` seen.

Faults fire at ``faults``: a probability per reach, for every point, or a mapping from fault
point to its own probability (the points it leaves out never fire). In the default
*liveness* mode at most ``max_faults`` fire in a run, so the graph can still make progress
and a run that never ends is a bug; in *safety* mode there is no cap (TigerBeetle's capped
faults hide safety bugs), and only invariants (``always``) are judged.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from arachne.runtime.ready_queue import ShuffledReadyQueue
from arachne.runtime.simulation import FAULT_POINTS

if TYPE_CHECKING:
    from collections.abc import Callable

    from arachne.runtime.ready_queue import ReadyQueue
    from arachne.sim.loop import SimLoop

__all__ = ["Coverage", "Livelock", "Mode", "Oracle"]

P = ParamSpec("P")
T = TypeVar("T")

Mode = Literal["liveness", "safety"]
"""How faults are rationed: capped per run (liveness), or not at all (safety)."""

CALL_DELAY = 0.001
"""The longest a thread- or process-mode call takes in virtual time (seconds)."""


class Livelock(RuntimeError):
    """A simulated run took more activations than allowed without ending (``max_steps``)."""


@dataclass
class Coverage:
    """What a run (or a set of runs, merged) exercised."""

    reached: Counter[str] = field(default_factory=Counter)  # fault point -> times reached
    fired: Counter[str] = field(default_factory=Counter)  # fault point -> times it fired
    checked: Counter[str] = field(default_factory=Counter)  # always -> times checked
    broken: Counter[str] = field(default_factory=Counter)  # always -> times false
    seen: dict[str, bool] = field(default_factory=dict)  # sometimes -> ever true

    def merge(self, other: Coverage) -> None:
        """Add ``other``'s counts to these."""
        self.reached.update(other.reached)
        self.fired.update(other.fired)
        self.checked.update(other.checked)
        self.broken.update(other.broken)
        for what, seen in other.seen.items():
            self.seen[what] = self.seen.get(what, False) or seen

    def report(self) -> str:
        """Return the coverage as lines a person reads.

        Every declared fault point is listed (``runtime.simulation.FAULT_POINTS``), those
        never reached too, and so is any other point reached.
        """
        lines = ["fault points (reached, fired):"]
        names = sorted(set(FAULT_POINTS) | set(self.reached))
        lines += [
            f"  {name}: {self.reached[name]}, {self.fired[name]}"
            + ("" if self.reached[name] else "  (never reached)")
            for name in names
        ]
        if self.checked:
            lines.append("always (checked, broken):")
            lines += [
                f"  {what}: {n}, {self.broken[what]}" for what, n in sorted(self.checked.items())
            ]
        if self.seen:
            lines.append("sometimes (seen):")
            lines += [
                f"  {what}: {'yes' if seen else 'NO'}" for what, seen in sorted(self.seen.items())
            ]
        return "\n".join(lines)


def _rates(faults: float | Mapping[str, float]) -> float | dict[str, float]:
    """Check ``faults`` (one probability, or one per fault point) and return it."""
    if isinstance(faults, Mapping):
        unknown = sorted(set(faults) - set(FAULT_POINTS))
        if unknown:
            raise ValueError(
                f"faults names fault points nobody declared: {', '.join(unknown)}; the "
                f"declared ones: {', '.join(sorted(FAULT_POINTS))}"
            )
        for name, rate in faults.items():
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
                raise ValueError(f"faults[{name!r}] is a probability from 0 to 1, got {rate!r}")
        return dict(faults)
    if isinstance(faults, bool) or not isinstance(faults, int | float) or not 0 <= faults <= 1:
        raise ValueError(f"faults is a probability from 0 to 1, got {faults!r}")
    return faults


class _SimExecutor(Executor):
    """Runs each submitted call on the loop after a seeded virtual delay, never in a thread."""

    def __init__(self, loop: SimLoop, rng: random.Random) -> None:
        self._loop = loop
        self._rng = rng

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        done: Future[T] = Future()

        def run() -> None:
            if not done.set_running_or_notify_cancel():
                return
            try:
                done.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # (the caller's future carries it)
                done.set_exception(exc)

        self._loop.call_later(self._rng.uniform(0, CALL_DELAY), run)
        return done


class Oracle:
    """The seeded choices of one simulated run (see the module's text)."""

    def __init__(
        self,
        seed: int,
        loop: SimLoop,
        *,
        faults: float | Mapping[str, float] = 0.0,
        mode: Mode = "liveness",
        max_faults: int = 10,
        max_steps: int = 1_000_000,
    ) -> None:
        if mode not in ("liveness", "safety"):
            raise ValueError(f"mode is 'liveness' or 'safety', got {mode!r}")
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311  # a simulation's choices, not secrets
        self.rates = _rates(faults)
        self.mode = mode
        self.max_faults = max_faults
        self.max_steps = max_steps
        self.coverage = Coverage()
        self._executor = _SimExecutor(loop, self.rng)
        self._loop = loop
        self.activations: list[tuple[float, str]] = []  # (virtual time, node id), in order
        self._power_loss: list[Callable[[], None]] = []

    def ready_queue(self) -> ReadyQueue[Any]:
        """Return a ready queue whose ties this oracle breaks (and which logs activations)."""
        return ShuffledReadyQueue(self.rng, self._activated)

    def _activated(self, node: Any) -> None:
        activations = self.activations
        activations.append((self._loop.time(), str(node.id)))
        if len(activations) > self.max_steps:
            raise Livelock(
                f"{self.max_steps} activations and the run goes on (virtual time "
                f"{self._loop.time():.3f} s): a node that is always ready, such as a source "
                "that never finishes; raise max_steps if the run is just long"
            )

    def executor(self) -> Executor:
        """Return the executor thread- and process-mode calls run on."""
        return self._executor

    def fault(self, name: str) -> bool:
        """Record that fault point ``name`` was reached; return whether it fires now."""
        coverage = self.coverage
        coverage.reached[name] += 1
        rate = self.rates.get(name, 0.0) if isinstance(self.rates, dict) else self.rates
        if not rate:
            return False
        if self.mode == "liveness" and coverage.fired.total() >= self.max_faults:
            return False
        if self.rng.random() >= rate:
            return False
        coverage.fired[name] += 1
        return True

    def at_power_loss(self, undo: Callable[[], None]) -> None:
        """Keep ``undo``, what losing power would take back, for :meth:`lose_power`."""
        self._power_loss.append(undo)

    def lose_power(self) -> None:
        """Lose power (the run was killed): undo what was never made durable."""
        undo, self._power_loss = self._power_loss, []
        for step in reversed(undo):
            step()

    def always(self, condition: bool, what: str) -> None:
        """Record an invariant check; a false one fails the run."""
        self.coverage.checked[what] += 1
        if not condition:
            self.coverage.broken[what] += 1

    def sometimes(self, condition: bool, what: str) -> None:
        """Record a case; it counts as seen once ``condition`` was true."""
        seen = self.coverage.seen
        seen[what] = seen.get(what, False) or bool(condition)
