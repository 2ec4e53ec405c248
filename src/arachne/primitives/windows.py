"""Window: keyed tumbling, sliding and session windows on event time, closed by watermarks.

Items are grouped by ``key`` into windows by their event time (``timestamp``, read as an
EventClock reads it): ``Tumbling(size)`` (back to back), ``Sliding(size, slide)`` (each item
in every window that covers it) or ``Session(gap)`` (a window per burst of one key, ended by a
quiet gap). A window ``[start, end)`` closes once the watermark, less ``allowed_lateness``,
reaches its end: its result leaves by ``out`` as a :class:`WindowResult`, a
:class:`WindowMeta` by ``meta``, and its state is dropped in that same step.

An item whose time is behind the watermark by more than ``allowed_lateness`` is *late*: it
leaves by ``late`` as a :class:`Late`, never dropped unseen (a wiring check refuses a
``late`` port that leads nowhere). One rule for every kind of window, which is why every
on-time item finds all its windows still open: ``out`` and ``late`` account for every item,
and what the windows hold equals a batch computation over the on-time items. (Flink decides
lateness per window, so an old item may still join a tumbling window that has not fired;
here give the EventClock a ``max_delay`` for that.)

``aggregate`` is a built-in reducer (``count``, ``sum``, ``min``, ``max``, ``mean``,
``first``, ``last``, ``list``) over ``value`` (a field, a function, or the item itself), or,
from Python, a function of the window's items. At the end of the stream every window still
open closes, in order of its end.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

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
from arachne.primitives.event_clock import Reader, event_time, finite, key_reader, reader

if TYPE_CHECKING:
    from arachne.model.policies import ErrorPolicy
    from arachne.model.primitive_mark import WholeGraph

__all__ = [
    "REDUCERS",
    "Late",
    "Session",
    "Sliding",
    "Tumbling",
    "Window",
    "WindowMeta",
    "WindowNode",
    "WindowResult",
    "clock_upstream",
    "hashable",
    "late_leads_somewhere",
]

WINDOW: Final = "window"
"""The id of the window's one node inside it."""

REDUCERS: Final = ("count", "sum", "min", "max", "mean", "first", "last", "list")
"""The built-in aggregations, by name (what a graph document gives)."""


@dataclass(frozen=True, slots=True)
class Tumbling:
    """Windows of ``size`` seconds back to back, the first starting at ``align``."""

    size: float
    align: float = 0.0

    def to_data(self) -> dict[str, Any]:
        """Return it as a document gives it: ``{"tumbling": {"size": ..., "align": ...}}``."""
        return {"tumbling": {"size": self.size, "align": self.align}}


@dataclass(frozen=True, slots=True)
class Sliding:
    """Windows of ``size`` seconds starting every ``slide`` seconds (from ``align``)."""

    size: float
    slide: float
    align: float = 0.0

    def to_data(self) -> dict[str, Any]:
        """Return it as a document gives it: ``{"sliding": {"size": ..., "slide": ...}}``."""
        return {"sliding": {"size": self.size, "slide": self.slide, "align": self.align}}


@dataclass(frozen=True, slots=True)
class Session:
    """A window per burst of one key: items less than ``gap`` seconds apart share one."""

    gap: float

    def to_data(self) -> dict[str, Any]:
        """Return it as a document gives it: ``{"session": {"gap": ...}}``."""
        return {"session": {"gap": self.gap}}


Assigner = Tumbling | Sliding | Session


@dataclass(frozen=True, slots=True)
class WindowResult:
    """What a closed window gives: its key, span ``[start, end)``, aggregate and item count."""

    key: Any
    start: float
    end: float
    value: Any
    count: int


@dataclass(frozen=True, slots=True)
class WindowMeta:
    """How a window closed: its key and span, its items, the watermark that closed it."""

    key: Any
    start: float
    end: float
    count: int
    watermark: float


@dataclass(frozen=True, slots=True)
class Late:
    """An item that came behind the watermark (by more than the lateness allowed)."""

    key: Any
    time: float
    item: Any
    watermark: float


class _Acc:
    """One window's aggregate so far: a count, and a built-in's state or the items."""

    __slots__ = ("count", "items", "value")

    def __init__(self) -> None:
        self.count = 0
        self.value: Any = None
        self.items: list[tuple[int, Any]] | None = None  # (arrival, value), for list and fns

    def to_data(self) -> list[Any]:
        """Return it as JSON data: ``[count, value, items]``."""
        items = None if self.items is None else [[seq, value] for seq, value in self.items]
        return [self.count, self.value, items]

    @classmethod
    def from_data(cls, data: Any) -> _Acc:
        """Take back what :meth:`to_data` returned."""
        acc = cls()
        acc.count, acc.value, items = data
        acc.items = None if items is None else [(int(seq), value) for seq, value in items]
        return acc


class WindowNode(Node):
    """The node a Window becomes (see the module's text)."""

    inp = Input(None, name="in")
    out = Output(None)
    late = Output(None)
    meta = Output(None)
    error_policy: ErrorPolicy = "fail"

    def __init__(
        self,
        window: Assigner,
        key: Reader,
        timestamp: Reader,
        value: Reader,
        aggregate: str | Callable[[list[Any]], Any],
        allowed_lateness: float = 0.0,
        error_policy: ErrorPolicy = "fail",
    ) -> None:
        self.window = window
        self.key, self.timestamp, self.value = key, timestamp, value
        self.aggregate = aggregate
        self.lateness = allowed_lateness
        self.error_policy = error_policy
        self.watermark = -math.inf
        # Open windows: (key, start) -> [end, acc]; sessions per key as [start, last, acc].
        self.open: dict[tuple[Any, float], list[Any]] = {}
        self.sessions: dict[Any, list[list[Any]]] = {}
        self._ends: list[tuple[float, int, Any, float]] = []  # (end, seq, key, start)
        self._seq = itertools.count()
        self._arrivals = itertools.count()
        self.items = self.late_items = self.closed = 0

    # -- items --------------------------------------------------------------------------------

    def on_message(self, port: str, msg: Message) -> None:
        """Put the item into its windows, or send it to ``late``."""
        item = msg.payload
        t = event_time(self.timestamp, item)
        key = hashable(self.key(item))
        value = self.value(item)
        if t < self.watermark - self.lateness:
            self.late_items += 1
            self.emit("late", Late(key, t, item, self.watermark))
            return
        self.items += 1
        window = self.window
        if isinstance(window, Session):
            self._into_session(key, t, value)
            return
        for start, end in _spans(window, t):
            slot = self.open.get((key, start))
            if slot is None:
                slot = self.open[(key, start)] = [end, _Acc()]
                heapq.heappush(self._ends, (end, next(self._seq), key, start))
            self._add(slot[1], value)

    def _into_session(self, key: Any, t: float, value: Any) -> None:
        gap = self.window.gap  # type: ignore[union-attr]  # (only sessions come here)
        sessions = self.sessions.setdefault(key, [])
        merged = [s for s in sessions if s[0] - gap < t < s[1] + gap]
        if not merged:
            acc = _Acc()
            self._add(acc, value)
            sessions.append([t, t, acc])
            heapq.heappush(self._ends, (t + gap, next(self._seq), key, t))
            return
        first = merged[0]
        for other in merged[1:]:  # the item bridges sessions: one now
            first[0], first[1] = min(first[0], other[0]), max(first[1], other[1])
            self._merge(first[2], other[2])
            sessions.remove(other)
        first[0], first[1] = min(first[0], t), max(first[1], t)
        self._add(first[2], value)
        heapq.heappush(self._ends, (first[1] + gap, next(self._seq), key, first[0]))

    # -- closing ------------------------------------------------------------------------------

    def on_watermark(self, t: float) -> None:
        """Close every window whose end the watermark (less the lateness) has reached."""
        self.watermark = t
        self._close(t - self.lateness)

    def on_finish(self) -> None:
        """Close every window still open: the stream has ended."""
        self._close(math.inf)

    def _close(self, upto: float) -> None:
        ends = self._ends
        while ends and ends[0][0] <= upto:
            end, _, key, start = heapq.heappop(ends)
            if isinstance(self.window, Session):
                acc = self._session_closed(key, start, end)
                if acc is None:
                    continue  # (a stale entry: that session grew or merged since)
            else:
                _, acc = self.open.pop((key, start))
            self.closed += 1
            self.emit("out", WindowResult(key, start, end, self._result(acc), acc.count))
            self.emit("meta", WindowMeta(key, start, end, acc.count, self.watermark))

    def _session_closed(self, key: Any, start: float, end: float) -> _Acc | None:
        gap = self.window.gap  # type: ignore[union-attr]
        sessions = self.sessions.get(key, [])
        for session in sessions:
            if session[0] == start and session[1] + gap == end:
                sessions.remove(session)
                if not sessions:
                    del self.sessions[key]
                acc: _Acc = session[2]
                return acc
        return None

    # -- aggregates ---------------------------------------------------------------------------

    def _add(self, acc: _Acc, value: Any) -> None:
        acc.count += 1
        how = self.aggregate
        if how == "count":
            return
        if not isinstance(how, str) or how == "list":
            if acc.items is None:
                acc.items = []
            acc.items.append((next(self._arrivals), value))
        elif how in ("sum", "mean"):
            acc.value = value if acc.count == 1 else acc.value + value
        elif how == "min":
            acc.value = value if acc.count == 1 else min(acc.value, value)
        elif how == "max":
            acc.value = value if acc.count == 1 else max(acc.value, value)
        elif how == "first":
            if acc.count == 1:
                acc.value = value
        else:  # last
            acc.value = value

    def _merge(self, into: _Acc, other: _Acc) -> None:
        """Fold session ``other`` into ``into``, the session made first.

        ``first`` and ``last`` go by arrival: ``into``'s first item came before any of
        ``other``'s, and the item that merged them, added next, is the last.
        """
        how = self.aggregate
        if other.count == 0:
            return
        if into.count == 0:
            into.count, into.value, into.items = other.count, other.value, other.items
            return
        if not isinstance(how, str) or how == "list":  # (in arrival order, as a window keeps)
            into.items = sorted([*(into.items or []), *(other.items or [])], key=_arrival)
        elif how in ("sum", "mean"):
            into.value = into.value + other.value
        elif how == "min":
            into.value = min(into.value, other.value)
        elif how == "max":
            into.value = max(into.value, other.value)
        into.count += other.count

    def _result(self, acc: _Acc) -> Any:
        how = self.aggregate
        if how == "count":
            return acc.count
        if how == "mean":
            return acc.value / acc.count
        values = [value for _, value in acc.items or []]
        if how == "list":
            return values
        if not isinstance(how, str):
            return how(values)
        return acc.value

    def held(self) -> int:
        """Return how many windows are open now (what the node holds)."""
        return len(self.open) + sum(len(s) for s in self.sessions.values())

    # -- checkpoints --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Save the open windows, their aggregates and the watermark (JSON data).

        Keys, values and aggregates must be JSON data (a list key comes back as the tuple it
        groups by); a checkpoint of something else fails, naming the node.
        """
        return {
            "watermark": None if self.watermark == -math.inf else self.watermark,
            "open": [
                [key, start, end, acc.to_data()] for (key, start), (end, acc) in self.open.items()
            ],
            "sessions": [
                [key, first, last, acc.to_data()]
                for key, sessions in self.sessions.items()
                for first, last, acc in sessions
            ],
            "counts": [self.items, self.late_items, self.closed],
        }

    def restore(self, state: Any) -> None:
        """Take back what :meth:`snapshot` saved: the windows open then, as they were."""
        if not isinstance(state, dict) or not {"watermark", "open", "sessions"} <= set(state):
            raise ValueError(f"a saved window state has watermark, open, sessions; got {state!r}")
        watermark = state["watermark"]
        self.watermark = -math.inf if watermark is None else float(watermark)
        self.open, self.sessions, self._ends = {}, {}, []
        arrivals = 0
        for key, start, end, data in state["open"]:
            acc = _Acc.from_data(data)
            self.open[(hashable(key), start)] = [end, acc]
            heapq.heappush(self._ends, (end, next(self._seq), hashable(key), start))
            arrivals = max(arrivals, *(seq + 1 for seq, _ in acc.items or [(-1, None)]))
        gap = self.window.gap if isinstance(self.window, Session) else 0.0
        for key, first, last, data in state["sessions"]:
            acc = _Acc.from_data(data)
            self.sessions.setdefault(hashable(key), []).append([first, last, acc])
            heapq.heappush(self._ends, (last + gap, next(self._seq), hashable(key), first))
            arrivals = max(arrivals, *(seq + 1 for seq, _ in acc.items or [(-1, None)]))
        self._arrivals = itertools.count(arrivals)
        self.items, self.late_items, self.closed = state.get("counts", [0, 0, 0])


def _arrival(entry: tuple[int, Any]) -> int:
    return entry[0]


def hashable(key: Any) -> Any:
    """Return ``key`` as a dict key: a list as a tuple, a mapping as its sorted items.

    ``TypeError`` naming the fix for anything else that cannot be one.
    """
    if isinstance(key, list):
        return tuple(hashable(part) for part in key)
    if isinstance(key, Mapping):
        return tuple(sorted((str(k), hashable(v)) for k, v in key.items()))
    try:
        hash(key)
    except TypeError:
        raise TypeError(
            f"key {key!r} ({type(key).__name__}) cannot group items; give a key option that "
            "reads a string, a number or a list of them"
        ) from None
    return key


def _spans(window: Tumbling | Sliding, t: float) -> Iterator[tuple[float, float]]:
    """Yield the ``(start, end)`` of every window of ``window`` that covers time ``t``."""
    if isinstance(window, Tumbling):
        start = window.align + math.floor((t - window.align) / window.size) * window.size
        yield start, start + window.size
        return
    slide, size = window.slide, window.size
    start = window.align + math.floor((t - window.align) / slide) * slide
    while start + size > t:
        yield start, start + size
        start -= slide


# -- the primitive ----------------------------------------------------------------------------


def assigner_of(spec: Any) -> Assigner:
    """Return the window kind ``spec`` names: an assigner, or a document's mapping of one.

    ``{"tumbling": 10}``, ``{"sliding": {"size": 10, "slide": 5}}``, ``{"session": 30}``.
    """
    if isinstance(spec, Tumbling | Sliding | Session):
        return spec
    if isinstance(spec, Mapping) and len(spec) == 1:
        ((kind, given),) = spec.items()
        args = dict(given) if isinstance(given, Mapping) else None
        if kind == "tumbling":
            return Tumbling(**args) if args is not None else Tumbling(given)
        if kind == "sliding" and args is not None:
            return Sliding(**args)
        if kind == "session":
            return Session(**args) if args is not None else Session(given)
    raise ValueError(
        f"window {spec!r}: give Tumbling(size), Sliding(size, slide) or Session(gap) "
        '(in a document: {"tumbling": 10}, {"sliding": {"size": 10, "slide": 5}} or '
        '{"session": 30})'
    )


def _window_option(spec: Any) -> Assigner:
    """Return the (checked) window option in one form: its numbers as floats."""
    window = assigner_of(spec)
    if isinstance(window, Tumbling):
        return Tumbling(float(window.size), float(window.align))
    if isinstance(window, Sliding):
        return Sliding(float(window.size), float(window.slide), float(window.align))
    return Session(float(window.gap))


def _install(name: str, options: Mapping[str, Any]) -> Fragment:
    unit = Subgraph(name)
    window: Assigner = options["window"]
    unit.add_node(
        WindowNode(
            window,
            key_reader(options["key"]),
            reader(options["timestamp"], "timestamp"),
            reader(options["value"], "value"),
            options["aggregate"],
            options["allowed_lateness"],
            options["error_policy"],
        ),
        name=WINDOW,
    )
    unit.expose_input("in", (WINDOW, "in"))
    for port in ("out", "late", "meta"):
        unit.expose_output(port, (WINDOW, port))
    return Fragment(unit, checks=(_late_leads_somewhere, _clock_upstream), health=_health)


def late_leads_somewhere(graph: WholeGraph, path: str, kind: str, node: str) -> list[Issue]:
    """Refuse a ``late`` port of ``node`` (inside ``path``) that leads nowhere."""
    inner = inside(path, node)
    if inner not in graph.nodes or graph.leads_out(inner, "late"):
        return []
    return [
        Issue(
            "error",
            "primitive-wiring",
            f"{kind} {path!r}: late items leave by its 'late' port, which leads nowhere, so "
            "they would be lost unseen; connect 'late' to a sink or a dead-letter node (or "
            "expose it), or allow more lateness upstream (EventClock max_delay)",
            path,
        )
    ]


STAMPER_KIND: Final = "arachne.primitives.event_clock:EventStamper"
"""The kind of an EventClock's node, as a node spec names it."""


def clock_upstream(graph: WholeGraph, path: str, kind: str, node: str) -> list[Issue]:
    """Warn for each input of ``node`` with no EventClock upstream: it holds the watermark."""
    inner = inside(path, node)
    bare = sorted(
        {
            link.target.port
            for link in graph.links.values()
            if link.target.node == inner and not _stamped(graph, link.source.node)
        }
    )
    return [
        Issue(
            "warning",
            "primitive-wiring",
            f"{kind} {path!r}: no EventClock is upstream of its {port!r} input, so unless a "
            "node before it says watermarks (Node.emit_watermark) it closes nothing until the "
            "stream ends and holds all its state meanwhile; put an EventClock before it",
            path,
        )
        for port in bare
    ]


def _stamped(graph: WholeGraph, start: str) -> bool:
    """Whether ``start`` is an EventClock's node or has one upstream."""
    seen, todo = {start}, [start]
    while todo:
        current = todo.pop()
        spec = graph.nodes.get(current)
        if spec is not None and spec.kind == STAMPER_KIND:
            return True
        for link in graph.links.values():
            if link.target.node == current and link.source.node not in seen:
                seen.add(link.source.node)
                todo.append(link.source.node)
    return False


def _late_leads_somewhere(graph: WholeGraph, path: str) -> list[Issue]:
    return late_leads_somewhere(graph, path, "Window", WINDOW)


def _clock_upstream(graph: WholeGraph, path: str) -> list[Issue]:
    return clock_upstream(graph, path, "Window", WINDOW)


def _health(nodes: Mapping[str, Node]) -> dict[str, Any]:
    window = part(nodes, WINDOW, WindowNode)
    return {
        "state": "healthy",
        "open": window.held(),
        "items": window.items,
        "late": window.late_items,
        "closed": window.closed,
        "watermark": None if window.watermark == -math.inf else window.watermark,
    }


def _checked(options: Mapping[str, Any]) -> Iterator[str]:
    try:
        window = assigner_of(options["window"])
    except (TypeError, ValueError) as exc:
        yield str(exc)
    else:
        sizes = (
            [("size", window.size)]
            if isinstance(window, Tumbling)
            else [("size", window.size), ("slide", window.slide)]
            if isinstance(window, Sliding)
            else [("gap", window.gap)]
        )
        for what, value in sizes:
            if not _positive(value):
                yield f"window {what} {value!r}: give seconds of event time above 0"
        align = getattr(window, "align", 0.0)
        if not finite(align):
            yield f"window align {align!r}: give the time (seconds) a window starts at"
        if (
            isinstance(window, Sliding)
            and _positive(window.slide)
            and _positive(window.size)
            and window.slide > window.size
        ):
            yield (
                f"window slide {window.slide!r} is longer than its size {window.size!r}: "
                "items between windows would belong to none; use a slide <= size"
            )
    lateness = options["allowed_lateness"]
    if not (_positive(lateness) or lateness == 0):
        yield f"allowed_lateness {lateness!r}: give seconds of event time, >= 0"
    how = options["aggregate"]
    if not callable(how) and how not in REDUCERS:
        yield f"aggregate {how!r}: give one of {', '.join(REDUCERS)}, or a function of the items"
    for option in ("key", "timestamp", "value"):
        given = options[option]
        if given is not None and not isinstance(given, str) and not callable(given):
            yield f"{option} {given!r}: give a field name, a function, or None"


def _positive(value: object) -> bool:
    return finite(value) and value > 0  # type: ignore[operator]


SCENARIOS = (
    "tests/primitives/test_event_time_sim.py::"
    "test_windows_and_interval_joins_hold_their_promises_over_the_seeds"
)

Window = Primitive.define(
    name="Window",
    layer="local",
    requires=("EventTime",),
    provides=("Windows",),
    state=("the open windows and their aggregates (checkpointed; dropped as each closes)",),
    policies=(
        Policy(
            "window",
            REQUIRED,
            "Tumbling(size), Sliding(size, slide) or Session(gap), in seconds of event time "
            '(documents: {"tumbling": 10}, {"sliding": {"size": 10, "slide": 5}}, '
            '{"session": 30})',
            convert=_window_option,
        ),
        Policy("key", None, "what groups items: a field name, a function, or None (one group)"),
        Policy("timestamp", None, "the item's event time: a field name, a function, or None"),
        Policy(
            "aggregate",
            "count",
            "`count`, `sum`, `min`, `max`, `mean`, `first`, `last`, `list`, or a function "
            "of the window's items",
        ),
        Policy("value", None, "what the aggregate reads: a field name, a function, or None"),
        Policy(
            "allowed_lateness",
            0.0,
            "how far (seconds of event time) behind the watermark an item may still come; "
            "windows close that much later",
            convert=float,
        ),
        Policy(
            "error_policy",
            "fail",
            "what an item with no readable time or key does: `fail`, `skip` or `dead_letter`",
        ),
    ),
    failure_semantics=(
        FailureRow(
            "clock_skew",
            "An item behind the watermark by more than `allowed_lateness` leaves by `late`; "
            "every other one is in each of its windows: out + late = input, and the results "
            "equal a batch computation over the on-time items (also a Hypothesis property in "
            "tests/primitives/test_windows.py).",
            SCENARIOS,
        ),
        FailureRow(
            "timeout",
            "A window's state is dropped in the step its watermark closes it; windows fed by "
            "an idle input close on the other inputs' watermark.",
            SCENARIOS,
        ),
        FailureRow(
            "crash",
            "A crashed handling is retried under the error policy and counted once; a run "
            "killed at any moment resumes from its checkpoint (the open windows saved) to the "
            "same output, byte for byte.",
            "tests/primitives/test_event_time_sim.py::"
            "test_windows_killed_at_a_random_moment_resume_to_the_uninterrupted_output",
        ),
    ),
    installer=_install,
    validation=(_checked,),
    maturity=Maturity.FAULT_TESTED,
    summary=(
        "Keyed tumbling, sliding and session windows on event time, closed by watermarks. "
        "Ports: `in`; `out` for each closed window's result, `late` for items behind the "
        "watermark, `meta` for how each window closed."
    ),
)
