"""DeadLetters: a sink that keeps the records of failed messages, for inspection and replay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from arachne.model.error_record import ErrorRecord
from arachne.model.node import Node
from arachne.model.port import Input

if TYPE_CHECKING:
    from arachne.model.message import Message

__all__ = ["DEFAULT_LIMIT", "DeadLetters"]


DEFAULT_LIMIT: Final = 10_000
"""Records a ``DeadLetters`` keeps by default (the oldest go first past it)."""


class DeadLetters(Node):
    """Connect a node's ``error`` port here; every failed message's record is kept in order.

    ``limit`` bounds how many are kept (the oldest are dropped and counted in ``overflowed``;
    default ``DEFAULT_LIMIT``, ``None`` keeps every one); ``drain()`` hands them over for
    ``Execution.replay``.
    """

    inp = Input(ErrorRecord, name="in")

    def __init__(self, *, limit: int | None = DEFAULT_LIMIT, name: str | None = None) -> None:
        super().__init__(name=name)
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be >= 1 or None, got {limit}")
        self.limit = limit
        self.records: list[ErrorRecord] = []
        self.overflowed = 0

    def on_message(self, port: str, msg: Message) -> None:
        """Keep the record."""
        self.records.append(msg.payload)
        if self.limit is not None and len(self.records) > self.limit:
            del self.records[0]
            self.overflowed += 1

    def drain(self) -> list[ErrorRecord]:
        """Return the kept records and forget them."""
        records, self.records = self.records, []
        return records
