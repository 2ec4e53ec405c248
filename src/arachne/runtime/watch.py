"""Watching messages as nodes take them: the per-message view of a running execution.

``Execution.watch(callback)`` calls ``callback`` with a :class:`Taken` each time a node takes
messages from one of the graph's edges (the moment its handler is about to see them), on the
execution's loop. That is where a service derives its per-message events (a value sent from
one port to another, a handler invoked) and where a debugger samples values.

Nothing is paid while nobody watches: the edge's take checks one attribute. While anybody
watches, fusion is off (a fused chain hands values from stage to stage with no edge to take
from), so every hop of the graph is seen; it is laid again when the last watcher goes.
Edges made for ``inject`` are not watched: what arrives there is the caller's, not a port's.

A watcher is called with every batch, so it must be quick (count, keep the newest, hand over
to another thread) and must not block. One that raises is removed and the failure logged;
the run goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arachne.runtime.edge import Edge

__all__ = ["Taken", "Watch", "Watchers"]

_logger = logging.getLogger("arachne.runtime")


@dataclass(frozen=True, slots=True)
class Taken:
    """Messages one node took from one edge, oldest first.

    ``items`` are payloads, or ``Message`` objects where a message carries headers.
    ``sequence`` is the edge's count of messages taken so far, the last of these included,
    so the first of them is number ``sequence - len(items) + 1``. A batch a node gives back
    unhandled (its output filled) is taken, and reported, again with the same numbers.
    ``injected``: the edge carries ``inject`` calls (its source is ``inject.out``).
    ``edge_serial`` tells this edge from another made later under the same id (a live change
    that removes an edge and links its ends again makes a new one, numbered from 1 again).
    """

    edge_id: str
    source: str
    source_port: str
    target: str
    target_port: str
    items: list[Any]
    sequence: int
    injected: bool = False
    edge_serial: int = 0


class Watch:
    """One watcher's registration: :meth:`close` ends it (idempotent)."""

    __slots__ = ("_watchers", "callback")

    def __init__(self, watchers: Watchers, callback: Callable[[Taken], None]) -> None:
        self._watchers = watchers
        self.callback = callback

    @property
    def active(self) -> bool:
        """Whether the watcher is still called."""
        return any(watch is self for watch in self._watchers.watches)

    def close(self) -> None:
        """Stop calling the watcher."""
        self._watchers.remove(self)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Watchers:
    """The watchers of one execution; the edges call it with what they hand out.

    ``on_change(watched)`` is called (from the caller's thread) when the first watcher comes
    (``True``) and when the last one goes (``False``): the execution turns the edges' tap on
    and off there. Registrations are told apart by identity, so one callback may be
    registered twice and each registration closed on its own.
    """

    def __init__(self, on_change: Callable[[bool], None]) -> None:
        self.watches: tuple[Watch, ...] = ()
        self._on_change = on_change
        self._lock = threading.Lock()

    def add(self, callback: Callable[[Taken], None]) -> Watch:
        """Call ``callback`` with every batch taken from now on; return its registration."""
        watch = Watch(self, callback)
        with self._lock:
            first = not self.watches
            self.watches = (*self.watches, watch)
        if first:
            self._on_change(True)
        return watch

    def remove(self, watch: Watch) -> None:
        """Stop calling ``watch``'s callback (nothing if it was closed already)."""
        with self._lock:
            kept = tuple(other for other in self.watches if other is not watch)
            if len(kept) == len(self.watches):
                return
            self.watches = kept
            last = not kept
        if last:
            self._on_change(False)

    def __call__(self, edge: Edge, items: list[Any]) -> None:
        """Tell every watcher that ``edge``'s consumer took ``items`` (on the loop)."""
        link = edge.link
        taken = Taken(
            edge.id,
            link.source.node,
            link.source.port,
            link.target.node,
            link.target.port,
            items,
            edge.dequeued,
            edge.kind == "inject",
            edge.serial,
        )
        for watch in self.watches:
            try:
                watch.callback(taken)
            except Exception as exc:
                self.remove(watch)
                _logger.error(
                    "message watcher %r raised and was removed", watch.callback, exc_info=exc
                )
