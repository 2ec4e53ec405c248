"""Join and IntervalJoin: keyed stream-stream joins of a ``left`` and a ``right`` input.

**Join** keeps, per key, what each side has sent, as ``insert_mode`` says: ``first`` (the
first value of each side), ``last`` (the newest), ``product`` (all of them). It emits
:class:`JoinRow` records as ``emit_mode`` says: ``complete`` (once both sides have a value:
their rows, and the key's state is cleared), ``running`` (at every arrival: the rows of the
state so far, a side with nothing as ``None``) or ``final`` (at the end of the stream: each
key's rows, in the order keys were first seen). Rows are the product of the two sides' kept
values (one row per pair). Its state is per key, with no event time: ``complete`` frees a
key as it emits; ``running`` and ``final`` keep every key until the end.

**IntervalJoin** pairs a left item at time ``tl`` with every right item of its key at ``tr``
where ``tl + lower <= tr <= tl + upper``, emitting each pair once, when its second item
comes. Its state is evicted by watermark: the node's watermark ``W`` (the lower of its two
inputs', unless one is idle) says every item still to come is at ``W`` or later, so a left
item whose ``tl + upper`` is behind ``W`` can meet no more right items, and a right item
whose ``tr - lower`` is behind ``W`` no more left ones. An item that comes behind the
watermark is late and leaves by ``late``; every on-time pair is emitted, which is what
``tests/primitives/test_joins.py`` checks against a nested loop.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from arachne.model.message import Message
from arachne.model.node import Node
from arachne.model.port import Input, Output
from arachne.model.subgraph import Subgraph
from arachne.primitives.contract import (
    REQUIRED,
    FailureRow,
    Fragment,
    Maturity,
    Policy,
    Primitive,
    part,
)
from arachne.primitives.event_clock import Reader, event_time, finite, key_reader, reader
from arachne.primitives.windows import Late, clock_upstream, hashable, late_leads_somewhere

if TYPE_CHECKING:
    from arachne.model.policies import ErrorPolicy
    from arachne.model.primitive_mark import WholeGraph
    from arachne.model.validation import Issue

__all__ = [
    "EMIT_MODES",
    "INSERT_MODES",
    "IntervalJoin",
    "IntervalJoinNode",
    "Join",
    "JoinNode",
    "JoinRow",
]

JOIN: Final = "join"
"""The id of a join's one node inside it."""

INSERT_MODES: Final = ("first", "last", "product")
EMIT_MODES: Final = ("complete", "final", "running")
SIDES: Final = ("left", "right")


@dataclass(frozen=True, slots=True)
class JoinRow:
    """One joined pair: the key, and each side's value (``None`` for a side with none yet)."""

    key: Any
    left: Any
    right: Any


class JoinNode(Node):
    """The node a Join becomes (see the module's text)."""

    left = Input(None)
    right = Input(None)
    out = Output(None)
    error_policy: ErrorPolicy = "fail"

    def __init__(
        self, key: Reader, insert_mode: str, emit_mode: str, error_policy: ErrorPolicy = "fail"
    ) -> None:
        self.key = key
        self.insert_mode, self.emit_mode = insert_mode, emit_mode
        self.error_policy = error_policy
        self.state: dict[Any, dict[str, list[Any]]] = {}  # key -> side -> kept values
        self.rows = 0

    def on_message(self, port: str, msg: Message) -> None:
        """Keep the value as the insert mode says; emit what the emit mode says now."""
        value = msg.payload
        key = hashable(self.key(value))
        sides = self.state.get(key)
        if sides is None:
            sides = self.state[key] = {"left": [], "right": []}
        kept = sides[port]
        if self.insert_mode == "product" or not kept:
            kept.append(value)
        elif self.insert_mode == "last":
            kept[0] = value
        if self.emit_mode == "running":
            self._emit(key, sides)
        elif self.emit_mode == "complete" and sides["left"] and sides["right"]:
            self._emit(key, sides)
            del self.state[key]

    def on_finish(self) -> None:
        """In ``final`` mode, emit every key's rows now that both inputs have ended."""
        if self.emit_mode == "final":
            for key, sides in self.state.items():
                self._emit(key, sides)
            self.state.clear()

    def snapshot(self) -> dict[str, Any]:
        """Save each key's kept values, in the order keys were first seen (JSON data)."""
        return {
            "keys": [[key, sides["left"], sides["right"]] for key, sides in self.state.items()],
            "rows": self.rows,
        }

    def restore(self, state: Any) -> None:
        """Take back what :meth:`snapshot` saved."""
        if not isinstance(state, dict) or "keys" not in state:
            raise ValueError(f"a saved join state has keys; got {state!r}")
        self.state = {
            hashable(key): {"left": list(left), "right": list(right)}
            for key, left, right in state["keys"]
        }
        self.rows = int(state.get("rows", 0))

    def _emit(self, key: Any, sides: dict[str, list[Any]]) -> None:
        for left in sides["left"] or [None]:
            for right in sides["right"] or [None]:
                self.rows += 1
                self.emit("out", JoinRow(key, left, right))


class IntervalJoinNode(Node):
    """The node an IntervalJoin becomes (see the module's text)."""

    left = Input(None)
    right = Input(None)
    out = Output(None)
    late = Output(None)
    error_policy: ErrorPolicy = "fail"

    def __init__(
        self,
        key: Reader,
        timestamp: Reader,
        lower: float,
        upper: float,
        error_policy: ErrorPolicy = "fail",
    ) -> None:
        self.key, self.timestamp = key, timestamp
        self.lower, self.upper = lower, upper
        self.error_policy = error_policy
        self.watermark = -math.inf
        # Per side, per key: [(time, value)] in arrival order.
        self.buffers: dict[str, dict[Any, list[tuple[float, Any]]]] = {"left": {}, "right": {}}
        # When each kept item can pair no more: (time, seq, side, key), soonest first.
        self._expiries: list[tuple[float, int, str, Any]] = []
        self._seq = itertools.count()
        self.rows = self.late_items = 0

    def on_message(self, port: str, msg: Message) -> None:
        """Emit the item's pairs with what the other side holds; keep it for later ones."""
        value = msg.payload
        t = event_time(self.timestamp, value)
        key = hashable(self.key(value))
        if t < self.watermark:
            self.late_items += 1
            self.emit("late", Late(key, t, value, self.watermark))
            return
        other = "right" if port == "left" else "left"
        for u, seen in self.buffers[other].get(key, ()):
            tl, tr = (t, u) if port == "left" else (u, t)
            if tl + self.lower <= tr <= tl + self.upper:
                self.rows += 1
                pair = (value, seen) if port == "left" else (seen, value)
                self.emit("out", JoinRow(key, *pair))
        self.buffers[port].setdefault(key, []).append((t, value))
        reach = self.upper if port == "left" else -self.lower
        heapq.heappush(self._expiries, (t + reach, next(self._seq), port, key))

    def on_watermark(self, t: float) -> None:
        """Drop every item no item still to come can pair with (the keys whose items expire)."""
        self.watermark = t
        expiries, touched = self._expiries, set()
        while expiries and expiries[0][0] < t:
            _, _, side, key = heapq.heappop(expiries)
            touched.add((side, key))
        for side, key in touched:
            reach = self.upper if side == "left" else -self.lower
            buffer = self.buffers[side]
            kept = [entry for entry in buffer.get(key, ()) if entry[0] + reach >= t]
            if kept:
                buffer[key] = kept
            else:
                buffer.pop(key, None)

    def held(self) -> int:
        """Return how many items the join holds now, both sides together."""
        return sum(len(items) for side in self.buffers.values() for items in side.values())

    def snapshot(self) -> dict[str, Any]:
        """Save the items each side keeps and the watermark (JSON data)."""
        return {
            "watermark": None if self.watermark == -math.inf else self.watermark,
            "buffers": {
                side: [[key, [[t, value] for t, value in items]] for key, items in buffer.items()]
                for side, buffer in self.buffers.items()
            },
            "counts": [self.rows, self.late_items],
        }

    def restore(self, state: Any) -> None:
        """Take back what :meth:`snapshot` saved; the eviction times are made again."""
        if not isinstance(state, dict) or not {"watermark", "buffers"} <= set(state):
            raise ValueError(f"a saved interval join state has watermark, buffers; got {state!r}")
        watermark = state["watermark"]
        self.watermark = -math.inf if watermark is None else float(watermark)
        self.buffers, self._expiries = {"left": {}, "right": {}}, []
        for side in SIDES:
            reach = self.upper if side == "left" else -self.lower
            for key, items in state["buffers"].get(side, []):
                kept = [(float(t), value) for t, value in items]
                self.buffers[side][hashable(key)] = kept
                for t, _ in kept:
                    heapq.heappush(
                        self._expiries, (t + reach, next(self._seq), side, hashable(key))
                    )
        self.rows, self.late_items = state.get("counts", [0, 0])


# -- the primitives ---------------------------------------------------------------------------


def _install_join(name: str, options: Mapping[str, Any]) -> Fragment:
    unit = Subgraph(name)
    unit.add_node(
        JoinNode(
            _key(options), options["insert_mode"], options["emit_mode"], options["error_policy"]
        ),
        name=JOIN,
    )
    for side in SIDES:
        unit.expose_input(side, (JOIN, side))
    unit.expose_output("out", (JOIN, "out"))
    return Fragment(unit, health=_join_health)


def _install_interval(name: str, options: Mapping[str, Any]) -> Fragment:
    unit = Subgraph(name)
    unit.add_node(
        IntervalJoinNode(
            _key(options),
            reader(options["timestamp"], "timestamp"),
            options["lower"],
            options["upper"],
            options["error_policy"],
        ),
        name=JOIN,
    )
    for side in SIDES:
        unit.expose_input(side, (JOIN, side))
    unit.expose_output("out", (JOIN, "out"))
    unit.expose_output("late", (JOIN, "late"))
    return Fragment(unit, checks=(_late_leads_somewhere, _clock_upstream), health=_interval_health)


def _key(options: Mapping[str, Any]) -> Reader:
    return key_reader(options["key"])


def _late_leads_somewhere(graph: WholeGraph, path: str) -> list[Issue]:
    return late_leads_somewhere(graph, path, "IntervalJoin", JOIN)


def _clock_upstream(graph: WholeGraph, path: str) -> list[Issue]:
    return clock_upstream(graph, path, "IntervalJoin", JOIN)


def _join_health(nodes: Mapping[str, Node]) -> dict[str, Any]:
    join = part(nodes, JOIN, JoinNode)
    return {"state": "healthy", "keys": len(join.state), "rows": join.rows}


def _interval_health(nodes: Mapping[str, Node]) -> dict[str, Any]:
    join = part(nodes, JOIN, IntervalJoinNode)
    return {
        "state": "healthy",
        "held": join.held(),
        "rows": join.rows,
        "late": join.late_items,
        "watermark": None if join.watermark == -math.inf else join.watermark,
    }


def _join_checked(options: Mapping[str, Any]) -> Iterator[str]:
    if options["insert_mode"] not in INSERT_MODES:
        yield f"insert_mode {options['insert_mode']!r}: give one of {', '.join(INSERT_MODES)}"
    if options["emit_mode"] not in EMIT_MODES:
        yield f"emit_mode {options['emit_mode']!r}: give one of {', '.join(EMIT_MODES)}"
    yield from _fields_checked(options, ("key",))


def _interval_checked(options: Mapping[str, Any]) -> Iterator[str]:
    lower, upper = options["lower"], options["upper"]
    for name, value in (("lower", lower), ("upper", upper)):
        if not finite(value):
            yield f"{name} {value!r}: give seconds of event time (a right item pairs with a left "
            "one at tl + lower <= tr <= tl + upper)"
            return
    if lower > upper:
        yield f"lower {lower!r} is above upper {upper!r}: no pair could ever match; swap them"
    yield from _fields_checked(options, ("key", "timestamp"))


def _fields_checked(options: Mapping[str, Any], names: tuple[str, ...]) -> Iterator[str]:
    for name in names:
        given = options[name]
        if given is not None and not isinstance(given, str) and not callable(given):
            yield f"{name} {given!r}: give a field name, a function, or None"


_ERROR_POLICY = Policy(
    "error_policy",
    "fail",
    "what an item with no readable key does: `fail`, `skip` or `dead_letter`",
)
SCENARIOS = "tests/primitives/test_event_time_sim.py"
KEYED = f"{SCENARIOS}::test_keyed_joins_equal_a_nested_loop_whatever_the_interleaving_and_crashes"
INTERVAL = f"{SCENARIOS}::test_windows_and_interval_joins_hold_their_promises_over_the_seeds"

Join = Primitive.define(
    name="Join",
    layer="local",
    requires=(),
    provides=("KeyedJoin",),
    state=(
        "per key, each side's kept values (checkpointed; freed as `complete` emits, else at "
        "the end)",
    ),
    policies=(
        Policy("key", None, "what pairs items: a field name, a function, or None (one key)"),
        Policy("insert_mode", "last", "what a side keeps per key: `first`, `last` or `product`"),
        Policy(
            "emit_mode",
            "complete",
            "when rows leave: `complete` (both sides there, then cleared), `running` (every "
            "arrival) or `final` (at the end of the stream)",
        ),
        _ERROR_POLICY,
    ),
    failure_semantics=(
        FailureRow(
            "duplicate",
            "A value sent twice is kept as the insert mode says (`first` ignores it, `last` "
            "replaces, `product` pairs it again): rows equal a nested loop over the inputs.",
            KEYED,
        ),
        FailureRow(
            "crash",
            "A crashed handling is retried under the error policy and kept once: rows equal a "
            "nested loop over what the join was handed, whatever the interleaving.",
            KEYED,
        ),
    ),
    installer=_install_join,
    validation=(_join_checked,),
    maturity=Maturity.FAULT_TESTED,
    summary=(
        "A keyed join of two streams with Bytewax's insert modes (`first`, `last`, `product`) "
        "and emit modes (`complete`, `running`, `final`). Ports: `left`, `right`; `out` for "
        "`JoinRow(key, left, right)` records."
    ),
)

IntervalJoin = Primitive.define(
    name="IntervalJoin",
    layer="local",
    requires=("EventTime",),
    provides=("KeyedJoin",),
    state=("per side and key, the items that can still pair (checkpointed; evicted by watermark)",),
    policies=(
        Policy("key", None, "what pairs items: a field name, a function, or None (one key)"),
        Policy("timestamp", None, "the item's event time: a field name, a function, or None"),
        Policy("lower", REQUIRED, "a right item pairs from tl + lower on (seconds)", convert=float),
        Policy("upper", REQUIRED, "... up to tl + upper (seconds, >= lower)", convert=float),
        _ERROR_POLICY,
    ),
    failure_semantics=(
        FailureRow(
            "clock_skew",
            "Items out of order within the watermark pair as if in order; one behind the "
            "watermark leaves by `late`. Every on-time pair is emitted once: rows equal a "
            "nested loop over the on-time items.",
            INTERVAL,
        ),
        FailureRow(
            "crash",
            "A crashed handling is retried under the error policy: no pair is lost or "
            "emitted twice.",
            INTERVAL,
        ),
    ),
    installer=_install_interval,
    validation=(_interval_checked,),
    maturity=Maturity.FAULT_TESTED,
    summary=(
        "A keyed interval join: a left item at tl pairs with each right item at tr where "
        "tl + lower <= tr <= tl + upper; state is evicted by watermark. Ports: `left`, "
        "`right`; `out` for `JoinRow` records, `late` for items behind the watermark."
    ),
)
