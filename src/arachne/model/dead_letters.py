"""DeadLetters: a sink that keeps the records of failed messages, for inspection and replay."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from arachne.model.error_record import ErrorRecord
from arachne.model.node import Node
from arachne.model.port import Input

if TYPE_CHECKING:
    from arachne.model.message import Message

__all__ = ["DEFAULT_LIMIT", "DeadLetters", "KeptLetters"]


DEFAULT_LIMIT: Final = 10_000
"""Records a ``DeadLetters`` keeps by default (the oldest go first past it)."""


@dataclass(frozen=True, slots=True)
class KeptLetters:
    """What a ``DeadLetters`` keeps at one instant: its records, oldest first, and their numbers.

    ``seqs[i]`` is the number ``records[i]`` got on arrival. Frozen so a thread serving a
    request can hold it while the sink keeps taking records.
    """

    seqs: tuple[int, ...]
    records: tuple[ErrorRecord, ...]
    overflowed: int

    def __len__(self) -> int:
        return len(self.records)


class DeadLetters(Node):
    """Connect a node's ``error`` port here; every failed message's record is kept in order.

    ``limit`` bounds how many are kept (the oldest are dropped and counted in ``overflowed``;
    default ``DEFAULT_LIMIT``, ``None`` keeps every one); ``drain()`` hands them over for
    ``Execution.replay``. Each record is numbered on arrival (1, 2, ...; ``seqs`` runs beside
    ``records``), so :meth:`remove` can take exactly the ones replayed while new ones arrive.
    Change the two lists only through these methods. ``Execution.dead_letters`` and
    ``remove_dead_letters`` read and change them on the execution's loop, so the node runs
    there: keep its mode ``inline`` (the default).
    """

    inp = Input(ErrorRecord, name="in")

    def __init__(self, *, limit: int | None = DEFAULT_LIMIT, name: str | None = None) -> None:
        super().__init__(name=name, config={"limit": limit})
        self.limit = _checked(limit)
        self.records: list[ErrorRecord] = []
        self.seqs: list[int] = []
        self.received = 0  # records ever taken: the newest one's number
        self.overflowed = 0

    def on_message(self, port: str, msg: Message) -> None:
        """Keep the record, numbered."""
        self.received += 1
        self.records.append(msg.payload)
        self.seqs.append(self.received)
        if self.limit is not None and len(self.records) > self.limit:
            self._trim()

    def on_config(self, config: Mapping[str, Any]) -> None:
        """Take a new ``limit`` while running; past it the oldest go, counted in ``overflowed``."""
        self.limit = _checked(config.get("limit", DEFAULT_LIMIT))
        self._trim()

    def drain(self) -> list[ErrorRecord]:
        """Return the kept records and forget them."""
        records, self.records = self.records, []
        self.seqs = []
        return records

    def kept(self) -> KeptLetters:
        """Return the kept records with their numbers, as a frozen snapshot."""
        return KeptLetters(tuple(self.seqs), tuple(self.records), self.overflowed)

    def remove(self, seqs: Collection[int]) -> int:
        """Forget the records numbered ``seqs`` (a set, best); return how many of them it kept.

        Numbers it does not keep (dropped past ``limit``, removed or drained already) pass.
        """
        keep = [i for i, seq in enumerate(self.seqs) if seq not in seqs]
        removed = len(self.seqs) - len(keep)
        if removed:
            self.records[:] = [self.records[i] for i in keep]
            self.seqs[:] = [self.seqs[i] for i in keep]
        return removed

    def _trim(self) -> None:
        excess = len(self.records) - self.limit if self.limit is not None else 0
        if excess > 0:
            del self.records[:excess]
            del self.seqs[:excess]
            self.overflowed += excess


def _checked(limit: object) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit!r}")
    return limit
