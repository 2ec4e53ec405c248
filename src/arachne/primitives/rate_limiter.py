"""RateLimiter: items pass at a rate, with bursts (GCRA on the runtime clock).

The generic cell rate algorithm keeps one number, the *theoretical arrival time* (TAT) of the
next item. With an emission interval ``T = 1 / rate`` and a tolerance ``tau = (burst - 1) * T``,
an item arriving at ``t`` conforms when ``t >= TAT - tau``; it then moves TAT to
``max(TAT, t) + T``. So over any span of ``d`` seconds at most ``burst + d * rate`` items pass.

Two modes. ``shape`` (the default) delays a non-conforming item until it conforms: the gate
handles one item at a time, so its input edge fills and backpressure holds the producer back;
nothing is dropped. ``police`` sends it out of the ``rejected`` port at once, counted; the
wiring check refuses a policing limiter whose ``rejected`` port leads nowhere.

Time is the runtime's clock (``Node.now``, ``Node.sleep``): real in a real run, a
``FakeClock``'s in tests, virtual under simulation, which is how its failure rows are checked.
Checkpointed, it saves how far ahead of the clock its TAT stands (its *debt*), so a resumed run
grants no burst the interrupted one had used.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from arachne.model.message import Message
from arachne.model.node import Node
from arachne.model.port import Input, Output
from arachne.model.primitive_mark import inside
from arachne.model.subgraph import Subgraph
from arachne.model.validation import Issue
from arachne.primitives.contract import (
    REQUIRED,
    FailureRow,
    Fragment,
    Maturity,
    Policy,
    Primitive,
    part,
)

if TYPE_CHECKING:
    from arachne.model.policies import ErrorPolicy
    from arachne.model.primitive_mark import WholeGraph

__all__ = ["RateGate", "RateLimiter"]

GATE = "gate"
"""The id of the limiter's one node inside it."""

EPSILON = 1e-9
"""Seconds of lateness a conforming item may show from rounding (the clock need not be 0)."""

_OPTION_DEFAULTS: dict[str, Any] = {"burst": 1, "mode": "shape"}


class RateGate(Node):
    """The node a RateLimiter becomes: GCRA on the runtime clock (see the module's text)."""

    mode = "async"
    inp = Input(None, name="in")
    out = Output(None)
    rejected = Output(None)
    error_policy: ErrorPolicy = "fail"

    def __init__(
        self, rate: float, burst: int, police: bool, error_policy: ErrorPolicy = "fail"
    ) -> None:
        self.error_policy = error_policy
        self._configure(rate, burst, police)
        self.tat: float | None = None  # when the next item is due, on the runtime clock
        self.debt: float | None = None  # (restored: TAT minus the clock, set at the next item)
        self.passed = self.delayed = self.refused = 0
        self.waiting = False

    async def on_message(self, port: str, msg: Message) -> None:
        """Pass ``msg`` when it conforms: at once, after a wait (shape), or as rejected (police)."""
        now = self.now()
        if self.debt is not None:
            self.tat, self.debt = now + self.debt, None
        tat = now if self.tat is None or self.tat < now else self.tat
        wait = tat - self.tolerance - now
        if wait > EPSILON:
            if self.police:
                self.refused += 1
                self.emit("rejected", msg)
                return
            # Its slot is taken before the wait (a later item queues after it), and counted
            # from the slot, not from the moment the wait ends: a late wake-up is not
            # added to every item after it.
            self.tat = tat + self.interval
            self.delayed += 1
            self.waiting = True
            try:
                await self.sleep(wait)
            finally:
                self.waiting = False
        else:
            self.tat = tat + self.interval
        self.passed += 1
        self.emit("out", msg)

    def on_config(self, config: Mapping[str, Any]) -> None:
        """Take a new rate, burst or mode while running (the schedule so far is kept)."""
        options = {**_OPTION_DEFAULTS, **config}
        problems = list(_checked(options))
        if problems:
            raise ValueError("; ".join(problems))
        self._configure(float(options["rate"]), options["burst"], options["mode"] == "police")

    def _configure(self, rate: float, burst: int, police: bool) -> None:
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self.police = police

    def snapshot(self) -> dict[str, float]:
        """Save the debt: how far the next item's due time stands ahead of the clock."""
        if self.debt is not None:
            return {"debt": self.debt}
        if self.tat is None or self._arachne_binding is None:
            return {"debt": 0.0}
        return {"debt": max(0.0, self.tat - self.now())}

    def restore(self, state: Any) -> None:
        """Take the saved debt back; it applies from the next item on the new clock."""
        self.debt = float(state["debt"])
        self.tat = None


def _install(name: str, options: Mapping[str, Any]) -> Fragment:
    unit = Subgraph(name)
    rate, burst, mode = float(options["rate"]), options["burst"], options["mode"]
    unit.add_node(
        RateGate(rate, burst, mode == "police", options["error_policy"]),
        name=GATE,
        # (in its spec, so checksums, manifest diffs and live reloads see a changed option)
        config={"rate": rate, "burst": burst, "mode": mode},
    )
    unit.expose_input("in", (GATE, "in"))
    unit.expose_output("out", (GATE, "out"))
    unit.expose_output("rejected", (GATE, "rejected"))
    return Fragment(unit, checks=(_rejected_leads_somewhere,), health=_health)


def _rejected_leads_somewhere(graph: WholeGraph, path: str) -> list[Issue]:
    """Refuse a policing limiter whose rejected items would go nowhere."""
    gate = inside(path, GATE)
    spec = graph.nodes.get(gate)
    if spec is None or spec.config.get("mode") != "police" or graph.leads_out(gate, "rejected"):
        return []
    return [
        Issue(
            "error",
            "primitive-wiring",
            f"RateLimiter {path!r} polices (mode='police'): items over the rate leave by its "
            "'rejected' port, which leads nowhere; connect its 'rejected' port to a sink or "
            "dead-letter node (or expose it), or use mode='shape' to delay them instead",
            path,
        )
    ]


def _health(nodes: Mapping[str, Node]) -> dict[str, Any]:
    gate = part(nodes, GATE, RateGate)
    return {
        "state": "limiting" if gate.waiting else "healthy",
        "passed": gate.passed,
        "delayed": gate.delayed,
        "rejected": gate.refused,
    }


def _checked(options: Mapping[str, Any]) -> Iterator[str]:
    rate, burst, mode = options["rate"], options["burst"], options["mode"]
    number = isinstance(rate, int | float) and not isinstance(rate, bool)
    if not number or not math.isfinite(rate) or rate <= 0:
        yield f"rate {rate!r}: give items per second, a number above 0"
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        yield f"burst {burst!r}: give how many items may pass at once, a whole number from 1"
    if mode not in ("shape", "police"):
        yield f"mode {mode!r}: 'shape' delays items over the rate, 'police' rejects them"


SCENARIOS = "tests/primitives/test_rate_limiter_sim.py"

RateLimiter = Primitive.define(
    name="RateLimiter",
    layer="policy",
    requires=("RuntimeClock", "BoundedEdges"),
    provides=("RateLimited", "Backpressure"),
    state=("theoretical arrival time (checkpointed as its debt to the clock)",),
    policies=(
        Policy("rate", REQUIRED, "items per second, on average (above 0)", convert=float),
        Policy("burst", 1, "how many items may pass at once after a quiet spell"),
        Policy(
            "mode",
            "shape",
            "`shape` delays items over the rate (backpressure); `police` sends them out of "
            "`rejected`",
        ),
        Policy(
            "error_policy",
            "fail",
            "what a failed handling does: `fail`, `skip`, `Retry(...)` or `dead_letter`",
        ),
    ),
    failure_semantics=(
        FailureRow(
            "overload",
            "Over any span of d seconds at most burst + d * rate items leave by `out`. "
            "Shaping delays the rest, and its full input edge holds the producer back; "
            "policing sends them out of `rejected`. None is lost: out + rejected = input.",
            f"{SCENARIOS}::test_no_span_passes_more_than_the_rate_allows",
        ),
        FailureRow(
            "crash",
            "A crash before an item passes leaves the schedule as it was; the item is handled "
            "again under the error policy (retry) and passed once, within the rate.",
            f"{SCENARIOS}::test_crashes_retried_pass_every_item_once_within_the_rate",
        ),
    ),
    installer=_install,
    validation=(_checked,),
    maturity=Maturity.FAULT_TESTED,
    summary=(
        "Items pass at `rate` per second with bursts of up to `burst`, by the generic cell "
        "rate algorithm on the runtime clock. Ports: `in`; `out` for items that conform, "
        "`rejected` for those a policing limiter refuses."
    ),
)
