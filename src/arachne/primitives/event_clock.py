"""EventClock: event time for a stream, its watermarks, and how to read a field of an item.

An item's event time is when it happened, read from the item (``timestamp``: a field name, a
function, or the item itself when it is a number), not when it arrives. The clock's one node
passes every item on and then says a watermark (``Node.emit_watermark``): the highest time
seen so far minus ``max_delay``, the out-of-orderness it allows. An item older than the
watermark when it reaches a window is *late*. With ``idle_after``, a stream that says nothing
for that many seconds of the runtime's clock is marked idle, so a window or join fed by it and
by others stops waiting for it (runtime.watermarks).

``reader`` turns a field option into a function, for the windows and joins too: ``None`` (the
item itself), a field name (a mapping's key or an object's attribute), or a function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from arachne.model.message import Message
from arachne.model.node import Node
from arachne.model.port import Input, Output
from arachne.model.subgraph import Subgraph
from arachne.primitives.contract import FailureRow, Fragment, Maturity, Policy, Primitive, part

if TYPE_CHECKING:
    from arachne.model.policies import ErrorPolicy

__all__ = ["EventClock", "EventStamper", "event_time", "finite", "key_reader", "reader"]

STAMPER: Final = "stamper"
"""The id of the clock's one node inside it."""

Reader = Callable[[Any], Any]


def reader(spec: object, what: str) -> Reader:
    """Return a function reading ``spec`` from an item: itself (None), a field, or ``spec``."""
    if spec is None:
        return _itself
    if callable(spec):
        return spec
    if isinstance(spec, str):
        name = spec

        def field(item: Any) -> Any:
            if isinstance(item, Mapping):
                if name in item:
                    return item[name]
            elif hasattr(item, name):
                return getattr(item, name)
            raise KeyError(
                f"{what} {name!r} is not a field of {type(item).__name__} {_short(item)}; "
                f"give every item a {name!r} field, or name another with the {what} option"
            )

        field.__qualname__ = f"field_{name}"
        return field
    raise TypeError(f"{what} {spec!r}: give a field name, a function, or None (the item itself)")


def key_reader(spec: object) -> Reader:
    """Return a function reading a key option: as :func:`reader`, but None is one group."""
    return _one_group if spec is None else reader(spec, "key")


def finite(value: object) -> bool:
    """Whether ``value`` is a finite number (a bool is not)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def event_time(read: Reader, item: Any) -> float:
    """Return ``item``'s event time by ``read``: a finite number; ``ValueError`` if it is not."""
    value = read(item)
    if not finite(value):
        raise ValueError(
            f"event time {value!r} of {_short(item)} is not a finite number; give a "
            "timestamp option that reads one (seconds, say)"
        )
    return float(value)


def _itself(item: Any) -> Any:
    return item


def _one_group(item: Any) -> None:
    return None


def _short(item: Any) -> str:
    text = repr(item)
    return text if len(text) <= 60 else text[:57] + "..."


class EventStamper(Node):
    """The node an EventClock becomes: passes items on, says the watermark after each."""

    inp = Input(None, name="in")
    out = Output(None)
    forwards_watermarks = False  # it says its own
    error_policy: ErrorPolicy = "fail"

    def __init__(
        self,
        timestamp: Reader,
        max_delay: float,
        idle_after: float | None,
        error_policy: ErrorPolicy = "fail",
    ) -> None:
        self.timestamp = timestamp
        self.max_delay = max_delay
        self.idle_after = idle_after
        self.error_policy = error_policy
        self.highest = -math.inf  # the highest event time seen
        self.items = 0

    def on_message(self, port: str, msg: Message) -> None:
        """Pass ``msg`` on; then say the watermark its time (maybe) moved."""
        t = event_time(self.timestamp, msg.payload)
        self.emit("out", msg)
        self.items += 1
        if t > self.highest:
            self.highest = t
        self.emit_watermark(self.highest - self.max_delay, idle_after=self.idle_after)

    @property
    def watermark(self) -> float:
        """The watermark it last said (``-inf`` before the first item)."""
        return self.highest - self.max_delay

    def snapshot(self) -> dict[str, float | None]:
        """Save the highest event time seen (``None`` before the first item)."""
        return {"highest": None if self.highest == -math.inf else self.highest}

    def restore(self, state: Any) -> None:
        """Take the highest time back: a resumed run's watermark starts where it stood."""
        highest = state.get("highest") if isinstance(state, dict) else None
        self.highest = -math.inf if highest is None else float(highest)


def _install(name: str, options: Mapping[str, Any]) -> Fragment:
    unit = Subgraph(name)
    unit.add_node(
        EventStamper(
            reader(options["timestamp"], "timestamp"),
            options["max_delay"],
            options["idle_after"],
            options["error_policy"],
        ),
        name=STAMPER,
        config={"max_delay": options["max_delay"], "idle_after": options["idle_after"]},
    )
    unit.expose_input("in", (STAMPER, "in"))
    unit.expose_output("out", (STAMPER, "out"))
    return Fragment(unit, health=_health)


def _health(nodes: Mapping[str, Node]) -> dict[str, Any]:
    stamper = part(nodes, STAMPER, EventStamper)
    return {
        "state": "healthy",
        "items": stamper.items,
        "watermark": None if stamper.items == 0 else stamper.watermark,
    }


def _checked(options: Mapping[str, Any]) -> Iterator[str]:
    timestamp, delay, idle = options["timestamp"], options["max_delay"], options["idle_after"]
    if timestamp is not None and not isinstance(timestamp, str) and not callable(timestamp):
        yield f"timestamp {timestamp!r}: give a field name, a function, or None (the item itself)"
    if not finite(delay) or delay < 0:
        yield f"max_delay {delay!r}: give how late (seconds of event time) items may come, >= 0"
    if idle is not None and (not finite(idle) or idle <= 0):
        yield f"idle_after {idle!r}: give seconds above 0 after which a quiet stream is idle"


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


SCENARIOS = "tests/primitives/test_event_time_sim.py"
WINDOWS = f"{SCENARIOS}::test_windows_and_interval_joins_hold_their_promises_over_the_seeds"

EventClock = Primitive.define(
    name="EventClock",
    layer="local",
    requires=("RuntimeClock",),
    provides=("EventTime", "Watermarks"),
    state=("the highest event time seen (checkpointed)",),
    policies=(
        Policy(
            "timestamp",
            None,
            "the item's event time: a field name, a function, or None (the item is a number)",
        ),
        Policy(
            "max_delay",
            0.0,
            "how far (seconds of event time) an item may come behind the newest seen",
            convert=float,
        ),
        Policy(
            "idle_after",
            None,
            "seconds of the runtime clock without items after which the stream is idle "
            "(None: never)",
            convert=_float_or_none,
        ),
        Policy(
            "error_policy",
            "fail",
            "what an item with no readable time does: `fail`, `skip` or `dead_letter`",
        ),
    ),
    failure_semantics=(
        FailureRow(
            "clock_skew",
            "Items out of order by up to `max_delay` are on time; older ones reach the windows "
            "and joins downstream as late, where they leave by `late` (never dropped unseen).",
            WINDOWS,
        ),
        FailureRow(
            "timeout",
            "A stream quiet for `idle_after` seconds of the runtime clock is marked idle, "
            "within one tick (tests/primitives/test_event_time.py); a join or window fed by it "
            "and others goes on without it.",
            WINDOWS,
        ),
    ),
    installer=_install,
    validation=(_checked,),
    maturity=Maturity.FAULT_TESTED,
    summary=(
        "Event time for a stream: each item's time is read from it, and a watermark (the "
        "highest time seen minus `max_delay`) travels after it, in order with the data, to "
        "the windows and joins downstream. Ports: `in`, `out`."
    ),
)
