"""One node's event time: the watermark each input has passed, the lowest of them, what it sent.

``runtime.watermarks`` moves watermarks along the graph; this is what it keeps per node and
the one rule it applies: a node's input watermark is the lowest over its inputs that are not
idle. An input edge counts once it is a link (not an ``inject`` edge, not a control edge);
before its first watermark it holds the node at ``-inf``; once closed and emptied it counts no
more while another input goes on (its producer has ended: it can hold nothing back). When
every counted input is idle, the node is idle, and says so downstream.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["NO_WATERMARK", "EventTime", "WatermarkSnapshot"]

NO_WATERMARK: Final = -math.inf
"""The watermark of an input (or node) that has not passed one yet: it holds everything back."""


@dataclass(frozen=True, slots=True)
class WatermarkSnapshot:
    """A node's event time at one instant (``Execution.watermarks()``).

    ``value`` is its input watermark (``-inf`` before any); ``holder`` the id of the input edge
    whose watermark it is (``None`` for a node that says its own, or none yet); ``idle``
    whether every input it waits on is idle; ``sent`` the watermark it last sent downstream,
    ``sent_idle`` whether it marked its outputs idle since; ``idle_spells`` how many times
    its own timer marked them idle (a node that says ``idle_after``).
    """

    node: str
    value: float
    holder: str | None
    idle: bool
    sent: float
    sent_idle: bool
    idle_spells: int = 0


class EventTime:
    """What ``runtime.watermarks`` keeps for one node (see the module's text)."""

    __slots__ = (
        "armed",
        "draining",
        "heard",
        "holder",
        "idle",
        "idle_after",
        "idle_spells",
        "inputs",
        "last",
        "sent",
        "sent_idle",
        "value",
    )

    def __init__(self) -> None:
        self.inputs: dict[int, tuple[float, bool]] = {}  # by edge serial: (watermark, idle)
        self.value = NO_WATERMARK  # the input watermark; it only rises
        self.holder: str | None = None
        self.idle = False
        self.sent = NO_WATERMARK  # what went on along the outputs last
        self.heard = NO_WATERMARK  # what the node's on_watermark was last called with
        # A watermark passed while calls of a node with on_watermark were in flight: it
        # starts no call until they have landed and the hook has run.
        self.draining = False
        self.sent_idle = False
        # For a node that says its own (Node.emit_watermark with idle_after): seconds, the
        # clock at its last say, and whether the idleness timer is set.
        self.idle_after: float | None = None
        self.last = 0.0
        self.armed = False
        self.idle_spells = 0

    def passed(self, serial: int, value: float, idle: bool) -> None:
        """Take a watermark (or an idle mark) the node has passed on input ``serial``."""
        known = self.inputs.get(serial)
        if idle:
            self.inputs[serial] = (NO_WATERMARK if known is None else known[0], True)
        else:
            self.inputs[serial] = (value if known is None else max(known[0], value), False)

    def settle(self, inputs: Iterable[tuple[int, str, bool]]) -> bool:
        """Recompute from ``inputs`` (serial, id, ended); return whether the node moved on.

        Moved on: its watermark rose, or it went idle, or came back from idle. An ended
        input (closed, emptied) counts no more while another goes on; once all have ended,
        the highest any said stands (the last one said before the end still passes).
        """
        given = list(inputs)
        if given and all(ended for _, _, ended in given):
            # All ended: nothing can come, so the highest they said stands.
            said = [(self.inputs[s][0], i) for s, i, _ in given if s in self.inputs]
            top, holder = max(said, default=(NO_WATERMARK, None))
            if top > self.value:
                self.value, self.holder, self.idle = top, holder, False
                return True
            return False
        low, holder, counted, waiting = math.inf, None, 0, 0
        for serial, edge_id, ended in given:
            if ended:
                continue
            counted += 1
            value, idle = self.inputs.get(serial, (NO_WATERMARK, False))
            if idle:
                continue
            waiting += 1
            if value < low:
                low, holder = value, edge_id
        if not counted:
            return False
        idle = waiting == 0
        moved = idle != self.idle
        self.idle = idle
        if not idle and low > self.value:
            self.value, self.holder = low, holder
            moved = True
        return moved

    def snapshot(self, node: str) -> WatermarkSnapshot:
        """Return the node's event time now, for ``Execution.watermarks()``."""
        return WatermarkSnapshot(
            node, self.value, self.holder, self.idle, self.sent, self.sent_idle, self.idle_spells
        )
