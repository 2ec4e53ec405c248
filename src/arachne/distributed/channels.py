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
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Final

from arachne.distributed.frames import ANNOUNCE, CREDIT, DATA, Frame, item_bytes

__all__ = ["LinkOptions", "ReceiveChannel", "SendChannel", "Taken"]

MAX_BACKOFF: Final = 16
"""A frame sent again waits twice as long each time, up to this many ``retransmit``s."""

HOLD_FRAMES: Final = 2
"""Frames' worth of items a sender keeps waiting before it holds its producer back."""


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """How mesh links frame and pace what they carry (the defaults follow Flink's network stack).

    ``credits``: frames a channel may have sent and not yet taken by its consumer (10: Flink's
    2 exclusive and 8 floating buffers, all of them the channel's own here);
    ``frame_items`` and ``frame_bytes``: when a frame is full; ``linger``: seconds a partial
    frame waits for more items; ``retransmit``: seconds after which an unacknowledged frame is
    sent again (and a sender without credit announces its backlog again); ``heartbeat``:
    seconds between a host's heartbeats, and how long a peer may stay silent before it is
    reported unavailable.
    """

    credits: int = 10
    frame_items: int = 256
    frame_bytes: int = 256 * 1024
    linger: float = 0.005
    retransmit: float = 0.2
    heartbeat: float = 1.0

    def __post_init__(self) -> None:
        for name in ("credits", "frame_items", "frame_bytes"):
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
    """The producer's end of a channel: items waiting, frames in flight, the credit granted."""

    __slots__ = (
        "_head",
        "_items",
        "_last_announce",
        "_marks",
        "_sizes",
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
        # Items waiting to be framed are _items[_head:], with their sizes beside them: a frame
        # is cut with slices and a bisection, never an item at a time.
        self._items: list[Any] = []
        self._sizes: list[int] = []
        self._head = 0
        self.pending_bytes = 0
        self._marks: deque[tuple[int, float]] = deque()  # (items pushed before it, watermark)
        self.pushed = self.framed = 0
        self.next_seq = 1
        self.acked = 0
        self.credit = options.credits
        self.unacked: dict[int, list[Any]] = {}  # seq -> [frame, when last sent, wait]
        self.ending = False
        self.end_seq = 0
        self._last_announce = -math.inf
        self.resent = self.announced = self.stale = 0

    # -- what the producer does --------------------------------------------------------------

    def push(self, items: list[Any]) -> None:
        """Queue ``items`` to be framed (in order, after everything pushed before)."""
        if self.ending:
            raise RuntimeError(f"channel {self.channel!r} has ended; nothing more can be pushed")
        kinds = set(map(type, items))
        if len(kinds) == 1 and kinds <= {bytes, str}:  # (the common case, sized in C)
            sizes = [n + 8 for n in map(len, items)]
        else:
            sizes = list(map(item_bytes, items))
        self._items += items
        self._sizes += sizes
        self.pushed += len(items)
        self.pending_bytes += sum(sizes)

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
    def backlog(self) -> int:
        """Items waiting to be framed."""
        return len(self._items) - self._head

    @property
    def full(self) -> bool:
        """Whether the producer should be held back (enough is waiting for credit)."""
        return self.backlog >= HOLD_FRAMES * self.options.frame_items

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
        return self.backlog > 0 and not self.end_seq

    # -- what goes on the wire ---------------------------------------------------------------

    def cut(self, now: float, *, force: bool = False) -> list[Frame]:
        """Frame what may go now: full frames, control events, and with ``force`` a partial one.

        Only as many frames as the credit allows; the rest keeps waiting.
        """
        out: list[Frame] = []
        options, marks = self.options, self._marks
        frame_bytes = options.frame_bytes
        while self.next_seq <= self.credit and not self.end_seq:
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
            self._head = head = head + take
            if head >= 4096 and head * 2 >= len(self._items):  # compact the taken front
                del self._items[:head], self._sizes[:head]
                self._head = 0
            self.pending_bytes -= size
            self.framed += take
            mark = marks.popleft()[1] if at_mark else None
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
        ack = min(frame.ack, self.next_seq - 1)  # (never past what was sent)
        if ack > self.acked:
            for seq in [seq for seq in self.unacked if seq <= ack]:  # (at most credits of them)
                del self.unacked[seq]
            self.acked = ack
        if frame.credit > self.credit:
            self.credit = frame.credit
            return True
        return False

    def due(self, now: float) -> list[Frame]:
        """Return what must go again: frames unacknowledged for too long, a backlog announcement."""
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
        if starved and now - self._last_announce >= wait:
            self._last_announce = now
            self.announced += 1
            out.append(Frame(ANNOUNCE, self.channel, epoch=self.epoch, backlog=self.backlog or 1))
        return out

    @property
    def waiting(self) -> bool:
        """Whether anything is left to send or to be acknowledged (timers must keep running)."""
        return (
            bool(self.unacked)
            or self.backlog > 0
            or bool(self._marks)
            or (self.ending and not self.end_seq)
        )


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
            CREDIT, self.channel, epoch=self.epoch, ack=self.expected - 1, credit=self.credit
        )

    @property
    def unconsumed(self) -> int:
        """Frames held here that the consumer has not taken entirely yet."""
        return len(self.ready) + len(self.held)
