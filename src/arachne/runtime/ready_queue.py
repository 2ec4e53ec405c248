"""The ready queue: nodes with work, highest rank first, round-robin among equals."""

from __future__ import annotations

import bisect
from collections import deque
from typing import TYPE_CHECKING, Final, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    import random
    from collections.abc import Callable

__all__ = ["NOT_QUEUED", "Queueable", "ReadyQueue", "ShuffledReadyQueue"]

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


class ShuffledReadyQueue(ReadyQueue[Q]):
    """A ready queue whose ties ``rng`` breaks: any node of the highest rank may run next.

    For simulation (``runtime.simulation``): a seed picks one of the orders the scheduler
    could have run equal-rank nodes in, where the plain queue always takes the oldest.
    ``popped`` is told each node it hands out (the simulation's trace of activations).
    """

    __slots__ = ("_popped", "_rng")

    def __init__(self, rng: random.Random, popped: Callable[[Q], None] | None = None) -> None:
        super().__init__()
        self._rng = rng
        self._popped = popped

    def pop(self) -> Q | None:
        """Remove and return a node of the highest rank, chosen by the seed, or ``None``."""
        for rank in reversed(self._ranks):
            bucket = self._buckets[rank]
            live = [node for node in bucket if node.ready_rank == rank]
            if not live:
                bucket.clear()
                continue
            node = live[self._rng.randrange(len(live))] if len(live) > 1 else live[0]
            bucket.remove(node)
            node.ready_rank = NOT_QUEUED
            if self._popped is not None:
                self._popped(node)
            return node
        return None
