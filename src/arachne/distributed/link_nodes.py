"""The two nodes a mesh link becomes in the graphs of the partitions it joins.

Where a link of the graph crosses from one partition to another, the producer's partition
gets a :class:`LinkOut` in the consumer's place and the consumer's partition a
:class:`LinkIn` in the producer's; both keep the link's capacity and overflow on their local
edge. ``LinkOut`` hands what it receives to its host's ``Outbound`` and holds its input while
the channel waits for credit, so the producer's edge fills and holds the producer back, as a
full local edge would. ``LinkIn`` takes frames as its output edge has room (the room it frees
is the credit its host grants), emits their items and watermarks in order, and finishes when
the link's last frame is taken. Both are ``keep_alive``: what releases them comes from
outside their partition's run (a grant, a frame), so an idle moment is not its end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arachne.model.message import EMPTY_HEADERS, Message
from arachne.model.node import Node

if TYPE_CHECKING:
    from arachne.distributed.host import Inbound, Outbound

__all__ = ["LinkIn", "LinkOut"]


class LinkOut(Node):
    """The sending end of a mesh link, as a sink node on the producer's host."""

    default_name = "link_out"
    keep_alive = True  # credit, from outside the run, releases its held input

    def __init__(
        self, outbound: Outbound, *, schema: object = None, name: str | None = None
    ) -> None:
        super().__init__(name=name, config={"channel": outbound.channel.channel})
        self._out = outbound
        self._schema = schema
        self._held = False

    def inputs(self) -> Mapping[str, Any]:
        """Return the single input port."""
        return {"in": self._schema}

    def on_start(self) -> None:
        """Be woken when credit returns to a channel that made the node hold its input."""
        self._out.on_room = self._room

    def _room(self) -> None:
        if self._held:  # (grants also come while it is not held, and after it finished)
            self._held = False
            self.hold_input(False)

    def on_message(self, port: str, msg: Message) -> None:
        """Send one message (the runtime hands batches to :meth:`on_batch`)."""
        self.on_batch(port, [msg])

    def on_batch(self, port: str, msgs: list[Message]) -> None:
        """Queue a batch for the link; hold the input while it waits for credit."""
        out = self._out
        out.push([m.payload if m.headers is EMPTY_HEADERS else m for m in msgs])
        if out.full and not self._held:
            self._held = True
            self.hold_input(True)

    def on_watermark(self, t: float) -> None:
        """Send the watermark after what was sent so far."""
        self._out.watermark(t)

    async def on_finish(self) -> None:
        """Send the end and wait until the other host has acknowledged all of it."""
        await self._out.finish()


class LinkIn(Node):
    """The receiving end of a mesh link, as a source node on the consumer's host."""

    default_name = "link_in"
    mode = "async"
    keep_alive = True  # it ends at the link's end, not when its partition looks idle
    forwards_watermarks = False  # it says the watermarks that crossed the link itself

    def __init__(
        self, inbound: Inbound, *, limit: int, schema: object = None, name: str | None = None
    ) -> None:
        super().__init__(name=name, config={"channel": inbound.channel.channel})
        self._in = inbound
        self._limit = limit
        self._schema = schema

    def outputs(self) -> Mapping[str, Any]:
        """Return the single output port."""
        return {"out": self._schema}

    async def on_tick(self) -> None:
        """Wait for items, emit them (and the watermark they reach); finish at the link's end.

        A frame that carried only a watermark is passed on and the wait goes on, so every
        tick emits something or ends the node.
        """
        emit = self.emit
        while True:
            taken = await self._in.take(self._limit)
            for item in taken.items:
                emit("out", item)
            if taken.watermark is not None:
                self.emit_watermark(taken.watermark)
            if taken.end:
                self.finish()
                return
            if taken.items:
                return
