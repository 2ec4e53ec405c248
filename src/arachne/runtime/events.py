"""Typed runtime events and the bus that delivers them to whoever subscribed to their kind.

Every event is a frozen, slotted dataclass. Each concrete kind registers itself when its class
is defined, so subscribing to a base (``Event``, ``NodeEvent``, ``EdgeEvent``) means every
concrete kind below it. Only the standard library is imported, so every runtime module can
fire events without an import cycle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, TypeVar, cast, overload

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from arachne.model.delta import GraphDelta

__all__ = [
    "EVENT_KINDS",
    "BackpressureBegan",
    "BackpressureEnded",
    "CheckpointAborted",
    "CheckpointCommitted",
    "CheckpointRestored",
    "CommitRolledBack",
    "DeadLettered",
    "EdgeAdded",
    "EdgeEvent",
    "EdgeRemoved",
    "Event",
    "EventBus",
    "ExecutionRestarted",
    "ExecutionStateChanged",
    "GraphCommitted",
    "MessageCoalesced",
    "MessageDropped",
    "MessageRejected",
    "MessageSkipped",
    "NodeAdded",
    "NodeEvent",
    "NodeFailed",
    "NodeFinished",
    "NodeReconfigured",
    "NodeRemoved",
    "NodeStarted",
    "NodeStopped",
    "RetryScheduled",
    "Subscription",
    "TickOverran",
    "kinds_of",
]

_logger = logging.getLogger("arachne.runtime")

# Concrete kinds in order of definition. ``slots=True`` builds every class twice: the
# decorator returns a new class, made from a copy of the first one's __dict__, and the second
# build takes the first one's place (see _register).
_KINDS: list[type[Event]] = []


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something that happened to an execution, one of its nodes or one of its edges.

    A subclass is a concrete kind unless its body sets ``_abstract = True``, as ``NodeEvent``
    and ``EdgeEvent`` do; only concrete kinds are delivered. ``ts_ns`` is the wall clock when
    the event was built and takes no part in equality.
    """

    _abstract: ClassVar[bool] = True

    execution_id: str
    ts_ns: int = field(default_factory=time.time_ns, compare=False)

    def __init_subclass__(cls) -> None:
        # Zero-argument super() raises TypeError here: its __class__ cell names the first
        # build of Event, which slots=True discarded.
        super(Event, cls).__init_subclass__()
        # cls.__dict__, not getattr: the flag must not be inherited by concrete subclasses.
        if not cls.__dict__.get("_abstract", False):
            _register(cls)


def _register(cls: type[Event]) -> None:
    # The slots rebuild shares the first build's __dataclass_fields__ dict, an object no
    # other class holds; names cannot tell them apart (__qualname__ of the rebuild is only
    # fixed after this runs, so two local classes may look alike).
    fields = cls.__dict__.get("__dataclass_fields__")
    if fields is not None:
        for index, known in enumerate(_KINDS):
            if known.__dict__.get("__dataclass_fields__") is fields:
                _KINDS[index] = cls
                return
    _KINDS.append(cls)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeEvent(Event):
    """Something that happened to one node of an execution."""

    _abstract: ClassVar[bool] = True

    node_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeEvent(Event):
    """Something that happened to one edge of an execution."""

    _abstract: ClassVar[bool] = True

    edge_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionStateChanged(Event):
    """Fires when an execution moves from state ``old`` to ``new`` (e.g. "running")."""

    old: str
    new: str
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRestarted(Event):
    """Fires when ``Runtime.restart`` runs execution ``previous``'s graph again as a new one."""

    previous: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphCommitted(Event):
    """Fires when a commit changed the running graph (``dropped``: per removed link, held)."""

    delta: GraphDelta
    dropped: Mapping[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitRolledBack(Event):
    """Fires when a commit failed part way (``error``, in ``node_id``) and was undone."""

    delta: GraphDelta
    error: str
    node_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointCommitted(Event):
    """Fires when checkpoint ``checkpoint`` is in the store (``seconds``: barrier to commit)."""

    checkpoint: int
    seconds: float
    size: int  # bytes of saved state


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointRestored(Event):
    """Fires when a resumed run has given its nodes their state from ``checkpoint``."""

    checkpoint: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointAborted(Event):
    """Fires when a checkpoint in flight is given up (``reason``); the next one starts anew."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStarted(NodeEvent):
    """Fires when a node's ``on_start`` has returned."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFinished(NodeEvent):
    """Fires when end of stream has reached a node and its outputs are closed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStopped(NodeEvent):
    """Fires when a node's ``on_stop`` has run."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFailed(NodeEvent):
    """Fires when a node's failure in ``hook`` failed the execution."""

    hook: str
    error_type: str
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSkipped(NodeEvent):
    """Fires when the ``skip`` error policy gives up on a message after ``attempts`` tries."""

    port: str | None
    attempts: int
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLettered(NodeEvent):
    """Fires when a failed message leaves by the ``error`` port (dead_letter, or skip if linked)."""

    port: str | None
    attempts: int
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryScheduled(NodeEvent):
    """Fires when attempt number ``attempt`` failed and a retry is due in ``delay`` seconds."""

    port: str | None
    attempt: int
    delay: float
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TickOverran(NodeEvent):
    """Fires when a tick ran ``late_by`` seconds late and ``skipped`` ticks were skipped."""

    cadence: float
    late_by: float
    skipped: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDropped(EdgeEvent):
    """Fires when an edge drops ``count`` messages; "discarded" means removed or cancelled."""

    count: int = 1
    reason: Literal["drop", "latest", "discarded"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageCoalesced(EdgeEvent):
    """Fires when an edge merges an arriving message into one already queued."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRejected(EdgeEvent):
    """Fires when overflow policy "fail" raised ``EdgeFull`` in the producer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BackpressureBegan(EdgeEvent):
    """Fires when a full ``block`` edge starts holding back ``producer_id``."""

    producer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BackpressureEnded(EdgeEvent):
    """Fires when a ``block`` edge releases ``producer_id`` after ``blocked_seconds``."""

    producer_id: str
    blocked_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeAdded(NodeEvent):
    """Fires when a node joins a running graph."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeRemoved(NodeEvent):
    """Fires when a node leaves a running graph."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeReconfigured(NodeEvent):
    """Fires when a node took a new config while running (``Execution.update_config``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeAdded(EdgeEvent):
    """Fires when an edge joins a running graph."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeRemoved(EdgeEvent):
    """Fires when an edge leaves a running graph, ``dropped`` messages still in it."""

    dropped: int = 0


EVENT_KINDS: tuple[type[Event], ...] = tuple(_KINDS)
"""Every concrete kind this module defines, in order of definition."""


def _check_kinds(caller: str, kinds: tuple[object, ...]) -> None:
    for kind in kinds:
        if not (isinstance(kind, type) and issubclass(kind, Event)):
            raise TypeError(
                f"{caller} takes Event classes such as NodeFailed or NodeEvent, got {kind!r}; "
                "pass the class itself, not an instance or a name"
            )


def kinds_of(*bases: type[Event]) -> frozenset[type[Event]]:
    """Return the concrete kinds that are, or derive from, any of ``bases`` (none: every kind).

    Kinds defined in other modules count once those modules are imported.
    """
    _check_kinds("kinds_of()", bases)
    if not bases:
        return frozenset(_KINDS)
    return frozenset(kind for kind in _KINDS if issubclass(kind, bases))


_E = TypeVar("_E", bound=Event)


class Subscription:
    """A subscriber's handle: ``unsubscribe()`` ends delivery, and so does leaving a ``with``.

    ``kinds`` holds the concrete kinds delivered; ``failed`` the exception that got the
    subscriber removed, if it raised.
    """

    __slots__ = ("_active", "_bus", "callback", "execution_id", "failed", "kinds")

    def __init__(
        self,
        bus: EventBus,
        callback: Callable[[Event], None],
        kinds: frozenset[type[Event]],
        execution_id: str | None,
    ) -> None:
        self._bus = bus
        self._active = True
        self.callback = callback
        self.kinds = kinds
        self.execution_id = execution_id
        self.failed: BaseException | None = None

    @property
    def active(self) -> bool:
        """Whether events are still delivered to this subscriber."""
        return self._active

    def unsubscribe(self) -> None:
        """Stop delivery; calling it again does nothing."""
        self._bus._discard(self, None)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unsubscribe()

    def __repr__(self) -> str:
        state = "active" if self._active else "inactive"
        return f"<Subscription {self.callback!r} to {len(self.kinds)} kinds, {state}>"


class EventBus:
    """Delivers each published event to the subscribers that asked for its kind.

    A firing site checks before it builds anything::

        if MessageDropped in bus.wanted:
            bus.publish(MessageDropped(execution_id=eid, edge_id=edge.id, reason="drop"))

    so a kind nobody listens to costs one attribute load and one set lookup, and the event is
    never built. ``wanted`` is replaced, never mutated, whenever subscriptions change.

    Delivery is synchronous on the publishing thread, in subscription order. A subscriber that
    raises is logged at ERROR on ``arachne.runtime`` and unsubscribed; the others still get
    the event and ``publish`` never raises. Subscribing and unsubscribing are safe from any
    thread, including from inside a callback: a publish already under way uses the
    subscriptions it started with, except that it skips any unsubscribed meanwhile.
    """

    __slots__ = ("_lock", "_routes", "_subs", "wanted")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: tuple[Subscription, ...] = ()
        # Concrete kind -> its subscribers in subscription order; replaced, never mutated, so
        # publish reads it without the lock.
        self._routes: dict[type[Event], tuple[Subscription, ...]] = {}
        self.wanted: frozenset[type[Event]] = frozenset()

    @overload
    def subscribe(
        self,
        callback: Callable[[_E], None],
        kind: type[_E],
        /,
        *kinds: type[_E],
        execution_id: str | None = None,
    ) -> Subscription: ...

    @overload
    def subscribe(
        self, callback: Callable[[Event], None], /, *, execution_id: str | None = None
    ) -> Subscription: ...

    def subscribe(
        self,
        callback: Callable[[_E], None],
        /,
        *kinds: type[_E],
        execution_id: str | None = None,
    ) -> Subscription:
        """Return a subscription delivering ``kinds`` (every kind if none) to ``callback``.

        A base class stands for every concrete kind below it when this is called (a kind
        defined later, in a module imported afterwards, is not added); ``execution_id`` keeps
        only that execution's events. A callback typed for one kind type-checks with that kind.
        """
        if not callable(callback):
            raise TypeError(
                f"subscribe() needs a callable taking one Event, got {callback!r}; "
                "pass the function itself, not the result of calling it"
            )
        _check_kinds("subscribe()", kinds)
        if execution_id is not None and not isinstance(execution_id, str):
            raise TypeError(
                f"execution_id must be a str or None, got {execution_id!r}; pass execution.id"
            )
        # The overloads tie the callback's parameter type to the kinds it is given.
        sub = Subscription(
            self, cast("Callable[[Event], None]", callback), kinds_of(*kinds), execution_id
        )
        with self._lock:
            self._subs = (*self._subs, sub)
            self._rebuild_locked()
        return sub

    def publish(self, event: Event) -> None:
        """Deliver ``event`` now to every subscriber that wants its kind; never raises."""
        subs = self._routes.get(type(event))
        if subs is None:
            return
        for sub in subs:
            if not sub._active:
                continue
            if sub.execution_id is not None and sub.execution_id != event.execution_id:
                continue
            try:
                sub.callback(event)
            except Exception as exc:
                # Two threads can see the same subscriber raise; only the one that removes it
                # logs, so each failure is reported once.
                if self._discard(sub, exc):
                    _logger.error(
                        "event subscriber %r raised on %s and was unsubscribed",
                        sub.callback,
                        type(event).__name__,
                        exc_info=exc,
                    )

    def __len__(self) -> int:
        return len(self._subs)

    def __bool__(self) -> bool:
        # Without this, a bus nobody subscribes to would be falsy through __len__, and
        # ``if bus:`` meant as "is there a bus" would silently skip firing.
        return True

    def __repr__(self) -> str:
        return f"<EventBus {len(self._subs)} subscriptions, {len(self.wanted)} kinds wanted>"

    def _discard(self, sub: Subscription, failed: BaseException | None) -> bool:
        """Return whether ``sub`` was active; it is removed either way."""
        with self._lock:
            if not sub._active:
                return False
            sub._active = False
            sub.failed = failed
            self._subs = tuple(other for other in self._subs if other is not sub)
            self._rebuild_locked()
        return True

    def _rebuild_locked(self) -> None:
        routes: dict[type[Event], list[Subscription]] = {}
        for sub in self._subs:
            for kind in sub.kinds:
                routes.setdefault(kind, []).append(sub)
        self._routes = {kind: tuple(subs) for kind, subs in routes.items()}
        self.wanted = frozenset(self._routes)
