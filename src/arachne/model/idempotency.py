"""Idempotency keys: the same key for the same message, however often a recovery replays it.

An at-least-once sink (an HTTP call, a database insert) may see again, after a recovery, what
it saw since the last checkpoint. A run replays its sources from their saved positions, and
the graph hands a sink its messages in the same order as before, so a sink's n-th message is
the same message each time: ``IdempotencyKeys`` numbers them, saves the count with each
checkpoint and takes it back on resume, so a key sent to an API that deduplicates by it (an
``Idempotency-Key`` header, a unique column) makes the effect happen once.

    class Charge(Node):
        inp = Input(dict, name="in")
        delivery = "at-least-once"

        def __init__(self):
            self.keys = IdempotencyKeys(self)

        def on_message(self, port, msg):
            post(msg.payload, idempotency_key=self.keys.next())

        def snapshot(self):
            return self.keys.snapshot()

        def restore(self, state):
            self.keys.restore(state)

Keys are ``"<run or graph>/<node id>/<n>"``. A graph whose order into the sink depends on
timing (a fan-in of independent sources) gives the same messages different numbers on a
replay: key on a field of the message instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arachne.model.node import Node

__all__ = ["IdempotencyKeys"]


class IdempotencyKeys:
    """Numbers the messages ``node`` handles, so a replayed one gets its key again."""

    __slots__ = ("count", "node")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.count = 0

    def next(self) -> str:
        """Return the key of the message being handled (call it once per message)."""
        self.count += 1
        context = self.node.context
        scope = context.graph_name or "graph"
        return f"{scope}/{context.node_id}/{self.count}"

    def snapshot(self) -> dict[str, int]:
        """Return the count to save with a checkpoint."""
        return {"keys": self.count}

    def restore(self, state: Any) -> None:
        """Take back a saved count (``state`` from :meth:`snapshot`)."""
        count = state.get("keys") if isinstance(state, dict) else None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"saved idempotency keys are {{'keys': <int >= 0>}}, got {state!r}")
        self.count = count
