"""KillSwitch's failure rows under simulation, over many seeds (100; 1,000 in the slow suite).

``ARACHNE_SIM_SEEDS=1000 uv run pytest tests/primitives`` is the slow suite. The command
comes at a seeded virtual moment through ``Execution.inject`` (an operator's call), while a
source that would never end feeds the switch and a slow sink behind it holds its output full.
"""

from __future__ import annotations

import os
import random
from typing import Any

from arachne import Execution, Input, IterSource, Message, Node, Subgraph
from arachne.primitives import KillGate, KillSwitch
from arachne.sim import SimLoop, explore, simulate

SEEDS = range(int(os.environ.get("ARACHNE_SIM_SEEDS", "100")))
ENDLESS = 10**12
"""A source this long never ends in a test: only the switch's cancel ends the run."""


class Slow(Node):
    """Takes each value after a seeded wait (virtual seconds), one at a time."""

    mode = "async"
    inp = Input(None, name="in")

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.got: list[int] = []

    async def on_message(self, port: str, msg: Message) -> None:  # type: ignore[override]
        await self.sleep(self.rng.uniform(0.0, 0.002))
        self.got.append(msg.payload)


SWITCH = KillSwitch.install(Subgraph(), "switch")  # (as it is in every graph below)


def switched(seed: int, *, queue: int = 64) -> Subgraph:
    g = Subgraph()
    g.add_node(IterSource(range(ENDLESS), name="src"))
    switch = KillSwitch.install(g, "switch")
    g.add_node(Slow(seed), name="sink")
    g.connect(("src", "out"), switch["in"], capacity=queue)
    g.connect(switch["out"], ("sink", "in"), capacity=4)
    return g


def command_at(command: Any, notes: dict[str, Any]) -> Any:
    """Send ``command`` at a seeded moment; note what the switch had passed then."""

    def during(execution: Execution, loop: SimLoop, rng: random.Random) -> None:
        def send() -> None:
            gate = execution.instances["switch/gate"]
            assert isinstance(gate, KillGate)
            notes["passed"] = gate.passed
            notes["queued"] = execution.wiring.edges["src.out->switch.in"].depth
            execution.inject(*SWITCH.inner("control"), command)

        loop.call_at(rng.uniform(0.001, 0.2), send)

    return during


def test_a_shutdown_at_a_random_moment_passes_a_prefix_and_ends_the_run() -> None:
    """Cancel: a prefix passes, nothing after; downstream completes; the endless source stops."""
    failures = []
    for seed in SEEDS:
        notes: dict[str, Any] = {}

        def check(execution: Execution, seed: int = seed, notes: dict[str, Any] = notes) -> None:
            gate, sink = execution.instances["switch/gate"], execution.instances["sink"]
            assert isinstance(gate, KillGate)
            assert isinstance(sink, Slow)
            assert execution.state.value == "completed", execution.state
            assert gate.state == "shut"
            assert gate.passed == notes["passed"], "an item passed after the shutdown"
            assert sink.got == list(range(gate.passed)), "downstream lost or reordered"
            retired = execution.wiring.retired_edges["src.out->switch.in"]
            assert retired.dropped == notes["queued"], "the queued items were not all counted"

        result = simulate(
            lambda seed=seed: switched(seed),
            seed,
            during=command_at("shutdown", notes),
            check=check,
        )
        if not result.ok:
            failures.append(f"seed {seed}: {result.failure}")
    assert failures == []


def test_a_command_overtakes_a_full_ten_thousand_item_edge() -> None:
    """Overload: with 10,000 items queued and the switch's output full, none of them passes."""
    failures = []
    for seed in SEEDS:
        notes: dict[str, Any] = {}

        def check(execution: Execution, notes: dict[str, Any] = notes) -> None:
            gate = execution.instances["switch/gate"]
            assert isinstance(gate, KillGate)
            assert notes["queued"] == 10_000, notes  # (the edge was full when it came)
            assert gate.passed == notes["passed"], "a queued item passed the command"
            retired = execution.wiring.retired_edges["src.out->switch.in"]
            assert retired.dropped == 10_000

        result = simulate(
            lambda seed=seed: switched(seed, queue=10_000),
            seed,
            during=command_at("shutdown", notes),
            check=check,
        )
        if not result.ok:
            failures.append(f"seed {seed}: {result.failure}")
    assert failures == []


def test_an_abort_fails_the_run_naming_the_switch() -> None:
    """Crash: an abort fails the run with the switch's name and reason; nothing passes after."""
    explored = explore(
        lambda: switched(0),
        list(SEEDS),
        during=command_at({"abort": "risk limit breached"}, {}),
    )
    assert len(explored.failures) == len(explored.results)
    for result in explored.failures:
        assert "kill switch 'switch' aborted: risk limit breached" in (result.failure or "")
