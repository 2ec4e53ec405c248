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

In a checkpointed run, ``LinkIn`` saves how many items it handed on (and, once the
checkpoint commits, tells the sender it may forget them); ``LinkOut`` saves how many it
pushed and the items its receiver had not taken yet, so a restarted producer can send them
again. Together with the channel's positions that makes the link exactly-once across a
restart of either end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arachne.distributed.frames import pack_items, unpack_items
from arachne.model.message import EMPTY_HEADERS, Message
from arachne.model.node import Node

if TYPE_CHECKING:
    from arachne.distributed.host import Inbound, Outbound

__all__ = ["LinkIn", "LinkOut"]


class LinkOut(Node):
    """The sending end of a mesh link, as a sink node on the producer's host."""

    default_name = "link_out"
    keep_alive = True  # credit, from outside the run, releases its held input
    raw_batches = True  # it forwards what it takes: bare payloads need no Message around them
    delivery = "exactly-once"  # (a restarted receiver is sent again what it lost, once)

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

    def on_batch(self, port: str, msgs: list[Any]) -> None:
        """Queue a batch (bare payloads, or messages with headers) for the link.

        The input is held while the channel waits for credit.
        """
        out = self._out  # (push raises the error that broke the link: it fails the node)
        out.push(
            [m.payload if type(m) is Message and m.headers is EMPTY_HEADERS else m for m in msgs]
        )
        if out.full and not self._held:
            self._held = True
            self.hold_input(True)

    def on_watermark(self, t: float) -> None:
        """Send the watermark after what was sent so far."""
        self._out.watermark(t)

    async def on_finish(self) -> None:
        """Send the end and wait until the other host has acknowledged all of it."""
        await self._out.finish()

    def snapshot(self) -> dict[str, Any]:
        """Return what a restarted producer needs to send again or to serve.

        How many items were pushed, those the receiver had not taken yet, and the payloads
        lent for handles it may still hold.
        """
        pushed, start, items, marks = self._out.channel.kept()
        kept = pack_items(items)
        # (a node saved finished is not finished again: its channel must end on its own)
        ending = self._out.channel.ending
        state = {
            "pushed": pushed,
            "from": start,
            "items": kept,
            "ending": ending,
            "marks": [list(mark) for mark in marks],
        }
        # Payloads lent for handles the receiver took (up to `from`) and has not released:
        # a restarted producer still answers fetches for them.
        lent = [[p, v] for p, v in sorted(self._out.channel.lender.lent.items()) if p <= start]
        if lent:
            state["lent"] = pack_items(lent)
        return state

    def restore(self, state: Any) -> None:
        """Take back what :meth:`snapshot` saved: those items are sent again if asked for."""
        if not isinstance(state, dict) or not {"pushed", "from", "items"} <= set(state):
            raise ValueError(f"{self.name()}: a saved link state needs pushed, from and items")
        items = unpack_items(state["items"])
        channel = self._out.channel
        marks = [(int(at), float(t)) for at, t in state.get("marks", [])]
        channel.restore(int(state["pushed"]), int(state["from"]), items, marks)
        if state.get("lent"):
            for position, payload in unpack_items(state["lent"]):
                channel.lender.keep(int(position), payload)
        if state.get("ending"):
            channel.finish()


class LinkIn(Node):
    """The receiving end of a mesh link, as a source node on the consumer's host.

    A live pull source: the runtime pulls items as its output edge has room and pushes them
    on as one batch; a pull that finds nothing leaves it idle until a frame arrives and wakes
    it. A watermark a frame carried goes out after that frame's items (see :meth:`pull`).
    """

    default_name = "link_in"
    keep_alive = True  # it ends at the link's end, not when its partition looks idle
    forwards_watermarks = False  # it says the watermarks that crossed the link itself
    live = True  # (a pull source that a short pull does not exhaust)
    port = "out"

    def __init__(self, inbound: Inbound, *, schema: object = None, name: str | None = None) -> None:
        super().__init__(name=name, config={"channel": inbound.channel.channel})
        self._in = inbound
        self._schema = schema
        self._watermark: float | None = None  # reached by items already pushed on
        self._ending = False  # the end came with a watermark still to say
        self._saved: int | None = None  # the position the checkpoint in flight saved

    def outputs(self) -> Mapping[str, Any]:
        """Return the single output port."""
        return {"out": self._schema}

    def as_pull_source(self) -> LinkIn:
        """Return itself: the runtime pulls batches with :meth:`pull`."""
        return self

    def on_start(self) -> None:
        """Be woken when frames arrive."""
        self._in.on_arrival = self.wake

    def snapshot(self) -> dict[str, Any]:
        """Return how many items the link handed on, and whether its end (the position)."""
        channel = self._in.channel
        self._saved = channel.position
        return {"delivered": channel.delivered, "ended": channel.ended, "mark": self._watermark}

    def restore(self, state: Any) -> None:
        """Go on after the items a checkpoint had been handed: the sender sends the rest."""
        if not isinstance(state, dict) or type(state.get("delivered")) is not int:
            raise ValueError(f"{self.name()}: a saved link state needs delivered (an int)")
        self._in.channel.restore(state["delivered"], ended=bool(state.get("ended", False)))
        mark = state.get("mark")
        self._watermark = None if mark is None else float(mark)  # (said at the first pull)

    def on_checkpoint(self, checkpoint: int) -> None:
        """Tell the sender that the committed checkpoint covers what it saved."""
        if self._saved is not None:
            self._in.host.made_durable(self._in, self._saved)
            self._saved = None

    def pull(self, limit: int) -> list[Any]:
        """Return up to ``limit`` items that arrived, in order; finish at the link's end.

        A watermark goes on at once when no item came with it, else at the next pull (which
        follows at once while the output has room), after those items; at the end, the
        last watermark goes before the node finishes.
        """
        if self._watermark is not None:
            self.emit_watermark(self._watermark)
            self._watermark = None
        if self._ending or (self._in.channel.ended and not self._in.channel.has_items):
            # (the end was taken before: at the last pull, or before the checkpoint resumed)
            self._in.on_arrival = None
            self.finish()
            return []
        taken = self._in.take_now(limit)
        while not taken.items and not taken.end and taken.watermark is not None:
            self.emit_watermark(taken.watermark)  # (nothing came with it: it goes at once)
            taken = self._in.take_now(limit)
        if taken.watermark is not None:
            self._watermark = taken.watermark  # after these items: at the next pull
        if taken.end:
            self._in.on_arrival = None
            if self._watermark is None:
                self.finish()
            else:
                self._ending = True
        return taken.items
