"""A host's end of its mesh links: the channels it sends and receives, driven on its loop.

A :class:`MeshHost` is one partition's connection to the others. It owns the sending end
(:class:`Outbound`) of every link leaving the partition and the receiving end
(:class:`Inbound`) of every link entering it, hands the frames they cut to its
``Transport``, routes the frames that arrive to their channel, and keeps the timers the
protocol needs (a partial frame's linger, retransmission, backlog announcements). The link
nodes (``arachne.distributed.link_nodes``) are what the graph sees of it: a producer's edge
ends in an ``Outbound``, a consumer's edge starts at an ``Inbound``.

Grants are coalesced: whatever arrives or is taken in one turn of the loop is answered with
one ``CREDIT`` frame per channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from arachne.distributed.channels import LinkOptions, ReceiveChannel, SendChannel, Taken
from arachne.distributed.frames import ANNOUNCE, CREDIT, DATA, Frame

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop, Future, TimerHandle

__all__ = ["Inbound", "MeshHost", "Outbound", "Transport"]


class Transport(Protocol):
    """Carries frames between hosts: in memory, over TCP, or over Ray."""

    def attach(self, host: str, deliver: Callable[[str, Frame], None]) -> None:
        """Have frames for ``host`` handed to ``deliver(source_host, frame)`` on its loop."""
        ...

    def send(self, source: str, dest: str, frame: Frame) -> None:
        """Send ``frame`` from ``source`` to ``dest`` (it may be lost, late or doubled)."""
        ...


class Outbound:
    """The sending end of one link on its producer's host."""

    __slots__ = ("_closed", "channel", "dest", "host", "on_room")

    def __init__(self, host: MeshHost, channel: SendChannel, dest: str) -> None:
        self.host = host
        self.channel = channel
        self.dest = dest
        self.on_room: Callable[[], None] | None = None  # called when a full channel has room
        self._closed: Future[None] | None = None

    def push(self, items: list[Any]) -> None:
        """Queue ``items`` for the link and send what credit allows."""
        self.channel.push(items)
        self.host.flush(self)

    def watermark(self, t: float) -> None:
        """Send a watermark after what was pushed so far (a control event: it goes at once)."""
        self.channel.watermark(t)
        self.host.flush(self)

    @property
    def full(self) -> bool:
        """Whether the producer should wait for credit."""
        return self.channel.full

    async def finish(self) -> None:
        """End the link and wait until the receiver has acknowledged everything."""
        self.channel.finish()
        if self._closed is None:
            self._closed = self.host.loop.create_future()
        self.host.flush(self)
        self.settled()
        await self._closed

    def settled(self) -> None:
        """Wake the producer, complete ``finish``, as far as the channel allows (after a grant)."""
        channel = self.channel
        if self.on_room is not None and not channel.full:
            self.on_room()
        if channel.closed and self._closed is not None and not self._closed.done():
            self._closed.set_result(None)


class Inbound:
    """The receiving end of one link on its consumer's host."""

    __slots__ = ("_waiter", "channel", "host", "source")

    def __init__(self, host: MeshHost, channel: ReceiveChannel, source: str) -> None:
        self.host = host
        self.channel = channel
        self.source = source
        self._waiter: Future[None] | None = None

    async def take(self, limit: int) -> Taken:
        """Wait for items (or the end), then take up to ``limit`` of them, granting credit."""
        channel = self.channel
        while not channel.has_items:
            waiter = self._waiter = self.host.loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        before = channel.consumed
        taken = channel.take(limit)
        if channel.consumed != before:
            self.host.reply_soon(self)
        return taken

    def arrived(self) -> None:
        """Wake a waiting consumer (the host calls this when frames arrived)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done() and self.channel.has_items:
            waiter.set_result(None)


class MeshHost:
    """One host's mesh links, on its event loop (see the module's docstring)."""

    def __init__(
        self,
        name: str,
        transport: Transport,
        *,
        options: LinkOptions | None = None,
        epoch: int = 0,
    ) -> None:
        self.name = name
        self.transport = transport
        self.options = options if options is not None else LinkOptions()
        self.epoch = epoch
        self.outbound: dict[str, Outbound] = {}
        self.inbound: dict[str, Inbound] = {}
        self.unknown = 0  # frames for a channel this host does not have
        self._loop: AbstractEventLoop | None = None
        self._replies: dict[str, Inbound] = {}
        self._linger: TimerHandle | None = None
        self._resend: TimerHandle | None = None
        transport.attach(name, self.deliver)

    @property
    def loop(self) -> AbstractEventLoop:
        """The loop the host runs on (the running one, from its first use)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def sender(self, channel: str, dest: str) -> Outbound:
        """Return the sending end of ``channel`` towards host ``dest`` (made on first use)."""
        out = self.outbound.get(channel)
        if out is None:
            ch = SendChannel(channel, self.options, epoch=self.epoch)
            out = self.outbound[channel] = Outbound(self, ch, dest)
        return out

    def receiver(self, channel: str, source: str) -> Inbound:
        """Return the receiving end of ``channel`` from host ``source`` (made on first use)."""
        inb = self.inbound.get(channel)
        if inb is None:
            ch = ReceiveChannel(channel, self.options, epoch=self.epoch)
            inb = self.inbound[channel] = Inbound(self, ch, source)
        return inb

    # -- sending -----------------------------------------------------------------------------

    def flush(self, out: Outbound, *, force: bool = False) -> None:
        """Send the frames ``out`` may send now; arm the linger and retransmission timers."""
        loop = self.loop
        frames = out.channel.cut(loop.time(), force=force)
        send, name, dest = self.transport.send, self.name, out.dest
        for frame in frames:
            send(name, dest, frame)
        if out.channel.has_partial and self._linger is None:
            self._linger = loop.call_later(self.options.linger, self._lingered)
        if out.channel.waiting and self._resend is None:
            self._resend = loop.call_later(self.options.retransmit, self._retransmit)

    def _lingered(self) -> None:
        self._linger = None
        for out in self.outbound.values():
            if out.channel.has_partial:
                self.flush(out, force=True)

    def _retransmit(self) -> None:
        self._resend = None
        now, send, name = self.loop.time(), self.transport.send, self.name
        waiting = False
        for out in self.outbound.values():
            for frame in out.channel.due(now):
                send(name, out.dest, frame)
            waiting = waiting or out.channel.waiting
        if waiting:
            self._resend = self.loop.call_later(self.options.retransmit, self._retransmit)

    # -- receiving ---------------------------------------------------------------------------

    def deliver(self, source: str, frame: Frame) -> None:
        """Route a frame that arrived from host ``source`` to its channel."""
        if frame.kind == CREDIT:
            out = self.outbound.get(frame.channel)
            if out is None:
                self.unknown += 1
                return
            out.channel.on_credit(frame)
            self.flush(out)
            out.settled()
            return
        inb = self.inbound.get(frame.channel)
        if inb is None:
            self.unknown += 1
            return
        if frame.kind == DATA and inb.channel.on_data(frame):
            inb.arrived()
        elif frame.kind not in (DATA, ANNOUNCE):
            self.unknown += 1
            return
        self.reply_soon(inb)  # an ack for new data, the grant again for a duplicate or announce

    def reply_soon(self, inb: Inbound) -> None:
        """Send ``inb``'s grant at the end of this turn of the loop (one per channel)."""
        if not self._replies:
            self.loop.call_soon(self._reply)
        self._replies[inb.channel.channel] = inb

    def send_replies(self) -> None:
        """Send the grants waiting for the end of this turn now (before the host closes)."""
        self._reply()

    def _reply(self) -> None:
        replies, self._replies = self._replies, {}
        send, name = self.transport.send, self.name
        for inb in replies.values():
            send(name, inb.source, inb.channel.grant())

    # -- what the query plane reads ----------------------------------------------------------

    def links(self) -> list[dict[str, Any]]:
        """Return each channel's state: role, peer, sequence numbers, credit, counters."""
        rows: list[dict[str, Any]] = []
        for channel_id, out in self.outbound.items():
            ch = out.channel
            rows.append(
                {
                    "channel": channel_id,
                    "role": "send",
                    "peer": out.dest,
                    "epoch": ch.epoch,
                    "sent": ch.next_seq - 1,
                    "acked": ch.acked,
                    "credit": ch.credit,
                    "in_flight": ch.in_flight,
                    "backlog": len(ch.pending),
                    "resent": ch.resent,
                    "announced": ch.announced,
                    "stale": ch.stale,
                    "closed": ch.closed,
                }
            )
        for channel_id, inb in self.inbound.items():
            rc = inb.channel
            rows.append(
                {
                    "channel": channel_id,
                    "role": "receive",
                    "peer": inb.source,
                    "epoch": rc.epoch,
                    "received": rc.received,
                    "consumed": rc.consumed,
                    "credit": rc.credit,
                    "unconsumed": rc.unconsumed,
                    "duplicates": rc.duplicates,
                    "stale": rc.stale,
                    "ended": rc.ended,
                }
            )
        return rows
