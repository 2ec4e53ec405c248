"""``arachne.core.accumulator``: batch values into arrays by count, by time, or both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from arachne.components.builtins._defs import ANY_VALUE, keyword_factory, strict_object
from arachne.components.builtins._ticktime import TickTime, resolution
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.model.message import Message
from arachne.model.node import Node
from arachne.model.port import Input, Output
from arachne.runtime.hops import combine

if TYPE_CHECKING:
    from arachne.model.message import Headers

__all__ = ["ACCUMULATOR", "DEFAULT_COUNT", "MAX_BATCH", "Accumulator"]

DEFAULT_COUNT: Final = 10
"""The batch size when neither ``count`` nor ``interval_ms`` is given."""

MAX_BATCH: Final = 10_000
"""Most values one batch holds when only ``interval_ms`` is given: it then closes early."""


class Accumulator(Node):
    """Collect values into arrays: full at ``count`` values, or ``interval_ms`` after the first.

    With both set, whichever comes first closes the batch; with neither, batches hold
    ``DEFAULT_COUNT`` values; with only ``interval_ms``, a batch also closes at ``MAX_BATCH``
    values, so a flood cannot grow one without bound. The interval is measured on the node's
    ticks (every ``resolution_ms`` on the runtime's clock), so a batch closes at least
    ``interval_ms`` and at most about ``interval_ms + 2 * resolution_ms`` after its first value
    arrived. At end of stream what is left goes out as a last, shorter batch. Checkpointed,
    it saves its open batch; count-only batches come out the same after a recovery, timed ones
    close anew. A batch comes from every message in it: it carries their lineage and taint
    labels (docs/query-plane.md), whenever it closes.
    """

    default_name = "accumulator"
    inp = Input(None, name="in", description="Any value")
    out = Output(list, description="The values of one batch, in arrival order")

    def __init__(
        self,
        *,
        count: int | None = None,
        interval_ms: float | None = None,
        resolution_ms: float | None = None,
        name: str | None = None,
    ) -> None:
        if count is None and interval_ms is None:
            count = DEFAULT_COUNT
        if (count is not None and count < 1) or (interval_ms is not None and interval_ms <= 0):
            raise ValueError(
                f"count must be >= 1 and interval_ms > 0, got {count} and {interval_ms}"
            )
        config: dict[str, Any] = {
            key: value
            for key, value in (
                ("count", count),
                ("interval_ms", interval_ms),
                ("resolution_ms", resolution_ms),
            )
            if value is not None
        }
        super().__init__(name=name, config=config)
        self.count = count
        self.interval = None if interval_ms is None else interval_ms / 1000
        step = resolution(interval_ms or 0, resolution_ms)
        if self.interval is not None:
            self.cadence = step
        self._time = TickTime(step)
        self._batch: list[Any] = []
        self._headers: list[Headers] = []  # of the batch's messages that carry any
        self._due = 0

    def on_message(self, port: str, msg: Message) -> None:
        """Add the value; send the batch when it is full."""
        batch = self._batch
        batch.append(msg.payload)
        if msg.headers:
            self._headers.append(msg.headers)
        if len(batch) == 1 and self.interval is not None:
            self._due = self._time.due_after(self.interval)
        if len(batch) >= (self.count or MAX_BATCH):
            self._flush()

    def on_tick(self) -> None:
        """Send the batch if its interval has passed."""
        now = self._time.tick()
        if self._batch and self._due <= now:
            self._flush()

    def on_finish(self) -> None:
        """Send what is left."""
        if self._batch:
            self._flush()

    def snapshot(self) -> dict[str, Any]:
        """Return the open batch (its values must be JSON data to be checkpointed)."""
        return {"batch": list(self._batch)}

    def restore(self, state: Any) -> None:
        """Reopen the batch a checkpoint saved (its interval starts again at the first tick)."""
        batch = state.get("batch") if isinstance(state, dict) else None
        if not isinstance(batch, list):
            raise ValueError(f"a saved accumulator state is {{'batch': [...]}}, got {state!r}")
        self._batch = list(batch)
        if self._batch and self.interval is not None:
            self._due = self._time.due_after(self.interval)

    def _flush(self) -> None:
        # The batch comes from every message in it: their lineage, their taint labels.
        batch, self._batch = self._batch, []
        kept, self._headers = self._headers, []
        self.emit("out", Message(batch, combine(kept)) if kept else batch)


ACCUMULATOR = ComponentDefinition(
    id="arachne.core.accumulator",
    factory=keyword_factory(Accumulator),
    name="Accumulator",
    category="core",
    description="Batch values into arrays by count and/or time",
    inputs=(PortDoc("in", ANY_VALUE, "Any value"),),
    outputs=(PortDoc("out", {"type": "array"}, "The values of one batch, in arrival order"),),
    config_schema=strict_object(
        {
            "count": {
                "type": "integer",
                "minimum": 1,
                "description": f"Values per batch (default {DEFAULT_COUNT} without interval_ms)",
            },
            "interval_ms": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": (
                    "Longest time a batch stays open after its first value "
                    "(without count, a batch also closes at 10000 values)"
                ),
            },
            "resolution_ms": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Tick step; default a tenth of interval_ms, between 1 and 100",
            },
        }
    ),
    aliases=("symbia.core.accumulator",),
)
"""The accumulator component."""
