"""SealedAcks: what a queue reader emitted, acknowledged only once a checkpoint covers it.

A node that leases from a ``DurableQueue`` under checkpoints must not ack an item the moment
it emits it: a crash before the next checkpoint would resume the run from before that item,
which the queue no longer has. So it notes each ``(id, token)`` it emits; a barrier *seals*
what came before it (saved in the checkpoint as the ids handled); the checkpoint's commit
acks exactly those. A resumed run removes the ids its checkpoint names (they were handled)
before it leases again. Shared by the ``queue-reader`` component and the ``DurableQueue``
primitive's egress, which compose one each.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["SealedAcks"]


class SealedAcks:
    """Leases emitted, sealed at barriers, acked at commits (see the module's text)."""

    __slots__ = ("emitted", "handled", "sealed", "sealing")

    def __init__(self) -> None:
        self.emitted: list[tuple[int, str]] = []  # (id, token) emitted since the last barrier
        self.sealed: list[tuple[int, str]] = []  # emitted before a barrier, not yet acked
        self.sealing = 0  # of those, how many the newest barrier covers (acked at its commit)
        self.handled: list[int] = []  # ids a resumed run's checkpoint covers: removed at start

    @property
    def open(self) -> bool:
        """Whether anything emitted is not yet acked."""
        return bool(self.emitted or self.sealed)

    def add(self, leases: Iterable[tuple[int, str]]) -> None:
        """Note leases just emitted: ``(id, token)`` each."""
        self.emitted.extend(leases)

    def snapshot(self) -> dict[str, list[int]]:
        """Seal what was emitted before this barrier; return the ids, as the checkpoint keeps."""
        self.sealed.extend(self.emitted)
        self.emitted = []
        self.sealing = len(self.sealed)
        return {"handled": [item_id for item_id, _ in self.sealed]}

    def restore(self, state: Any, what: str) -> None:
        """Take the ids a checkpoint covered; ``ValueError`` naming ``what`` if malformed."""
        handled = state.get("handled") if isinstance(state, dict) else None
        if not isinstance(handled, list) or not all(isinstance(i, int) for i in handled):
            raise ValueError(f"a saved {what} state is {{'handled': [ids]}}, got {state!r}")
        self.handled = list(handled)

    def take_handled(self) -> list[int]:
        """Return (and forget) the ids a resumed run must remove before it leases again."""
        handled, self.handled = self.handled, []
        return handled

    def committed(self) -> list[str]:
        """Return the tokens the checkpoint that just committed covers: to ack now."""
        covered, self.sealed = self.sealed[: self.sealing], self.sealed[self.sealing :]
        self.sealing = 0
        return [token for _, token in covered]
