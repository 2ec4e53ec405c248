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
A frame not acknowledged ``retransmit`` seconds after it was sent is sent again, and a sender
that has items waiting but no credit announces its backlog as often, which the receiver
answers with its grant: a lost grant costs a round trip, never a deadlock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from arachne.distributed.frames import ANNOUNCE, CREDIT, DATA, Frame, item_bytes

__all__ = ["LinkOptions", "ReceiveChannel", "SendChannel", "Taken"]

HOLD_FRAMES: Final = 2
"""Frames' worth of items a sender keeps waiting before it holds its producer back."""


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """How mesh links frame and pace what they carry (the defaults follow Flink's network stack).

    ``credits``: frames a channel may have sent and not yet taken by its consumer;
    ``frame_items`` and ``frame_bytes``: when a frame is full; ``linger``: seconds a partial
    frame waits for more items; ``retransmit``: seconds after which an unacknowledged frame is
    sent again (and a sender without credit announces its backlog again).
    """

    credits: int = 4
    frame_items: int = 64
    frame_bytes: int = 32 * 1024
    linger: float = 0.005
    retransmit: float = 0.2

    def __post_init__(self) -> None:
        for name in ("credits", "frame_items", "frame_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"link option {name} must be an int >= 1, got {value!r}")
        for name in ("linger", "retransmit"):
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
    """The producer's end of a channel: items waiting, frames in flight, the credit granted."""

    __slots__ = (
        "_last_announce",
        "_marks",
        "acked",
        "announced",
        "channel",
        "credit",
        "end_seq",
        "ending",
        "epoch",
        "framed",
        "next_seq",
        "options",
        "pending",
        "pending_bytes",
        "pushed",
        "resent",
        "stale",
        "unacked",
    )

    def __init__(self, channel: str, options: LinkOptions, *, epoch: int = 0) -> None:
        self.channel = channel
        self.options = options
        self.epoch = epoch
        self.pending: deque[Any] = deque()
        self.pending_bytes = 0
        self._marks: deque[tuple[int, float]] = deque()  # (items pushed before it, watermark)
        self.pushed = self.framed = 0
        self.next_seq = 1
        self.acked = 0
        self.credit = options.credits
        self.unacked: dict[int, list[Any]] = {}  # seq -> [frame, when last sent]
        self.ending = False
        self.end_seq = 0
        self._last_announce = -math.inf
        self.resent = self.announced = self.stale = 0

    # -- what the producer does --------------------------------------------------------------

    def push(self, items: list[Any]) -> None:
        """Queue ``items`` to be framed (in order, after everything pushed before)."""
        if self.ending:
            raise RuntimeError(f"channel {self.channel!r} has ended; nothing more can be pushed")
        self.pending.extend(items)
        self.pushed += len(items)
        self.pending_bytes += sum(map(item_bytes, items))

    def watermark(self, t: float) -> None:
        """Say that no item pushed from now on has an event time before ``t``."""
        marks = self._marks
        if marks and marks[-1][0] == self.pushed:
            marks[-1] = (self.pushed, max(t, marks[-1][1]))
        else:
            marks.append((self.pushed, t))

    def finish(self) -> None:
        """Say that nothing more will be pushed: the last frame carries ``end``."""
        self.ending = True

    @property
    def full(self) -> bool:
        """Whether the producer should be held back (enough is waiting for credit)."""
        return len(self.pending) >= HOLD_FRAMES * self.options.frame_items

    @property
    def closed(self) -> bool:
        """Whether the end frame was sent and acknowledged: the channel is done."""
        return bool(self.end_seq) and self.acked >= self.end_seq

    @property
    def in_flight(self) -> int:
        """Frames sent and not yet acknowledged."""
        return self.next_seq - 1 - self.acked

    @property
    def has_partial(self) -> bool:
        """Whether items wait that do not fill a frame (they go when ``linger`` passes)."""
        return bool(self.pending) and not self.end_seq

    # -- what goes on the wire ---------------------------------------------------------------

    def cut(self, now: float, *, force: bool = False) -> list[Frame]:
        """Frame what may go now: full frames, control events, and with ``force`` a partial one.

        Only as many frames as the credit allows; the rest keeps waiting.
        """
        out: list[Frame] = []
        options, pending, marks = self.options, self.pending, self._marks
        while self.next_seq <= self.credit and not self.end_seq:
            boundary = marks[0][0] - self.framed if marks else -1
            limit = options.frame_items if boundary < 0 else min(options.frame_items, boundary)
            take = size = 0
            for item in pending:
                if take >= limit or size >= options.frame_bytes:
                    break
                take += 1
                size += item_bytes(item)
            at_mark = boundary == take
            last = self.ending and take == len(pending) and not (marks and not at_mark)
            filled = take == options.frame_items or size >= options.frame_bytes
            if not (filled or at_mark or last or (force and take)):
                break
            items = [pending.popleft() for _ in range(take)]
            self.pending_bytes -= size
            self.framed += take
            mark = marks.popleft()[1] if at_mark else None
            end = last and not marks
            frame = Frame(
                DATA,
                self.channel,
                seq=self.next_seq,
                epoch=self.epoch,
                backlog=len(pending),
                items=items,
                end=end,
                watermark=mark,
            )
            self.unacked[self.next_seq] = [frame, now]
            if end:
                self.end_seq = self.next_seq
            self.next_seq += 1
            out.append(frame)
        return out

    def on_credit(self, frame: Frame) -> bool:
        """Take a grant: drop what it acknowledges; return whether the credit grew."""
        if frame.epoch != self.epoch:
            self.stale += 1
            return False
        if frame.ack > self.acked:
            for seq in range(self.acked + 1, frame.ack + 1):
                self.unacked.pop(seq, None)
            self.acked = frame.ack
        if frame.credit > self.credit:
            self.credit = frame.credit
            return True
        return False

    def due(self, now: float) -> list[Frame]:
        """Return what must go again: frames unacknowledged for too long, a backlog announcement."""
        wait = self.options.retransmit
        out: list[Frame] = []
        for entry in self.unacked.values():
            if now - entry[1] >= wait:
                entry[1] = now
                out.append(entry[0])
                self.resent += 1
        starved = (self.pending or (self.ending and not self.end_seq)) and (
            self.next_seq > self.credit
        )
        if starved and now - self._last_announce >= wait:
            self._last_announce = now
            self.announced += 1
            out.append(
                Frame(ANNOUNCE, self.channel, epoch=self.epoch, backlog=len(self.pending) or 1)
            )
        return out

    @property
    def waiting(self) -> bool:
        """Whether anything is left to send or to be acknowledged (timers must keep running)."""
        return bool(self.unacked) or bool(self.pending) or (self.ending and not self.end_seq)


@dataclass(slots=True)
class Taken:
    """What the consumer took from a channel in one go."""

    items: list[Any]
    watermark: float | None = None
    end: bool = False


class ReceiveChannel:
    """The consumer's end of a channel: frames put back in order, items handed over."""

    __slots__ = (
        "_offset",
        "channel",
        "consumed",
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

    def __init__(self, channel: str, options: LinkOptions, *, epoch: int = 0) -> None:
        self.channel = channel
        self.options = options
        self.epoch = epoch
        self.expected = 1  # the next sequence number to hand over
        self.held: dict[int, Frame] = {}  # arrived early, waiting for a gap to fill
        self.ready: deque[Frame] = deque()  # in order, not yet taken entirely
        self._offset = 0  # items of ready[0] taken already
        self.consumed = 0  # the last frame taken entirely
        self.ended = False
        self.received = self.duplicates = self.stale = self.overrun = 0

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
        """Hand over up to ``limit`` items in order, with the watermark and end they reach."""
        taken = Taken([])
        items, ready = taken.items, self.ready
        while ready and len(items) < limit:
            frame = ready[0]
            start = self._offset
            chunk = frame.items[start : start + limit - len(items)]
            items.extend(chunk)
            self._offset = start + len(chunk)
            if self._offset < len(frame.items):
                break
            ready.popleft()
            self._offset = 0
            self.consumed = frame.seq
            if frame.watermark is not None:
                taken.watermark = frame.watermark
            if frame.end:
                self.ended = taken.end = True
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
            CREDIT, self.channel, epoch=self.epoch, ack=self.expected - 1, credit=self.credit
        )

    @property
    def unconsumed(self) -> int:
        """Frames held here that the consumer has not taken entirely yet."""
        return len(self.ready) + len(self.held)
