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

Between :meth:`MeshHost.start` and :meth:`MeshHost.close` a host sends a heartbeat to each
peer four times per ``heartbeat`` and notes when it last heard from each. A peer silent for
three of those (so it is reported within one ``heartbeat`` of its last frame), or whose
connection the transport saw break, is ``unavailable`` from the moment it was last heard;
its links report the ``degraded-link`` taint until it is heard again. A host that closes
says goodbye, and its peers report it ``left``, not unavailable.

A host's ``epoch`` is its incarnation: 0, and one more each time its partition restarts
from its checkpoint. Heartbeats carry it; a host that hears a peer's incarnation change
starts a new epoch on every channel it shares with that peer (``channels.channel_epoch``),
and the receiver's first grant of the epoch says where its frames start again. A host
``checkpointed`` (its partition's run keeps checkpoints, as all of a cluster's do then)
grants durability only as its checkpoints commit, so its senders keep what it may ask for
again; its links then preserve durability and replay.

With ``LinkOptions.lazy_bytes`` a host also lends large payloads (``payloads``): it answers
``FETCH`` frames for what its channels lent, asks again for what its own consumers open
until the answer comes, and, once its run has completed, stays until every payload it lent
is released or its receiver has left.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Protocol

from arachne.distributed.channels import (
    LinkOptions,
    ReceiveChannel,
    SendChannel,
    Taken,
    channel_epoch,
)
from arachne.distributed.frames import (
    ANNOUNCE,
    CREDIT,
    DATA,
    FETCH,
    HEARTBEAT,
    PAYLOAD,
    Frame,
    FrameError,
)
from arachne.distributed.payloads import Borrower

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop, Future, TimerHandle

__all__ = [
    "BEATS",
    "DEGRADED",
    "PAYLOADS_NOT_DURABLE",
    "SILENT_BEATS",
    "Inbound",
    "LinkCapabilities",
    "MeshHost",
    "Outbound",
    "Peer",
    "Transport",
]

BEATS: Final = 4
"""Heartbeats a host sends each peer per ``heartbeat`` seconds."""

SILENT_BEATS: Final = 3
"""Heartbeats' worth of silence after which a peer is reported unavailable."""

DEGRADED = "degraded-link"
"""The taint a link carries while the host at its other end is unavailable."""

PAYLOADS_NOT_DURABLE = "payloads-not-durable"
"""The taint of a link that leaves large payloads with their sender (``lazy_bytes``): one not
opened before its sender dies is lost with it."""


class Transport(Protocol):
    """Carries frames between hosts: in memory, over TCP, or over Ray."""

    def attach(
        self,
        host: str,
        deliver: Callable[[str, Frame], None],
        lost: Callable[[str, str], None] | None = None,
    ) -> None:
        """Have frames for ``host`` handed to ``deliver(source_host, frame)`` on its loop.

        ``lost(peer, reason)`` is called when the transport sees a peer's connection break.
        """
        ...

    def send(self, source: str, dest: str, frame: Frame) -> None:
        """Send ``frame`` from ``source`` to ``dest`` (it may be lost, late or doubled)."""
        ...


@dataclass(frozen=True, slots=True)
class LinkCapabilities:
    """What a transport's links preserve; each one they do not taints the routes they carry.

    The link protocol keeps ``order`` (sequence numbers) on every transport. ``durability``:
    frames survive a host's crash (none do yet: what is in flight dies with the host);
    ``replay``: a restarted host can be sent again what it had taken; ``trust``: every peer is
    who it says it is (a shared process, a token-checked connection, a Ray cluster).
    """

    order: bool = True
    durability: bool = False
    replay: bool = False
    trust: bool = True

    def labels(self) -> tuple[str, ...]:
        """Return the taint labels for what is not preserved (``not-durable``, ...)."""
        missing = {
            "unordered": not self.order,
            "not-durable": not self.durability,
            "no-replay": not self.replay,
            "untrusted": not self.trust,
        }
        return tuple(label for label, lacking in missing.items() if lacking)


@dataclass(slots=True)
class Peer:
    """What a host knows of another: when it last heard from it, and since when it is not."""

    name: str
    last_heard: float | None = None
    unavailable_since: float | None = None
    detected: float | None = None  # when this host found it unavailable
    reason: str = ""
    left: bool = False

    @property
    def state(self) -> str:
        """``available``, ``unavailable`` or ``left`` (it said goodbye)."""
        if self.left:
            return "left"
        return "unavailable" if self.unavailable_since is not None else "available"

    def row(self, shift: float = 0.0) -> dict[str, Any]:
        """Return the peer as the query plane shows it, its times moved by ``shift``."""
        times = {
            "since": self.unavailable_since,
            "detected": self.detected,
            "last_heard": self.last_heard,
        }
        moved = {k: None if t is None else t + shift for k, t in times.items()}
        return {"state": self.state, **moved, "reason": self.reason}


class Outbound:
    """The sending end of one link on its producer's host."""

    __slots__ = ("_closed", "channel", "dest", "error", "host", "on_room")

    def __init__(self, host: MeshHost, channel: SendChannel, dest: str) -> None:
        self.host = host
        self.channel = channel
        self.dest = dest
        self.on_room: Callable[[], None] | None = None  # called when a full channel has room
        self._closed: Future[None] | None = None
        self.error: FrameError | None = None  # what broke the link (an item that cannot go)

    def fail(self, error: FrameError) -> None:
        """Break the link: its producer and ``finish`` get ``error`` (nothing more is sent)."""
        if self.error is not None:
            return
        self.error = error
        if self._closed is not None and not self._closed.done():
            self._closed.set_exception(error)
        if self.on_room is not None:
            self.on_room()  # (a held producer takes its next batch, and fails on it)
        self.host.check_settled()

    def push(self, items: list[Any]) -> None:
        """Queue ``items`` for the link and send what credit allows (``FrameError``: broken)."""
        if self.error is not None:
            raise self.error
        self.channel.push(items)
        self.host.flush(self)
        if self.error is not None:  # (the flush found an item that cannot go)
            raise self.error

    def watermark(self, t: float) -> None:
        """Send a watermark after what was pushed so far (a control event: it goes at once)."""
        if self.error is not None:
            raise self.error
        self.channel.watermark(t)
        self.host.flush(self)
        if self.error is not None:
            raise self.error

    @property
    def full(self) -> bool:
        """Whether the producer should wait for credit (never once the link is broken)."""
        return self.error is None and self.channel.full

    async def finish(self) -> None:
        """End the link and wait until everything, the end included, has arrived.

        (What the receiver may still ask for again is the host's to keep: ``settled``.)
        """
        if self.error is not None:
            raise self.error
        self.channel.finish()
        if self._closed is None:
            self._closed = self.host.loop.create_future()
        self.host.flush(self)
        self.settled()
        await self._closed

    def settled(self) -> None:
        """Wake the producer, complete ``finish``, as far as the channel allows (after a grant)."""
        channel = self.channel
        if self.on_room is not None and (not channel.full or self.error is not None):
            self.on_room()
        if channel.end_acked and self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        self.host.check_settled()


class Inbound:
    """The receiving end of one link on its consumer's host."""

    __slots__ = ("_waiter", "borrower", "channel", "host", "on_arrival", "source")

    def __init__(self, host: MeshHost, channel: ReceiveChannel, source: str) -> None:
        self.host = host
        self.channel = channel
        self.source = source
        self._waiter: Future[None] | None = None
        self.on_arrival: Callable[[], None] | None = None  # called when frames arrive
        self.borrower: Borrower | None = None  # (with lazy_bytes: the handles it hands on)

    def take_now(self, limit: int) -> Taken:
        """Take up to ``limit`` items that are here (maybe none), granting the credit freed."""
        channel = self.channel
        before = channel.consumed
        taken = channel.take(limit)
        if channel.consumed != before:
            self.host.reply_soon(self)
        if self.borrower is not None and taken.items:
            taken.items = self.borrower.bind(taken.items)
        return taken

    async def take(self, limit: int) -> Taken:
        """Wait for items (or the end), then take up to ``limit`` of them, granting credit."""
        channel = self.channel
        while not channel.has_items:
            waiter = self._waiter = self.host.loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self.take_now(limit)

    def arrived(self) -> None:
        """Wake a waiting consumer (the host calls this when frames arrived)."""
        if not self.channel.has_items:
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.on_arrival is not None:
            self.on_arrival()


class MeshHost:
    """One host's mesh links, on its event loop (see the module's docstring)."""

    def __init__(
        self,
        name: str,
        transport: Transport,
        *,
        options: LinkOptions | None = None,
        epoch: int = 0,
        checkpointed: bool = False,
    ) -> None:
        self.name = name
        self.transport = transport
        self.options = options if options is not None else LinkOptions()
        self.epoch = epoch
        self.checkpointed = checkpointed
        self.incarnations: dict[str, int] = {}  # each peer's, as last heard (0 until then)
        self.outbound: dict[str, Outbound] = {}
        self.inbound: dict[str, Inbound] = {}
        self.unknown = 0  # frames for a channel this host does not have
        self._loop: AbstractEventLoop | None = None
        self._replies: dict[str, Inbound] = {}
        self._linger: TimerHandle | None = None
        self._resend: TimerHandle | None = None
        self._beat: TimerHandle | None = None
        self._settling: Future[None] | None = None
        self._fetching: TimerHandle | None = None
        self._gone: set[str] = set()  # peers taken as gone for good (``gone``)
        self._shut = False  # (closed: nothing is waited for any more)
        self.peers: dict[str, Peer] = {}
        self._started: float | None = None
        capabilities = getattr(transport, "capabilities", LinkCapabilities())
        if checkpointed:
            capabilities = replace(capabilities, durability=True, replay=True)
        self.capabilities: LinkCapabilities = capabilities
        self.store = getattr(transport, "object_store", None)  # (Ray's: where payloads go)
        watch = getattr(transport, "watch_broken", None)
        if watch is not None:  # (one that finds out later a frame cannot go)
            watch(name, self.broken)
        transport.attach(name, self.deliver, self.lost)

    @property
    def loop(self) -> AbstractEventLoop:
        """The loop the host runs on (the running one, from its first use)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def reincarnate(self, incarnation: int) -> None:
        """Run as ``incarnation`` (before :meth:`start`).

        A partition resumed from its store learns its number only once its run is open,
        after its channels were made.
        """
        if self._beat is not None:
            raise RuntimeError(f"host {self.name!r} has started; its incarnation is fixed")
        self.epoch = incarnation
        for out in self.outbound.values():
            out.channel = SendChannel(
                out.channel.channel,
                self.options,
                epoch=channel_epoch(incarnation, self.incarnations.get(out.dest, 0)),
                based=incarnation == 0,
            )
            out.channel.lender.store = self.store
        for inb in self.inbound.values():
            inb.channel.epoch = channel_epoch(self.incarnations.get(inb.source, 0), incarnation)

    def sender(self, channel: str, dest: str) -> Outbound:
        """Return the sending end of ``channel`` towards host ``dest`` (made on first use)."""
        out = self.outbound.get(channel)
        if out is None:
            epoch = channel_epoch(self.epoch, self.incarnations.get(dest, 0))
            # (a restarted host learns where each channel starts from its receiver's grant)
            ch = SendChannel(channel, self.options, epoch=epoch, based=self.epoch == 0)
            ch.lender.store = self.store
            out = self.outbound[channel] = Outbound(self, ch, dest)
            self.peers.setdefault(dest, Peer(dest))
        return out

    def receiver(self, channel: str, source: str) -> Inbound:
        """Return the receiving end of ``channel`` from host ``source`` (made on first use)."""
        inb = self.inbound.get(channel)
        if inb is None:
            epoch = channel_epoch(self.incarnations.get(source, 0), self.epoch)
            ch = ReceiveChannel(channel, self.options, epoch=epoch, checkpointed=self.checkpointed)
            inb = self.inbound[channel] = Inbound(self, ch, source)
            if self.options.lazy_bytes is not None:
                inb.borrower = Borrower(
                    channel, source, partial(self._ask, inb), partial(self.reply_soon, inb)
                )
            self.peers.setdefault(source, Peer(source))
        return inb

    # -- liveness ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start heartbeats to every peer and watching for silent ones."""
        if self._beat is None:
            self._started = self.loop.time()
            self._beat = self.loop.call_later(0.0, self._heartbeat)

    def _heartbeat(self) -> None:
        loop = self.loop
        now, beat = loop.time(), self.options.heartbeat
        send, name = self.transport.send, self.name
        for peer in self.peers.values():
            send(name, peer.name, Frame(HEARTBEAT, "", epoch=self.epoch))
            heard = peer.last_heard if peer.last_heard is not None else self._started
            if (
                not peer.left
                and peer.unavailable_since is None
                and heard is not None
                and now - heard > beat * SILENT_BEATS / BEATS
            ):
                peer.unavailable_since, peer.detected = heard, now
                peer.reason = f"silent for {now - heard:.3g} s"
        self._beat = loop.call_later(beat / BEATS, self._heartbeat)

    def lost(self, peer: str, reason: str) -> None:
        """Report ``peer`` unavailable from now: its connection broke (the transport saw it)."""
        known = self.peers.get(peer)
        if known is not None and not known.left and known.unavailable_since is None:
            known.unavailable_since = known.detected = self.loop.time()
            known.reason = reason

    def completed(self) -> None:
        """Say that the partition's run completed: it is never resumed.

        So everything its links handed over is durable now, and the grants sent now say so;
        every link it sends on has ended.
        """
        for inb in self.inbound.values():
            inb.channel.checkpointed = False
            self.transport.send(self.name, inb.source, inb.channel.grant())
        for out in self.outbound.values():
            if not out.channel.ending and out.error is None:
                # (a link node a resumed run started finished did not end its channel)
                out.channel.finish()
                self.flush(out)

    async def settled(self) -> None:
        """Wait until every receiver of this host's links has taken the end for good.

        A checkpointed host whose run has completed waits here before it closes, still
        sending what a receiver restarted from an older checkpoint asks for again (or until
        it is closed, as a crash does).
        """
        while not (self._all_closed() or self._shut):
            waiter = self._settling = self.loop.create_future()
            try:
                await waiter
            finally:
                self._settling = None

    def _all_closed(self) -> bool:
        return all(
            (out.channel.closed or out.error is not None) and not self._lending(out)
            for out in self.outbound.values()
        )

    def _lending(self, out: Outbound) -> bool:
        """Whether ``out``'s receiver holds handles to payloads this host must still serve."""
        if not out.channel.lender.lent:
            return False
        peer = self.peers.get(out.dest)
        return peer is None or not peer.left  # (a silent one may come back and open them)

    @property
    def lends(self) -> bool:
        """Whether this host's links carry large payloads lazily (``LinkOptions.lazy_bytes``)."""
        return self.options.lazy_bytes is not None

    def check_settled(self) -> None:
        """Wake :meth:`settled` if every outbound channel is closed now."""
        waiter = self._settling
        if waiter is not None and not waiter.done() and self._all_closed():
            waiter.set_result(None)

    def close(self, *, completed: bool = False) -> None:
        """Say goodbye to every peer and stop the timers (the partition's run has ended).

        With ``completed`` (the run completed), :meth:`completed` first.
        """
        if completed:
            self.completed()
        self._shut = True
        if self._settling is not None and not self._settling.done():
            self._settling.set_result(None)
        for timer in (self._beat, self._linger, self._resend, self._fetching):
            if timer is not None:
                timer.cancel()
        self._fetching = None
        if self._beat is not None:
            for peer in self.peers.values():
                self.transport.send(
                    self.name, peer.name, Frame(HEARTBEAT, "", epoch=self.epoch, end=True)
                )
        self._beat = self._linger = self._resend = None

    def _heard(self, source: str, frame: Frame) -> None:
        peer = self.peers.get(source)
        if peer is None:
            peer = self.peers[source] = Peer(source)
        peer.last_heard = self.loop.time()
        peer.unavailable_since = peer.detected = None
        peer.reason = ""
        # (a late frame from a peer taken as gone for good does not bring it back)
        peer.left = (frame.kind == HEARTBEAT and frame.end) or source in self._gone
        if frame.kind == HEARTBEAT and frame.epoch > self.incarnations.get(source, 0):
            self.restarted(source, frame.epoch)
        if peer.left and self.lends:
            self._left(source, "it said goodbye")

    def gone(self, peer: str, reason: str) -> None:
        """Take ``peer`` as gone for good (its run is over and it will not come back)."""
        known = self.peers.get(peer)
        if known is None or known.left:
            return
        known.left = True
        known.reason = reason
        self._gone.add(peer)
        self._left(peer, reason)

    def _left(self, peer: str, why: str) -> None:
        """Forget what was lent to ``peer`` and fail fetches from it: it said goodbye."""
        for out in self.outbound.values():
            if out.dest == peer:
                out.channel.lender.clear()
        for inb in self.inbound.values():
            if inb.source == peer and inb.borrower is not None:
                inb.borrower.fail(f"gone ({why})")
        self.check_settled()

    def restarted(self, peer: str, incarnation: int) -> None:
        """Start a new epoch on every channel shared with ``peer``, now at ``incarnation``."""
        self.incarnations[peer] = incarnation
        for out in self.outbound.values():
            if out.dest == peer:
                out.channel.reset(channel_epoch(self.epoch, incarnation))
                self._arm_resend()
        for inb in self.inbound.values():
            if inb.source == peer:
                inb.channel.reset(channel_epoch(incarnation, self.epoch))
                self.reply_soon(inb)  # (its grant says where the epoch starts)

    def made_durable(self, inb: Inbound, position: int) -> None:
        """Tell ``inb``'s sender that a checkpoint covers its items up to ``position``."""
        inb.channel.made_durable(position)
        self.reply_soon(inb)

    # -- sending -----------------------------------------------------------------------------

    def flush(self, out: Outbound, *, force: bool = False) -> None:
        """Send the frames ``out`` may send now; arm the linger and retransmission timers."""
        if out.error is not None:
            return
        loop = self.loop
        frames = out.channel.cut(loop.time(), force=force)
        if not self._sent(out, frames):
            return
        channel = out.channel
        if channel.has_partial and channel.next_seq <= channel.credit and self._linger is None:
            # (without credit the partial frame waits for the grant, which flushes it)
            self._linger = loop.call_later(self.options.linger, self._lingered)
        if out.channel.waiting:
            self._arm_resend()

    def _arm_resend(self) -> None:
        if self._resend is None:
            self._resend = self.loop.call_later(self.options.retransmit, self._retransmit)

    def _sent(self, out: Outbound, frames: list[Frame]) -> bool:
        """Send ``frames`` for ``out``; a frame that cannot go breaks the link (False)."""
        send, name, dest = self.transport.send, self.name, out.dest
        try:
            for frame in frames:
                send(name, dest, frame)
        except FrameError as exc:
            out.fail(exc)
            return False
        return True

    def broken(self, frame: Frame, error: Exception) -> None:
        """Break the link ``frame`` belongs to: the transport found it cannot go."""
        out = self.outbound.get(frame.channel)
        if out is not None:
            out.fail(FrameError(f"channel {frame.channel!r}: a frame cannot be sent ({error})"))

    def _lingered(self) -> None:
        self._linger = None
        for out in self.outbound.values():
            if out.channel.has_partial:
                self.flush(out, force=True)

    def _retransmit(self) -> None:
        self._resend = None
        now = self.loop.time()
        waiting = False
        for out in self.outbound.values():
            if out.error is None and self._sent(out, out.channel.due(now)):
                waiting = waiting or out.channel.waiting
        if waiting:
            self._resend = self.loop.call_later(self.options.retransmit, self._retransmit)

    # -- receiving ---------------------------------------------------------------------------

    def deliver(self, source: str, frame: Frame) -> None:
        """Route a frame that arrived from host ``source`` to its channel."""
        self._heard(source, frame)
        if frame.kind == HEARTBEAT:
            return
        if frame.kind == FETCH:
            self._serve(source, frame)
            return
        if frame.kind == CREDIT:
            out = self.outbound.get(frame.channel)
            if out is None:
                self.unknown += 1
                return
            out.channel.on_credit(frame)
            if out.channel.gap is not None:
                out.fail(FrameError(out.channel.gap))
                return
            self.flush(out)
            out.settled()
            return
        inb = self.inbound.get(frame.channel)
        if inb is None:
            self.unknown += 1
            return
        if frame.kind == DATA and inb.channel.on_data(frame):
            inb.arrived()
        elif frame.kind == ANNOUNCE and frame.items and inb.borrower is not None:
            inb.borrower.asked(frame.items, inb.channel.delivered)  # (which may go?)
        elif frame.kind == PAYLOAD and inb.borrower is not None:
            inb.borrower.arrived(frame.seq, frame.items, frame.end)
            return
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
            grant = inb.channel.grant()
            if inb.borrower is not None and inb.borrower.releasing:
                grant.items = inb.borrower.take_released()
            send(name, inb.source, grant)

    # -- lazy payloads -----------------------------------------------------------------------

    def _serve(self, source: str, frame: Frame) -> None:
        """Answer a ``FETCH``: the payload lent at that position, or that it is gone."""
        out = self.outbound.get(frame.channel)
        if out is None or out.dest != source:
            self.unknown += 1
            return
        found, payload = out.channel.payload_at(frame.seq)
        answer = Frame(
            PAYLOAD, frame.channel, seq=frame.seq, items=[payload] if found else [], end=not found
        )
        try:
            self.transport.send(self.name, source, answer)
        except FrameError:  # (cannot happen: lent payloads are bytes or text)
            self.unknown += 1

    def _ask(self, inb: Inbound, position: int) -> None:
        """Send a ``FETCH`` for ``position`` of ``inb``'s channel, and ask again until answered."""
        self.transport.send(self.name, inb.source, Frame(FETCH, inb.channel.channel, seq=position))
        if self._fetching is None and not self._shut:
            self._fetching = self.loop.call_later(self.options.retransmit, self._refetch)

    def _refetch(self) -> None:
        self._fetching = None
        now, wait = self.loop.time(), self.options.retransmit
        asking = False
        for inb in self.inbound.values():
            borrower = inb.borrower
            if borrower is None or not borrower.pending:
                continue
            peer = self.peers.get(inb.source)
            if peer is not None and peer.left:  # (a silent one may come back: ask on)
                borrower.fail(f"gone ({peer.reason or 'it said goodbye'})")
                continue
            for position in borrower.due(now, wait):
                self.transport.send(
                    self.name, inb.source, Frame(FETCH, inb.channel.channel, seq=position)
                )
            asking = True
        if asking and not self._shut:
            self._fetching = self.loop.call_later(wait, self._refetch)

    # -- what the query plane reads ----------------------------------------------------------

    def health(self, *, wall: bool = False) -> dict[str, Any]:
        """Return the host, its epoch, its peers' states and its links (see ``links``).

        Times are the loop's; with ``wall``, the wall clock's (for readers in other processes).
        """
        shift = time.time() - self.loop.time() if wall else 0.0
        return {
            "host": self.name,
            "epoch": self.epoch,
            "peers": {name: peer.row(shift) for name, peer in sorted(self.peers.items())},
            "links": self.links(),
        }

    def links(self) -> list[dict[str, Any]]:
        """Return each channel's state: role, peer, sequence numbers, credit, counters.

        Positions count items since the channel began: ``pushed`` by the producer,
        ``delivered`` to the consumer, ``durable`` what the consumer's checkpoint covers.

        Each carries the taints of what its transport does not preserve
        (``LinkCapabilities``), and ``degraded-link`` while its peer is unavailable.
        """
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
                    "backlog": ch.backlog,
                    "pushed": ch.pushed,
                    "durable": ch.durable,
                    "kept_bytes": ch.kept_bytes,
                    "lent": ch.lender.total,
                    "lent_held": len(ch.lender.lent),
                    "lent_bytes": ch.lender.lent_bytes,
                    "served": ch.lender.served,
                    "resent": ch.resent,
                    "announced": ch.announced,
                    "stale": ch.stale,
                    "closed": ch.closed,
                    "taints": self._taints(out.dest),
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
                    "delivered": rc.delivered,
                    "durable": rc.durable,
                    "duplicates": rc.duplicates,
                    **self._borrowed(inb),
                    "stale": rc.stale,
                    "ended": rc.ended,
                    "taints": self._taints(inb.source),
                }
            )
        return rows

    @staticmethod
    def _borrowed(inb: Inbound) -> dict[str, int]:
        """Lazy payloads a receiving channel handed on, and how many were opened."""
        borrower = inb.borrower
        if borrower is None:
            return {"lazy": 0, "opened": 0, "fetched_bytes": 0}
        return {
            "lazy": borrower.refs,
            "opened": borrower.opened,
            "fetched_bytes": borrower.fetched_bytes,
        }

    def _taints(self, peer: str) -> list[str]:
        labels = list(self.capabilities.labels())
        known = self.peers.get(peer)
        if known is not None and known.state == "unavailable":
            labels.append(DEGRADED)
        if self.lends:
            labels.append(PAYLOADS_NOT_DURABLE)
        return labels
