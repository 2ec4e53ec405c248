"""Iterator sources: a node that emits the items of an iterable and then finishes."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

# PullSource is part of Node's seam (``Node.as_pull_source``), so node.py defines it.
from arachne.model.node import Node, PullSource

__all__ = ["IterSource", "PullSource"]


class IterSource(Node):
    """Emit every item of ``iterable`` on ``port`` (``"out"``), then finish.

    The runtime pulls items only while the output has room, so a generator of a million items
    never holds more than the edge's capacity in memory. ``schema`` types the output port.
    """

    def __init__(
        self,
        iterable: Iterable[Any],
        *,
        port: str = "out",
        schema: object = None,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(name=name, config=config)
        self._iterable = iterable
        self.port = port
        self._schema = schema
        self._iterator: Iterator[Any] | None = None

    def outputs(self) -> Mapping[str, Any]:
        """Return the single output port."""
        return {self.port: self._schema}

    def as_pull_source(self) -> IterSource:
        """Return itself: the runtime pulls batches with :meth:`pull` instead of ticking."""
        return self

    def on_start(self) -> None:
        """Open the iterator."""
        self._iterator = iter(self._iterable)

    def on_tick(self) -> None:
        """Emit the next item, or finish when the iterator is exhausted."""
        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = iter(self._iterable)
        try:
            item = next(iterator)
        except StopIteration:
            self.finish()
            return
        self.emit(self.port, item)

    def pull(self, limit: int) -> list[Any]:
        """Return up to ``limit`` next items; fewer means the iterator is exhausted.

        The runtime calls this instead of ``on_tick`` to take a batch in one call.
        """
        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = iter(self._iterable)
        return list(itertools.islice(iterator, limit))
