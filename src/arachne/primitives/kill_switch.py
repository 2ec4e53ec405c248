"""KillSwitch: stop a stream from its control port, overtaking every item queued on the way.

One node, ``gate``, passes what comes on ``in`` out of ``out`` until a command comes on
``control``, an input on the control plane (``Node.control_inputs``: an ``inject`` there is
served before data, as a control edge is). The commands (Akka's ``KillSwitch``):

- ``"shutdown"``: nothing passes after it. The gate cancels itself (``Node.cancel``): what is
  queued for it is dropped and counted, the producers that only fed it are cancelled in turn
  (a source stops), and downstream completes once it has taken what the gate passed before.
- ``"abort"`` (or ``{"abort": "reason"}``): the same, and the run fails with
  :class:`KillSwitchAborted` naming the switch and the reason.

Any other value on ``control`` is logged and counted, and changes nothing. A command is
served before any data even while the gate's output is full, so it overtakes a full input
edge within one scheduler turn. Several switches fed by one control source make Akka's shared
switch: one command stops every stream through them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from arachne.model.message import Message
from arachne.model.node import Node
from arachne.model.primitive_mark import inside
from arachne.model.subgraph import Subgraph
from arachne.model.validation import Issue
from arachne.primitives.contract import FailureRow, Fragment, Maturity, Primitive, part

if TYPE_CHECKING:
    from arachne.model.primitive_mark import WholeGraph

__all__ = ["KillGate", "KillSwitch", "KillSwitchAborted"]

GATE = "gate"
"""The id of the switch's one node inside it."""

SHUTDOWN = "shutdown"
ABORT = "abort"


class KillSwitchAborted(RuntimeError):
    """A kill switch was told to abort: the run fails, naming the switch and the reason."""


class KillGate(Node):
    """The node a KillSwitch becomes (see the module's text)."""

    control_inputs: ClassVar[frozenset[str]] = frozenset({"control"})
    error_policy = "fail"

    def __init__(self) -> None:
        self.state = "open"  # open, shut or aborted
        self.passed = 0
        self.ignored = 0  # control values that were no command
        self.reason: str | None = None

    def inputs(self) -> dict[str, Any]:
        """Return the ports: ``in`` (data, any value) and ``control`` (commands)."""
        return {"in": None, "control": None}

    def outputs(self) -> dict[str, Any]:
        """Return the port ``out``: what passed before a command came."""
        return {"out": None}

    def on_message(self, port: str, msg: Message) -> None:
        """Pass data on while open; obey a command from ``control``."""
        if port != "control":
            self.passed += 1
            self.emit("out", msg)
            return
        command = msg.payload
        if command == SHUTDOWN:
            self.state = "shut"
            self.cancel()
            return
        if command == ABORT or (isinstance(command, Mapping) and set(command) == {ABORT}):
            self.state = "aborted"
            self.reason = str(command[ABORT]) if isinstance(command, Mapping) else "no reason"
            self.cancel()
            raise KillSwitchAborted(f"kill switch {self._switch()!r} aborted: {self.reason}")
        self.ignored += 1
        self.context.logger.error(
            "kill switch %r ignored %r on its control port: send %r or %r (or {%r: reason})",
            self._switch(),
            command,
            SHUTDOWN,
            ABORT,
            ABORT,
        )

    def _switch(self) -> str:
        """Return the switch's name: the path it was installed at."""
        return self.context.node_id.removesuffix(f"/{GATE}")

    def snapshot(self) -> dict[str, Any]:
        """Save whether it was shut, and how much it passed."""
        return {"state": self.state, "passed": self.passed}

    def restore(self, state: Any) -> None:
        """Take a saved state back; a shut switch stays shut (it takes no more data)."""
        self.state, self.passed = str(state["state"]), int(state["passed"])

    def on_start(self) -> None:
        """End at once if restored shut: nothing passes it after a resume either."""
        if self.state != "open":
            self.cancel()


def _install(name: str, options: Mapping[str, Any]) -> Fragment:
    unit = Subgraph(name)
    unit.add_node(KillGate(), name=GATE)
    unit.expose_input("in", (GATE, "in"))
    unit.expose_input("control", (GATE, "control"))
    unit.expose_output("out", (GATE, "out"))
    return Fragment(unit, checks=(_commands_on_the_control_plane,), health=_health)


def _commands_on_the_control_plane(graph: WholeGraph, path: str) -> list[Issue]:
    """Refuse a data link into the switch's control port: a command must overtake data."""
    gate = inside(path, GATE)
    return [
        Issue(
            "error",
            "primitive-wiring",
            f"KillSwitch {path!r}: link {link.id!r} into its 'control' port is a data link, "
            "so a command would wait behind queued data; connect it with control=True "
            "(`control: true` in a document)",
            link.id,
        )
        for link in graph.links.values()
        if link.target.node == gate and link.target.port == "control" and not link.control
    ]


def _health(nodes: Mapping[str, Node]) -> dict[str, Any]:
    gate = part(nodes, GATE, KillGate)
    health: dict[str, Any] = {
        "state": {"open": "healthy", "shut": "shut", "aborted": "aborted"}[gate.state],
        "passed": gate.passed,
        "ignored": gate.ignored,
    }
    if gate.reason is not None:
        health["reason"] = gate.reason
    return health


SCENARIOS = "tests/primitives/test_kill_switch_sim.py"

KillSwitch = Primitive.define(
    name="KillSwitch",
    layer="policy",
    requires=("ControlEdges",),
    provides=("Stoppable",),
    state=("open, shut or aborted (checkpointed: a shut switch stays shut on resume)",),
    policies=(),
    failure_semantics=(
        FailureRow(
            "cancel",
            "Shutdown: nothing passes after the command; what passed before reaches "
            "downstream, which completes; what was queued for the switch is dropped and "
            "counted, and producers that only fed it are cancelled (a source stops).",
            f"{SCENARIOS}::test_a_shutdown_at_a_random_moment_passes_a_prefix_and_ends_the_run",
        ),
        FailureRow(
            "overload",
            "A command overtakes a full input edge (10,000 items) within one scheduler turn, "
            "even while the switch's own output is full: no item queued before it passes.",
            f"{SCENARIOS}::test_a_command_overtakes_a_full_ten_thousand_item_edge",
        ),
        FailureRow(
            "crash",
            "Abort (or a crash of the switch's node): the run fails, naming the switch and "
            "the reason; nothing passes after it.",
            f"{SCENARIOS}::test_an_abort_fails_the_run_naming_the_switch",
        ),
    ),
    installer=_install,
    maturity=Maturity.FAULT_TESTED,
    summary=(
        "Stops a stream on a command from its control port, Akka's kill switch: `shutdown` "
        "completes downstream and cancels upstream, `abort` also fails the run. Ports: `in`, "
        "`control` (on the control plane: served before any data), `out`."
    ),
)
