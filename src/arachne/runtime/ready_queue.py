"""The ready queue: nodes with work, highest rank first, round-robin among equals."""

from __future__ import annotations

import bisect
from collections import deque
from typing import Final, Generic, Protocol, TypeVar

__all__ = ["NOT_QUEUED", "Queueable", "ReadyQueue"]

NOT_QUEUED: Final = -(1 << 62)
"""The ``ready_rank`` of a node that is not in the queue."""


class Queueable(Protocol):
    """What the queue needs of a node: the rank it is queued at (``NOT_QUEUED``: not queued)."""

    ready_rank: int


Q = TypeVar("Q", bound=Queueable)


class ReadyQueue(Generic[Q]):
    """Buckets of nodes by rank (an edge's priority, control edges far above the rest).

    A node is queued at most once per rank it was raised to; a node re-queued at a higher rank
    leaves a stale entry behind, which :meth:`pop` skips because the node's ``ready_rank`` no
    longer matches the bucket.
    """

    __slots__ = ("_buckets", "_ranks")

    def __init__(self) -> None:
        self._buckets: dict[int, deque[Q]] = {}
        self._ranks: list[int] = []  # ascending; popped from the end

    def add(self, node: Q, rank: int) -> None:
        """Queue ``node`` at ``rank`` unless it is already queued at that rank or higher."""
        if node.ready_rank >= rank:
            return
        node.ready_rank = rank
        bucket = self._buckets.get(rank)
        if bucket is None:
            bucket = self._buckets[rank] = deque()
            bisect.insort(self._ranks, rank)
        bucket.append(node)

    def pop(self) -> Q | None:
        """Remove and return the next node to activate, or ``None`` if none is ready."""
        for rank in reversed(self._ranks):
            bucket = self._buckets[rank]
            while bucket:
                node = bucket.popleft()
                if node.ready_rank == rank:
                    node.ready_rank = NOT_QUEUED
                    return node
        return None

    def __len__(self) -> int:
        """Return the number of entries, stale ones included (an upper bound)."""
        return sum(len(bucket) for bucket in self._buckets.values())
