"""``arachne.core.delay``: hold every value for a fixed time, then forward it, in order."""

from __future__ import annotations

from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Final

from arachne.components.builtins._defs import ANY_VALUE, keyword_factory, strict_object
from arachne.components.builtins._ticktime import TickTime, resolution
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.model.message import EMPTY_HEADERS, new_message
from arachne.model.node import Node
from arachne.model.port import Input, Output

if TYPE_CHECKING:
    from arachne.model.message import Message

__all__ = ["DELAY", "MAX_WAITING", "Delay"]

MAX_WAITING: Final = 10_000
"""Values a delay holds at most by default before it takes no more (backpressure)."""


class Delay(Node):
    """Forward each value ``ms`` milliseconds after it arrived, keeping arrival order.

    Nothing blocks: waiting values sit in a queue and leave on the node's ticks, which come
    every ``resolution_ms`` on the runtime's clock (so a ``FakeClock`` makes tests instant). A
    value waits at least ``ms`` and at most about ``ms + 2 * resolution_ms``. At end of stream
    the node waits (on the runtime's clock) until the last value is due, then releases what is
    left.
    A full output stops the ticks, so values then wait longer: backpressure, not loss.
    At most ``max_waiting`` values wait at once (default ``MAX_WAITING``): then the node takes
    nothing more until some have left, so its input fills and holds its producer back.
    Checkpointed, it saves the values waiting (their headers are not kept); after a recovery
    each waits ``ms`` again.
    """

    default_name = "delay"
    inp = Input(None, name="in", description="Any value")
    out = Output(None, description="The same value, ms later")

    def __init__(
        self,
        *,
        ms: float = 1000,
        resolution_ms: float | None = None,
        max_waiting: int = MAX_WAITING,
        name: str | None = None,
    ) -> None:
        if ms < 0 or (resolution_ms is not None and resolution_ms <= 0):
            raise ValueError(f"ms must be >= 0 and resolution_ms > 0, got {ms} and {resolution_ms}")
        if isinstance(max_waiting, bool) or not isinstance(max_waiting, int) or max_waiting < 1:
            raise ValueError(f"max_waiting must be an int >= 1, got {max_waiting!r}")
        config: dict[str, Any] = {"ms": ms}
        if max_waiting != MAX_WAITING:
            config["max_waiting"] = max_waiting
        if resolution_ms is not None:
            config["resolution_ms"] = resolution_ms
        super().__init__(name=name, config=config)
        self.seconds = ms / 1000
        step = resolution(ms, resolution_ms)
        if self.seconds > 0:
            self.cadence = step
        self._time = TickTime(step)
        self.max_waiting = max_waiting
        self._waiting: deque[tuple[int, Message]] = deque()
        self._holding = False

    def on_message(self, port: str, msg: Message) -> None:
        """Queue the value until it is due (forward it at once when ``ms`` is 0)."""
        if self.seconds > 0:
            self._waiting.append((self._time.due_after(self.seconds), msg))
            if len(self._waiting) >= self.max_waiting and not self._holding:
                self._holding = True
                self.hold_input()
        else:
            self.emit("out", msg.payload)

    def on_tick(self) -> None:
        """Forward every value that is now due; take input again once there is room."""
        now = self._time.tick()
        waiting = self._waiting
        while waiting and waiting[0][0] <= now:
            self.emit("out", waiting.popleft()[1])
        if self._holding and len(waiting) < self.max_waiting:
            self._holding = False
            self.hold_input(False)

    def snapshot(self) -> dict[str, Any]:
        """Return the values waiting, oldest first (JSON data, to be checkpointed)."""
        return {"waiting": [msg.payload for _, msg in self._waiting]}

    def restore(self, state: Any) -> None:
        """Put back the values a checkpoint saved; each waits ``ms`` again from the start."""
        waiting = state.get("waiting") if isinstance(state, dict) else None
        if not isinstance(waiting, list):
            raise ValueError(f"a saved delay state is {{'waiting': [...]}}, got {state!r}")
        due = self._time.due_after(self.seconds)
        self._waiting = deque((due, new_message(value, EMPTY_HEADERS)) for value in waiting)

    def on_finish(self) -> Coroutine[Any, Any, None] | None:
        """Release what still waits once it is due; nothing to wait for returns ``None``."""
        if not self._waiting:
            return None
        return self._release_rest()

    async def _release_rest(self) -> None:
        waiting = self._waiting
        remaining = self._time.seconds_until(waiting[-1][0])
        if remaining > 0:
            await self.sleep(remaining)  # (on the runtime's clock: a FakeClock's is instant)
        while waiting:
            self.emit("out", waiting.popleft()[1])


DELAY = ComponentDefinition(
    id="arachne.core.delay",
    factory=keyword_factory(Delay),
    name="Delay",
    category="core",
    description="Forward each value after a fixed delay, in order",
    inputs=(PortDoc("in", ANY_VALUE, "Any value"),),
    outputs=(PortDoc("out", ANY_VALUE, "The same value, ms later"),),
    config_schema=strict_object(
        {
            "ms": {
                "type": "number",
                "minimum": 0,
                "default": 1000,
                "description": "How long each value waits, in milliseconds",
            },
            "resolution_ms": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Tick step; default a tenth of ms, between 1 and 100",
            },
            "max_waiting": {
                "type": "integer",
                "minimum": 1,
                "default": MAX_WAITING,
                "description": "Most values waiting at once; past it the input is held back",
            },
        }
    ),
    aliases=("symbia.core.delay",),
)
"""The delay component."""
