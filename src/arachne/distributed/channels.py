"""The two ends of one mesh-link channel: credits, sequence numbers and epochs, without I/O.

A channel carries one link of the graph from the host of its producer to the host of its
consumer. :class:`SendChannel` keeps what the producer pushed until it is framed, and every
frame until it is acknowledged; :class:`ReceiveChannel` puts frames back in order, drops
duplicates, and hands items to the consumer. Nothing here waits or sends: the host
(``arachne.distributed.host``) asks each end what to send and when, so the protocol can be
driven by a simulated network as well as a real one.

Credits bound what is in flight. The receiver grants ``credit``, the highest sequence number
the sender may use: the last frame its consumer has taken entirely, plus ``credits``. So at
most ``credits`` frames (each of at most ``frame_items`` items and about ``frame_bytes``
bytes) are ever sent and not yet taken, however slow the consumer: a stalled consumer stalls
its producer, with no buffer growing anywhere in between. Frames are cut when one is full, at
a watermark or the end (control events go at once), and otherwise after ``linger`` seconds.
A frame not acknowledged ``retransmit`` seconds after it was sent is sent again, each time
after twice as long as before (up to 16 times ``retransmit``), and a sender that has items or
a watermark waiting but no credit announces its backlog every ``retransmit``, which the
receiver answers with its grant: a lost grant costs a round trip, never a deadlock.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Final

from arachne.distributed.frames import (
    ANNOUNCE,
    CREDIT,
    DATA,
    MAX_FRAME_BYTES,
    Frame,
    item_bytes,
)
from arachne.distributed.payloads import REF_BYTES, Lender, lendable

__all__ = ["LinkOptions", "ReceiveChannel", "SendChannel", "Taken", "channel_epoch"]

MAX_BACKOFF: Final = 16
"""A frame sent again waits twice as long each time, up to this many ``retransmit``s."""

HOLD_FRAMES: Final = 2
"""Frames' worth of items a sender keeps waiting before it holds its producer back."""

LAZY_MAX: Final = MAX_FRAME_BYTES - (1 << 16)
"""Payloads this long or longer go whole (and fail the link, too big for any frame): a lent
one could never be answered in one frame."""

ASK_RELEASED: Final = 1024
"""The most lent positions an announcement asks about (a settling sender asks again)."""


INCARNATIONS: Final = 1 << 24
"""A host restarts fewer times than this (its incarnation is one half of a channel's epoch)."""


def channel_epoch(sender: int, receiver: int) -> int:
    """Return the epoch of a channel whose ends run incarnations ``sender`` and ``receiver``.

    Both halves are kept apart, so a channel's epoch changes whenever either end restarts
    and two different pairs never share one.
    """
    if not (0 <= sender < INCARNATIONS and 0 <= receiver < INCARNATIONS):
        raise ValueError(f"incarnations must be in [0, {INCARNATIONS}), got {sender}, {receiver}")
    return sender * INCARNATIONS + receiver


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """How mesh links frame and pace what they carry (the defaults follow Flink's network stack).

    ``credits``: frames a channel may have sent and not yet taken by its consumer (10: Flink's
    2 exclusive and 8 floating buffers, all of them the channel's own here);
    ``frame_items`` and ``frame_bytes``: when a frame is full; ``linger``: seconds a partial
    frame waits for more items; ``retransmit``: seconds after which an unacknowledged frame is
    sent again (and a sender without credit announces its backlog again); ``heartbeat``:
    seconds between a host's heartbeats, and how long a peer may stay silent before it is
    reported unavailable; ``retain_bytes``: how much of what a checkpointed receiver has
    taken but not yet checkpointed its sender keeps before it holds its producer back (it
    is what the receiver may ask for again if it restarts); ``lazy_bytes``: payloads (bytes or
    text) at least this long stay with the sender and cross as handles the consumer opens
    when it reads them (``arachne.distributed.payloads``; None, the default: all go at once).
    What a channel lent is not counted in ``retain_bytes``: it is held until released.
    """

    credits: int = 10
    frame_items: int = 256
    frame_bytes: int = 256 * 1024
    linger: float = 0.005
    retransmit: float = 0.2
    heartbeat: float = 1.0
    retain_bytes: int = 128 << 20
    lazy_bytes: int | None = None

    def __post_init__(self) -> None:
        lazy = self.lazy_bytes
        if lazy is not None and (isinstance(lazy, bool) or not isinstance(lazy, int) or lazy < 1):
            raise ValueError(
                f"link option lazy_bytes must be an int >= 1 (bytes) or None, got {lazy!r}"
            )
        for name in ("credits", "frame_items", "frame_bytes", "retain_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"link option {name} must be an int >= 1, got {value!r}")
        for name in ("linger", "retransmit", "heartbeat"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ValueError(f"link option {name} must be seconds > 0, got {value!r}")

    @property
    def max_in_flight(self) -> int:
        """The most items a channel ever has sent and not yet taken: credits x frame items."""
        return self.credits * self.frame_items


class SendChannel:
    """The producer's end of a channel: items kept, frames in flight, the credit granted.

    Items are numbered by their *position* (1, 2, ... since the channel began, across
    epochs): ``pushed`` is the last one pushed, ``framed`` the last one put in a frame. An
    item is kept until the receiver says it is ``durable`` (it will never ask for it again:
    at once for a receiver without checkpoints, once its checkpoint covers it otherwise), so
    a receiver that restarts from its checkpoint is sent again what it had taken since.
    A new epoch (:meth:`reset`: a host at either end restarted) starts framing afresh from
    the receiver's ``base``, which its first grant of the epoch tells; until then nothing is
    sent but announcements.
    """

    __slots__ = (
        "_ends",
        "_head",
        "_items",
        "_kept_bytes",
        "_last_announce",
        "_lent_oldest",
        "_lent_since",
        "_lent_wait",
        "_marks",
        "_said",
        "_sizes",
        "_start",
        "acked",
        "announced",
        "based",
        "channel",
        "credit",
        "durable",
        "end_seq",
        "ending",
        "epoch",
        "framed",
        "gap",
        "lender",
        "next_seq",
        "options",
        "pending_bytes",
        "pushed",
        "resent",
        "resumed",
        "skip_to",
        "stale",
        "taken",
        "unacked",
    )

    def __init__(
        self, channel: str, options: LinkOptions, *, epoch: int = 0, based: bool = True
    ) -> None:
        self.channel = channel
        self.options = options
        self.epoch = epoch
        # Items kept are _items[i] at position _start + i + 1, with their sizes beside them;
        # those waiting to be framed are _items[_head:]. A frame is cut with slices and a
        # bisection, never an item at a time.
        self._items: list[Any] = []
        self._sizes: list[int] = []
        self._start = 0
        self._head = 0
        self.pending_bytes = self._kept_bytes = 0
        self._marks: deque[tuple[int, float]] = deque()  # (position before it, watermark)
        # Watermarks framed already, kept (with the newest one at or before what is durable)
        # so that what is sent again carries them again.
        self._said: deque[tuple[int, float]] = deque()
        self.pushed = self.framed = 0
        self.durable = 0  # the receiver will never ask for items up to here again
        self.taken = 0  # the receiver's consumer took the items up to here (whole frames)
        self.skip_to = 0  # items re-made up to here are dropped: the receiver has them
        self.based = based  # whether this epoch's base is known (else: wait for a grant)
        self.gap: str | None = None  # why the receiver cannot be given what it asked for
        self._ends: deque[tuple[int, int]] = deque()  # (seq, position after it) not taken
        self.next_seq = 1
        self.acked = 0
        self.credit = options.credits if based else 0
        self.unacked: dict[int, list[Any]] = {}  # seq -> [frame, when last sent, wait]
        self.ending = False
        self.end_seq = 0
        self._last_announce = -math.inf
        self.resent = self.announced = self.stale = 0
        self.lender = Lender()  # (payloads lent to the receiver: with lazy_bytes only)
        # The oldest lent position, since when it has been, and how long to leave it before
        # asking the receiver mid-stream whether it let it go (its release may be lost).
        self._lent_oldest, self._lent_since, self._lent_wait = 0, -math.inf, 0.0
        self.resumed = not based  # (a restarted producer's: its receiver may hold handles)

    # -- what the producer does --------------------------------------------------------------

    def push(self, items: list[Any]) -> None:
        """Queue ``items`` to be framed (in order, after everything pushed before).

        Items at positions the receiver already has (a producer that restarted from an
        older checkpoint makes them again) are dropped.
        """
        if self.ending:
            raise RuntimeError(f"channel {self.channel!r} has ended; nothing more can be pushed")
        if self.pushed < self.skip_to:
            skip = min(len(items), self.skip_to - self.pushed)
            lazy = self.options.lazy_bytes
            if lazy is not None:  # (the receiver may hold handles to these: keep them lent)
                for offset, item in enumerate(items[:skip]):
                    payload = lendable(item)
                    if payload is not None and lazy <= len(payload) < LAZY_MAX:
                        self.lender.keep(self.pushed + offset + 1, payload)
            self.pushed += skip
            items = items[skip:]
            if not items:
                return
        kinds = set(map(type, items))
        if len(kinds) == 1 and kinds <= {bytes, str}:  # (the common case, sized in C)
            sizes = [n + 8 for n in map(len, items)]
        else:
            sizes = list(map(item_bytes, items))
        lazy = self.options.lazy_bytes
        if lazy is not None and sizes and max(sizes) >= lazy + 8:
            big = self.lender.big
            for index, size in enumerate(sizes):
                if lazy + 8 <= size < LAZY_MAX and lendable(items[index]) is not None:
                    big.append(self.pushed + index + 1)
                    sizes[index] = REF_BYTES  # (what it takes in a frame: a handle)
        self._items += items
        self._sizes += sizes
        self.pushed += len(items)
        self.pending_bytes += sum(sizes)

    def watermark(self, t: float) -> None:
        """Say that no item pushed from now on has an event time before ``t``."""
        marks = self._marks
        at = max(self.pushed, self.skip_to)  # (said after what the receiver already has)
        if marks and marks[-1][0] == at:
            marks[-1] = (at, max(t, marks[-1][1]))
        else:
            marks.append((at, t))

    def finish(self) -> None:
        """Say that nothing more will be pushed: the last frame carries ``end``."""
        self.ending = True

    @property
    def backlog(self) -> int:
        """Items waiting to be framed."""
        return len(self._items) - self._head

    @property
    def full(self) -> bool:
        """Whether the producer should be held back.

        Enough waits for credit, or the items kept for a receiver that has not checkpointed
        them yet reach ``retain_bytes``.
        """
        return (
            self.backlog >= HOLD_FRAMES * self.options.frame_items
            or self.kept_bytes >= self.options.retain_bytes
        )

    @property
    def kept_bytes(self) -> int:
        """Bytes of items kept for a receiver that may ask for them again (framed ones)."""
        return self._kept_bytes

    @property
    def end_acked(self) -> bool:
        """Whether the end was sent and has arrived: the producer's part is done."""
        return bool(self.end_seq) and self.acked >= self.end_seq and self.based

    @property
    def closed(self) -> bool:
        """Whether the receiver has taken the end and will never ask for anything again.

        The end counts as one more position: ``durable`` must reach past the last item.
        """
        return self.end_acked and self.durable > self.framed

    @property
    def in_flight(self) -> int:
        """Frames sent and not yet acknowledged."""
        return self.next_seq - 1 - self.acked

    @property
    def has_partial(self) -> bool:
        """Whether items wait that do not fill a frame (they go when ``linger`` passes)."""
        return self.backlog > 0 and not self.end_seq and self.based

    # -- what goes on the wire ---------------------------------------------------------------

    def cut(self, now: float, *, force: bool = False) -> list[Frame]:
        """Frame what may go now: full frames, control events, and with ``force`` a partial one.

        Only as many frames as the credit allows; the rest keeps waiting.
        """
        out: list[Frame] = []
        options, marks = self.options, self._marks
        frame_bytes = options.frame_bytes
        while self.next_seq <= self.credit and not self.end_seq and self.based:
            head = self._head
            waiting = len(self._items) - head
            boundary = marks[0][0] - self.framed if marks else -1
            limit = options.frame_items if boundary < 0 else min(options.frame_items, boundary)
            # An item joins the frame while what the frame holds before it is under frame_bytes.
            sums = list(accumulate(self._sizes[head : head + min(limit, waiting)]))
            take = min(len(sums), bisect_left(sums, frame_bytes) + 1)
            size = sums[take - 1] if take else 0
            at_mark = boundary == take
            last = self.ending and take == waiting and not (marks and not at_mark)
            filled = take == options.frame_items or size >= frame_bytes
            if not (filled or at_mark or last or (force and take)):
                break
            items = self._items[head : head + take]
            if self.lender.big:
                items = self.lender.lend(items, self.framed)
            self._head = head + take
            self.pending_bytes -= size
            self._kept_bytes += size
            self.framed += take
            mark = marks.popleft()[1] if at_mark else None
            if mark is not None:
                self._said.append((self.framed, mark))
            end = last and not marks
            frame = Frame(
                DATA,
                self.channel,
                seq=self.next_seq,
                epoch=self.epoch,
                backlog=waiting - take,
                items=items,
                end=end,
                watermark=mark,
            )
            self.unacked[self.next_seq] = [frame, now, options.retransmit]
            self._ends.append((self.next_seq, self.framed))
            if end:
                self.end_seq = self.next_seq
            self.next_seq += 1
            out.append(frame)
        return out

    def on_credit(self, frame: Frame) -> bool:
        """Take a grant: drop what it acknowledges; return whether the credit grew.

        The first grant of an epoch sets where its frames start (``base``).
        """
        if frame.epoch != self.epoch:
            self.stale += 1
            return False
        if not self.based:
            self._rebase(frame.base)
            if self.gap is not None:
                return False
        ack = min(frame.ack, self.next_seq - 1)  # (never past what was sent)
        if frame.items:  # (positions of lent payloads the receiver let go)
            self.lender.release(frame.items)
        if ack > self.acked:
            for seq in [seq for seq in self.unacked if seq <= ack]:  # (at most credits of them)
                del self.unacked[seq]
            self.acked = ack
        ends, consumed = self._ends, frame.credit - self.options.credits
        while ends and ends[0][0] <= consumed:
            self.taken = max(self.taken, ends.popleft()[1])
        if frame.durable > self.durable:  # (the end counts as the position after the last item)
            self.durable = min(frame.durable, self.framed + (1 if self.end_seq else 0))
            self._forget()
        if frame.credit > self.credit:
            self.credit = frame.credit
            return True
        return False

    def _forget(self) -> None:
        """Drop the items kept up to ``durable`` (the receiver will not ask for them again)."""
        said = self._said
        while len(said) > 1 and said[1][0] <= self.durable:  # (the newest at or before stays)
            said.popleft()
        drop = min(self.durable, self.framed) - self._start
        if drop >= 4096 or (drop > 0 and drop * 2 >= len(self._items)):
            self._kept_bytes -= sum(self._sizes[:drop])
            del self._items[:drop], self._sizes[:drop]
            self._start += drop
            self._head -= drop
            if self.lender.big:
                self.lender.forget(self._start)

    def reset(self, epoch: int) -> None:
        """Start epoch ``epoch`` (a host at either end restarted): frames in flight are void.

        Nothing is sent until the receiver's first grant of the epoch says where to start.
        """
        self.epoch = epoch
        self.based = False
        self.lender.clear()  # (the receiver's handles died with its old epoch)
        self.unacked.clear()
        self._ends.clear()
        self.next_seq = 1
        self.acked = self.credit = self.end_seq = 0
        self._last_announce = -math.inf
        self._lent_oldest, self._lent_since, self._lent_wait = 0, -math.inf, 0.0

    def _rebase(self, base: int) -> None:
        """Frame again from position ``base``: what the receiver has taken, or restored."""
        self.based = True
        self.taken = base  # (what the receiver has now: it may have gone back)
        if base < self._start:
            self.gap = (
                f"channel {self.channel!r}: the receiver asks for items from position "
                f"{base + 1}, but only those from {self._start + 1} are kept (a producer and "
                "its consumer both restarted, the consumer from a checkpoint older than the "
                "producer's); start the run over"
            )
            return
        if self.resumed:  # (handles the receiver took before we restarted may still be held)
            self.resumed = False
            self._lend_taken(base)
        if base >= self.pushed:  # it has all we have, and more: drop what we re-make
            self.skip_to = base
            self._items.clear()
            self._sizes.clear()
            self.lender.big.clear()
            self._head = 0
            self._start = self.framed = base
            self.pending_bytes = self._kept_bytes = 0
        else:
            self._head = base - self._start
            self.framed = base
            kept = self._sizes[: self._head]
            self._kept_bytes = sum(kept)
            self.pending_bytes = sum(self._sizes) - self._kept_bytes
        self.durable = min(self.durable, base)
        # Watermarks are said again where they were: those framed after the base, in order,
        # and the newest one at or before it first (the event time the stream had reached).
        marks = deque(sorted({*self._said, *self._marks}))
        self._said.clear()
        passed = None
        while marks and marks[0][0] < base:
            passed = marks.popleft()[1]
        if passed is not None:
            marks.appendleft((base, passed))
        self._marks = marks

    def _lend_taken(self, base: int) -> None:
        """Keep lent the big items kept up to ``base``: the receiver took their handles."""
        big, start = self.lender.big, self._start
        for position in big[bisect_right(big, start) : bisect_right(big, base)]:
            payload = lendable(self._items[position - start - 1])
            if payload is not None:
                self.lender.keep(position, payload)

    def due(self, now: float) -> list[Frame]:
        """Return what must go again: frames unacknowledged for too long, an announcement.

        A sender announces its backlog when it has items, a watermark or its end waiting
        and no credit, when it does not know where a new epoch starts, and when its end is
        acknowledged but not yet durable (so the receiver's grant says when it is).
        """
        wait = self.options.retransmit
        out: list[Frame] = []
        for entry in self.unacked.values():
            if now - entry[1] >= entry[2]:
                # Each time again the wait doubles (to 16 x): a slow peer is not flooded.
                entry[1], entry[2] = now, min(entry[2] * 2, wait * MAX_BACKOFF)
                out.append(entry[0])
                self.resent += 1
        starved = (self.backlog or self._marks or (self.ending and not self.end_seq)) and (
            self.next_seq > self.credit
        )
        unsettled = self.end_acked and not self.closed
        lending = self.end_acked and bool(self.lender.lent)
        due = now - self._last_announce >= wait
        asking = self._long_lent(now) if due and self.lender.lent and not lending else []
        if (starved or not self.based or unsettled or lending or asking) and due:
            self._last_announce = now
            self.announced += 1
            frame = Frame(ANNOUNCE, self.channel, epoch=self.epoch, backlog=self.backlog or 1)
            if lending:  # (which of these may go? releases ride on grants, which get lost)
                frame.items = sorted(self.lender.lent)[:ASK_RELEASED]
            elif asking:
                frame.items = asking
            out.append(frame)
        return out

    def _long_lent(self, now: float) -> list[int]:
        """Return lent positions to ask about mid-stream (a release lost with its grant).

        When the oldest lent position has stayed lent ``MAX_BACKOFF`` retransmits after the
        consumer took it, the sender asks about those taken (as a completed one does), then
        waits twice as long each time nothing changes: a handle a node keeps is asked about
        ever more rarely.
        """
        if now - self._lent_since < self._lent_wait:
            return []
        oldest = min(self.lender.lent)
        base = self.options.retransmit * MAX_BACKOFF
        if oldest != self._lent_oldest or oldest > self.taken:
            self._lent_oldest, self._lent_since, self._lent_wait = oldest, now, base
            return []
        self._lent_since, self._lent_wait = now, min(self._lent_wait * 2, base * MAX_BACKOFF)
        taken = self.taken
        return sorted(p for p in self.lender.lent if p <= taken)[:ASK_RELEASED]

    @property
    def waiting(self) -> bool:
        """Whether anything is left to send or to be acknowledged (timers must keep running)."""
        return (
            bool(self.unacked)
            or self.backlog > 0
            or bool(self._marks)
            or (self.ending and not self.closed)
            or not self.based
            or (self.end_acked and bool(self.lender.lent))
        )

    def payload_at(self, position: int) -> tuple[bool, Any]:
        """Return ``(True, payload)`` lent at ``position`` (or still kept), else ``(False, None)``.

        A restarted sender no longer has what it lent, but still has the items it keeps.
        """
        lent = self.lender.lent
        if position in lent:
            self.lender.served += 1
            return True, lent[position]
        index = position - self._start - 1
        if 0 <= index < len(self._items):
            payload = lendable(self._items[index])
            if payload is not None:
                self.lender.served += 1
                return True, payload
        return False, None

    # -- what a checkpoint keeps -------------------------------------------------------------

    def kept(self) -> tuple[int, int, list[Any], list[tuple[int, float]]]:
        """Return what a checkpoint of the producer keeps: ``(pushed, from, items, marks)``.

        The items after position ``from`` (what the receiver's consumer had taken) up to
        ``pushed``: a restarted producer can send them again to a consumer that had not.
        While it drops items it makes again (``pushed`` below ``from``), there are none.
        ``marks`` are the watermarks among them, by position (the newest before ``from``
        at ``from``).
        """
        if self.pushed < self._start:  # (skipping up to _start: the receiver has them)
            start, items = self._start, []
        else:
            start = max(self.taken, self._start)
            items = self._items[start - self._start :]
        marks: list[tuple[int, float]] = []
        for at, t in sorted({*self._said, *self._marks}):
            if at <= start:
                marks[:] = [(start, t)]
            else:
                marks.append((at, t))
        return self.pushed, start, items, marks

    def restore(
        self, pushed: int, start: int, items: list[Any], marks: Sequence[tuple[int, float]] = ()
    ) -> None:
        """Take back what :meth:`kept` returned (before the first push)."""
        skipping = pushed < start and not items
        if start + len(items) != pushed and not skipping:
            raise ValueError(
                f"channel {self.channel!r}: a checkpoint kept {len(items)} items from position "
                f"{start + 1}, which does not end at {pushed}"
            )
        self._items, self._sizes = [], []
        self._start = self._head = self.framed = self.taken = self.durable = start
        self.pending_bytes = self._kept_bytes = 0
        self._marks = deque(sorted((int(at), float(t)) for at, t in marks))
        self._said.clear()
        if skipping:  # (items up to start are made again and dropped)
            self.pushed, self.skip_to = pushed, start
            return
        self.pushed = start
        self.push(items)


@dataclass(slots=True)
class Taken:
    """What the consumer took from a channel in one go."""

    items: list[Any]
    watermark: float | None = None
    end: bool = False


class ReceiveChannel:
    """The consumer's end of a channel: frames put back in order, items handed over.

    ``delivered`` counts the items handed over since the channel began (their positions);
    ``base`` is where the current epoch's frames start. With ``checkpointed``, what is
    ``durable`` (never to be asked for again) is what the consumer's last checkpoint covers,
    which :meth:`made_durable` moves on; without, it is what was handed over.
    """

    __slots__ = (
        "_durable",
        "_offset",
        "base",
        "channel",
        "checkpointed",
        "consumed",
        "delivered",
        "duplicates",
        "ended",
        "epoch",
        "expected",
        "held",
        "options",
        "overrun",
        "ready",
        "received",
        "stale",
    )

    def __init__(
        self, channel: str, options: LinkOptions, *, epoch: int = 0, checkpointed: bool = False
    ) -> None:
        self.channel = channel
        self.options = options
        self.epoch = epoch
        self.checkpointed = checkpointed
        self.expected = 1  # the next sequence number to hand over
        self.held: dict[int, Frame] = {}  # arrived early, waiting for a gap to fill
        self.ready: deque[Frame] = deque()  # in order, not yet taken entirely
        self._offset = 0  # items of ready[0] taken already
        self.consumed = 0  # the last frame taken entirely
        self.delivered = self.base = self._durable = 0
        self.ended = False
        self.received = self.duplicates = self.stale = self.overrun = 0

    @property
    def position(self) -> int:
        """Items handed over, and one more once the end was: what a checkpoint covers."""
        return self.delivered + (1 if self.ended else 0)

    @property
    def durable(self) -> int:
        """The position up to which the sender may forget what it kept (the end counts)."""
        return self._durable if self.checkpointed else self.position

    def made_durable(self, position: int) -> None:
        """Say a checkpoint of the consumer covers ``position`` (see :attr:`position`)."""
        self._durable = max(self._durable, position)

    def restore(self, delivered: int, *, ended: bool = False) -> None:
        """Start from a checkpoint that had been handed ``delivered`` items (and the end)."""
        self.delivered = self.base = delivered
        self.ended = ended
        self._durable = self.position

    def reset(self, epoch: int) -> None:
        """Start epoch ``epoch``: what came before is dropped; it starts after ``delivered``."""
        self.epoch = epoch
        self.expected = 1
        self.held.clear()
        self.ready.clear()
        self._offset = self.consumed = 0
        self.base = self.delivered

    def on_data(self, frame: Frame) -> bool:
        """Take a data frame; return whether it was new (a duplicate or stale one is dropped)."""
        if frame.epoch != self.epoch:
            self.stale += 1
            return False
        seq = frame.seq
        if seq < self.expected or seq in self.held:
            self.duplicates += 1
            return False
        if seq > self.credit:  # never granted: a sender that broke the protocol
            self.overrun += 1
            return False
        self.received += 1
        held = self.held
        held[seq] = frame
        while self.expected in held:
            self.ready.append(held.pop(self.expected))
            self.expected += 1
        return True

    def take(self, limit: int) -> Taken:
        """Hand over up to ``limit`` items in order, with the watermark and end they reach.

        It stops after a frame that carries a watermark, so the watermark can go on before
        anything that followed it. A whole frame taken first is handed on as its own list (no
        copy); frames are never changed (in memory one may still be the sender's own), so a
        second goes into a copy.
        """
        taken = Taken([])
        ready = self.ready
        shared = False  # whether taken.items is a frame's own list
        while ready and len(taken.items) < limit:
            frame = ready[0]
            start = self._offset
            room = limit - len(taken.items)
            if not taken.items and not start and len(frame.items) <= room:
                taken.items, shared = frame.items, True
                moved = len(frame.items)
            else:
                chunk = frame.items[start : start + room]
                if shared:
                    taken.items, shared = [*taken.items, *chunk], False
                else:
                    taken.items.extend(chunk)
                moved = len(chunk)
            self._offset = start + moved
            self.delivered += moved
            if self._offset < len(frame.items):
                break
            ready.popleft()
            self._offset = 0
            self.consumed = frame.seq
            if frame.end:
                self.ended = taken.end = True
            if frame.watermark is not None:
                taken.watermark = frame.watermark
                break  # (what follows it must come after it)
            if frame.end:
                break
        return taken

    @property
    def credit(self) -> int:
        """The highest sequence number the sender may use."""
        return self.consumed + self.options.credits

    @property
    def has_items(self) -> bool:
        """Whether something waits to be taken (items, a watermark or the end)."""
        return bool(self.ready)

    def grant(self) -> Frame:
        """Return the frame that tells the sender what arrived and what it may send."""
        return Frame(
            CREDIT,
            self.channel,
            epoch=self.epoch,
            ack=self.expected - 1,
            credit=self.credit,
            base=self.base,
            durable=self.durable,
        )

    @property
    def unconsumed(self) -> int:
        """Frames held here that the consumer has not taken entirely yet."""
        return len(self.ready) + len(self.held)
