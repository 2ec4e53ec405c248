"""Iterator sources: a node that emits the items of an iterable and then finishes."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

# PullSource is part of Node's seam (``Node.as_pull_source``), so node.py defines it.
from arachne.model.node import Node, PullSource

__all__ = ["IterSource", "PullSource"]

_END = object()


class IterSource(Node):
    """Emit every item of ``iterable`` on ``port`` (``"out"``), then finish.

    The runtime pulls items only while the output has room, so a generator of a million items
    never holds more than the edge's capacity in memory. ``schema`` types the output port.

    Its position under checkpointing is how many items it has handed on: a resumed run skips
    that many of a fresh iterator, so the iterable must yield the same items each time it is
    iterated (a list, a range, a file read again; not a one-shot generator).
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
        self._handed = 0  # items handed on: the position a checkpoint saves
        self._skip = 0  # items to pass over when the iterator opens (a resumed run)

    def outputs(self) -> Mapping[str, Any]:
        """Return the single output port."""
        return {self.port: self._schema}

    def as_pull_source(self) -> IterSource:
        """Return itself: the runtime pulls batches with :meth:`pull` instead of ticking."""
        return self

    def on_start(self) -> None:
        """Open the iterator (past the items a resumed run has handed on already)."""
        self._iterator = self._open()

    def on_tick(self) -> None:
        """Emit the next item, or finish when the iterator is exhausted."""
        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = self._open()
        try:
            item = next(iterator)
        except StopIteration:
            self.finish()
            return
        self._handed += 1
        self.emit(self.port, item)

    def snapshot(self) -> dict[str, int]:
        """Return the position: how many items were handed on."""
        return {"index": self._handed}

    def restore(self, state: Any) -> None:
        """Resume after ``state["index"]`` items (taken from a :meth:`snapshot`)."""
        index = state.get("index") if isinstance(state, dict) else None
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(
                f"{self.name()}: a saved position must be {{'index': <int >= 0>}}, got {state!r}"
            )
        self._skip = self._handed = index
        self._iterator = None

    def _open(self) -> Iterator[Any]:
        iterator = iter(self._iterable)
        if self._skip:
            skip, self._skip = self._skip, 0
            if next(itertools.islice(iterator, skip - 1, None), _END) is _END:
                raise ValueError(
                    f"{self.name()}: replay gap: the checkpoint resumed from had handed on "
                    f"{skip} items, but the iterable now yields fewer; give it the same "
                    "items as the interrupted run, or start the run over (fresh)"
                )
        return iterator

    def pull(self, limit: int) -> list[Any]:
        """Return up to ``limit`` next items; fewer means the iterator is exhausted.

        The runtime calls this instead of ``on_tick`` to take a batch in one call.
        """
        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = self._open()
        items = list(itertools.islice(iterator, limit))
        self._handed += len(items)
        return items
