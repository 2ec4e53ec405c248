from __future__ import annotations

from dataclasses import dataclass

from arachne.runtime.ready_queue import NOT_QUEUED, ReadyQueue


@dataclass(eq=False)
class Node:
    name: str
    ready_rank: int = NOT_QUEUED


def test_higher_ranks_first_round_robin_among_equals_and_stale_entries_skipped() -> None:
    ready: ReadyQueue[Node] = ReadyQueue()
    a, b, c = Node("a"), Node("b"), Node("c")
    ready.add(a, 0)
    ready.add(b, 0)
    ready.add(c, 5)
    ready.add(a, 7)  # raised: its rank-0 entry goes stale
    ready.add(a, 1)  # lower than its queued rank: ignored
    assert len(ready) == 4
    assert [ready.pop(), ready.pop(), ready.pop()] == [a, c, b]
    assert ready.pop() is None
    assert a.ready_rank == b.ready_rank == c.ready_rank == NOT_QUEUED


def test_a_node_is_queued_once_per_rank() -> None:
    ready: ReadyQueue[Node] = ReadyQueue()
    a = Node("a")
    for _ in range(3):
        ready.add(a, 2)
    assert ready.pop() is a
    assert ready.pop() is None
