"""Channels: credits bound what is in flight, and a lossy network loses, doubles nothing."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arachne.distributed.channels import (
    MAX_BACKOFF,
    LinkOptions,
    ReceiveChannel,
    SendChannel,
    Taken,
)
from arachne.distributed.frames import (
    ANNOUNCE,
    CREDIT,
    DATA,
    PREFIX_BYTES,
    Frame,
    decode,
    encode,
    item_bytes,
)

CH = "src.out->sink.in"


def grant(ack: int, credit: int, *, epoch: int = 0, base: int = 0, durable: int = 0) -> Frame:
    return Frame(CREDIT, CH, epoch=epoch, ack=ack, credit=credit, base=base, durable=durable)


def data(seq: int, items: list[Any], **fields: Any) -> Frame:
    return Frame(DATA, CH, seq=seq, items=items, **fields)


def flat(frames: list[Frame]) -> list[Any]:
    return [item for frame in frames for item in frame.items]


# -- options ------------------------------------------------------------------------------------


def test_default_options_are_valid_and_bound_items_in_flight() -> None:
    options = LinkOptions()
    assert options.max_in_flight == options.credits * options.frame_items
    assert LinkOptions(credits=3, frame_items=5).max_in_flight == 15
    assert LinkOptions(linger=1, retransmit=2).retransmit == 2  # whole seconds are fine


@pytest.mark.parametrize("name", ["credits", "frame_items", "frame_bytes"])
@pytest.mark.parametrize("value", [0, -1, True, False, 1.5, 2.0, "2", None], ids=repr)
def test_a_count_option_that_is_not_an_int_of_at_least_one_is_refused_by_name(
    name: str, value: Any
) -> None:
    with pytest.raises(ValueError, match=rf"link option {name} must be an int >= 1"):
        LinkOptions(**{name: value})


@pytest.mark.parametrize("name", ["linger", "retransmit"])
@pytest.mark.parametrize(
    "value", [0, 0.0, -0.5, math.nan, math.inf, -math.inf, True, "1", None], ids=repr
)
def test_a_seconds_option_that_is_not_finite_and_positive_is_refused_by_name(
    name: str, value: Any
) -> None:
    with pytest.raises(ValueError, match=rf"link option {name} must be seconds > 0"):
        LinkOptions(**{name: value})


# -- the sender: cutting frames ---------------------------------------------------------------


def test_a_sender_cuts_full_frames_and_never_more_than_its_credit() -> None:
    """With credits=3 only frames 1..3 go; each full frame carries frame_items items in order."""
    sender = SendChannel(CH, LinkOptions(credits=3, frame_items=4), epoch=7)
    assert sender.credit == 3
    sender.push(list(range(20)))
    frames = sender.cut(0.0)
    assert [f.seq for f in frames] == [1, 2, 3]
    assert [f.items for f in frames] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert all(f.kind == DATA and f.channel == CH and f.epoch == 7 for f in frames)
    assert [f.backlog for f in frames] == [16, 12, 8]
    assert not any(f.end for f in frames)
    assert all(f.watermark is None for f in frames)
    assert sender.in_flight == 3
    assert sender.next_seq == 4
    assert sender.full  # 8 items (two frames' worth) wait for credit
    # no credit left: neither a full frame nor, forced, a partial one
    assert sender.cut(1.0) == []
    assert sender.cut(1.0, force=True) == []
    # one more frame of credit: exactly one more frame
    assert sender.on_credit(grant(ack=1, credit=4, epoch=7)) is True
    assert [(f.seq, f.items) for f in sender.cut(2.0)] == [(4, [12, 13, 14, 15])]
    assert sender.cut(2.0) == []


def test_a_partial_frame_goes_only_when_forced() -> None:
    sender = SendChannel(CH, LinkOptions(frame_items=4))
    sender.push([1, 2, 3])
    assert sender.has_partial
    assert not sender.full
    assert sender.cut(0.0) == []
    [frame] = sender.cut(0.0, force=True)
    assert (frame.seq, frame.items, frame.backlog) == (1, [1, 2, 3], 0)
    assert not sender.has_partial
    # nothing waiting: forcing cuts no empty frame
    assert sender.cut(0.0, force=True) == []
    assert sender.next_seq == 2


def test_full_frames_go_and_the_rest_waits_for_force() -> None:
    sender = SendChannel(CH, LinkOptions(frame_items=3))
    sender.push(list(range(7)))
    assert [f.items for f in sender.cut(0.0)] == [[0, 1, 2], [3, 4, 5]]
    assert [f.items for f in sender.cut(0.0, force=True)] == [[6]]


def test_a_frame_ends_where_a_watermark_was_pushed_and_carries_it() -> None:
    sender = SendChannel(CH, LinkOptions(frame_items=10))
    sender.push([0, 1, 2])
    sender.watermark(5.0)
    sender.push([3, 4])
    [frame] = sender.cut(0.0)  # not full, but cut at the watermark
    assert (frame.items, frame.watermark, frame.backlog) == ([0, 1, 2], 5.0, 2)
    assert sender.cut(0.0) == []  # [3, 4] is a partial frame without a mark
    [rest] = sender.cut(0.0, force=True)
    assert (rest.items, rest.watermark) == ([3, 4], None)


def test_a_watermark_with_nothing_pending_goes_as_an_empty_frame() -> None:
    sender = SendChannel(CH, LinkOptions(frame_items=10))
    sender.watermark(1.0)
    [first] = sender.cut(0.0)
    assert (first.seq, first.items, first.watermark, first.end) == (1, [], 1.0, False)
    sender.push(["a", "b"])
    assert [f.items for f in sender.cut(0.0, force=True)] == [["a", "b"]]
    sender.watermark(2.0)
    [second] = sender.cut(0.0)
    assert (second.seq, second.items, second.watermark) == (3, [], 2.0)


def test_watermarks_at_one_point_merge_into_the_highest() -> None:
    sender = SendChannel(CH, LinkOptions(frame_items=10))
    sender.push([1])
    sender.watermark(3.0)
    sender.watermark(2.0)
    sender.watermark(2.5)
    assert [(f.items, f.watermark) for f in sender.cut(0.0)] == [([1], 3.0)]


def test_a_watermark_past_a_full_frame_rides_on_the_frame_that_reaches_it() -> None:
    sender = SendChannel(CH, LinkOptions(frame_items=2, credits=10))
    sender.push(list(range(5)))
    sender.watermark(9.0)
    sender.push([5])
    frames = sender.cut(0.0)
    assert [(f.items, f.watermark) for f in frames] == [([0, 1], None), ([2, 3], None), ([4], 9.0)]


def test_watermarked_frames_wait_for_credit_like_any_other() -> None:
    sender = SendChannel(CH, LinkOptions(credits=1, frame_items=10))
    sender.push([0, 1, 2])
    sender.watermark(1.0)
    sender.push([3, 4, 5])
    sender.watermark(2.0)
    assert [(f.items, f.watermark) for f in sender.cut(0.0)] == [([0, 1, 2], 1.0)]
    assert sender.cut(0.0) == []
    sender.on_credit(grant(ack=1, credit=2))
    assert [(f.seq, f.items, f.watermark) for f in sender.cut(0.0)] == [(2, [3, 4, 5], 2.0)]


def test_frames_of_bytes_are_cut_at_frame_bytes() -> None:
    """A frame is full once its items reach frame_bytes; it overshoots by one item at most."""
    sender = SendChannel(CH, LinkOptions(frame_bytes=100, frame_items=64, credits=10))
    blobs = [bytes(22)] * 9  # 30 bytes each on the wire
    sender.push(blobs)
    assert sender.pending_bytes == 270
    frames = sender.cut(0.0)
    assert [len(f.items) for f in frames] == [4, 4]  # 90 < 100, so a fourth fits in
    assert sender.pending_bytes == 30
    assert [len(f.items) for f in sender.cut(0.0, force=True)] == [1]
    assert sender.pending_bytes == 0


def test_an_item_bigger_than_a_frame_goes_alone() -> None:
    sender = SendChannel(CH, LinkOptions(frame_bytes=10, credits=5))
    sender.push(["x" * 50, "y", "z"])
    assert [f.items for f in sender.cut(0.0)] == [["x" * 50], ["y", "z"]]


def test_the_last_frame_carries_end_after_finish() -> None:
    sender = SendChannel(CH, LinkOptions(frame_items=3, credits=10))
    sender.push(list(range(7)))
    sender.finish()
    frames = sender.cut(0.0)
    assert [(f.items, f.end) for f in frames] == [
        ([0, 1, 2], False),
        ([3, 4, 5], False),
        ([6], True),
    ]
    assert sender.end_seq == 3
    assert not sender.has_partial
    assert sender.cut(1.0, force=True) == []  # nothing after the end
    assert not sender.closed  # the end is not acknowledged yet
    sender.on_credit(grant(ack=2, credit=13))
    assert not sender.closed
    sender.on_credit(grant(ack=3, credit=13))
    assert not sender.closed  # all arrived, but the consumer has not taken it all yet
    assert sender.due(5.0)[-1].kind == ANNOUNCE  # (asking when it has)
    sender.on_credit(grant(ack=3, credit=13, durable=7))
    assert not sender.closed  # (all items, but not the end: it counts as position 8)
    sender.on_credit(grant(ack=3, credit=13, durable=8))
    assert sender.closed
    assert not sender.waiting


def test_an_end_with_nothing_left_goes_as_an_empty_end_frame() -> None:
    sender = SendChannel(CH, LinkOptions(frame_items=3))
    sender.push([1, 2, 3])
    assert [f.end for f in sender.cut(0.0)] == [False]
    sender.finish()
    [last] = sender.cut(0.0)
    assert (last.seq, last.items, last.end) == (2, [], True)


def test_a_full_last_frame_carries_end_itself() -> None:
    sender = SendChannel(CH, LinkOptions(frame_items=3))
    sender.push([1, 2, 3])
    sender.finish()
    assert [(f.items, f.end) for f in sender.cut(0.0)] == [([1, 2, 3], True)]


def test_the_end_waits_behind_a_final_watermark_and_joins_it() -> None:
    sender = SendChannel(CH, LinkOptions(frame_items=10, credits=10))
    sender.push([1, 2])
    sender.watermark(4.0)
    sender.push([3])
    sender.watermark(8.0)
    sender.finish()
    assert [(f.items, f.watermark, f.end) for f in sender.cut(0.0)] == [
        ([1, 2], 4.0, False),
        ([3], 8.0, True),
    ]


def test_the_end_waits_for_credit() -> None:
    sender = SendChannel(CH, LinkOptions(credits=1, frame_items=1))
    sender.push([1])
    sender.finish()
    assert [(f.items, f.end) for f in sender.cut(0.0)] == [([1], True)]
    other = SendChannel(CH, LinkOptions(credits=1, frame_items=1))
    other.push([1, 2])
    other.finish()
    assert [(f.items, f.end) for f in other.cut(0.0)] == [([1], False)]
    assert other.waiting
    other.on_credit(grant(ack=1, credit=2))
    assert [(f.seq, f.items, f.end) for f in other.cut(0.0)] == [(2, [2], True)]


def test_push_after_finish_is_refused_naming_the_channel() -> None:
    sender = SendChannel(CH, LinkOptions())
    sender.push([1])
    sender.finish()
    with pytest.raises(RuntimeError, match=r"src\.out->sink\.in"):
        sender.push([2])
    assert sender.pushed == 1


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("push"), st.lists(st.integers(0, 40), max_size=6)),
            st.tuples(st.just("mark"), st.integers(0, 50)),
            st.tuples(st.just("cut"), st.booleans()),
        ),
        max_size=25,
    ),
    frame_items=st.integers(1, 5),
    frame_bytes=st.integers(1, 120),
)
def test_frames_hold_every_item_once_in_order_with_each_watermark_where_it_was_pushed(
    ops: list[tuple[str, Any]], frame_items: int, frame_bytes: int
) -> None:
    """Against a model: items, watermark positions, frame size limits and the one end frame."""
    options = LinkOptions(credits=10_000, frame_items=frame_items, frame_bytes=frame_bytes)
    sender = SendChannel(CH, options)
    pushed: list[Any] = []
    # (items pushed before a watermark, the watermark): marks at one point merge into the
    # highest unless a cut sent the first one already (a cut always does: credit is ample)
    marks: list[tuple[int, float]] = []
    frames: list[Frame] = []
    cut_since_mark = False
    for op, arg in ops:
        if op == "push":
            items = [b"x" * n for n in arg]  # bytes of varied sizes exercise frame_bytes
            pushed += items
            sender.push(items)
        elif op == "mark":
            if marks and marks[-1][0] == len(pushed) and not cut_since_mark:
                marks[-1] = (len(pushed), max(arg, marks[-1][1]))
            else:
                marks.append((len(pushed), arg))
            cut_since_mark = False
            sender.watermark(float(arg))
        else:
            frames += sender.cut(0.0, force=arg)
            cut_since_mark = True
    sender.finish()
    frames += sender.cut(0.0)

    assert flat(frames) == pushed
    assert [f.seq for f in frames] == list(range(1, len(frames) + 1))
    assert [f.end for f in frames] == [False] * (len(frames) - 1) + [True]
    assert sender.pending_bytes == 0
    position, carried = 0, []
    for frame in frames:
        size = [item_bytes(item) for item in frame.items]
        assert len(frame.items) <= frame_items
        assert sum(size[:-1]) < frame_bytes  # the last item may overshoot, none after it
        position += len(frame.items)
        if frame.watermark is not None:
            carried.append((position, frame.watermark))
        if not frame.items:
            assert frame.watermark is not None or frame.end
    assert carried == marks


# -- the sender: credit, retransmission and announcements -------------------------------------


def sent(sender: SendChannel, count: int, now: float = 0.0) -> list[Frame]:
    sender.push(list(range(count * sender.options.frame_items)))
    return sender.cut(now)


def test_a_grant_acknowledges_frames_up_to_its_ack() -> None:
    sender = SendChannel(CH, LinkOptions(credits=3, frame_items=1))
    sent(sender, 3)
    assert sender.on_credit(grant(ack=2, credit=3)) is False  # acked, no new credit
    assert sender.acked == 2
    assert set(sender.unacked) == {3}
    assert sender.in_flight == 1


def test_credit_only_grows_and_a_late_or_duplicated_grant_changes_nothing() -> None:
    sender = SendChannel(CH, LinkOptions(credits=3, frame_items=1))
    sent(sender, 3)
    assert sender.on_credit(grant(ack=2, credit=5)) is True
    state = (sender.acked, sender.credit, dict(sender.unacked))
    assert sender.on_credit(grant(ack=2, credit=5)) is False  # duplicate
    assert sender.on_credit(grant(ack=1, credit=4)) is False  # late, overtaken
    assert sender.on_credit(grant(ack=0, credit=0)) is False
    assert (sender.acked, sender.credit, dict(sender.unacked)) == state
    assert [f.seq for f in sender.cut(0.0)] == []  # nothing pending: credit stays unused
    sender.push([9, 9, 9])
    assert [f.seq for f in sender.cut(0.0)] == [4, 5]


def test_a_grant_of_another_epoch_is_ignored_and_counted() -> None:
    sender = SendChannel(CH, LinkOptions(credits=2, frame_items=1), epoch=4)
    sent(sender, 3)
    assert sender.on_credit(grant(ack=2, credit=100, epoch=3)) is False
    assert sender.on_credit(grant(ack=2, credit=100, epoch=5)) is False
    assert sender.stale == 2
    assert (sender.acked, sender.credit, sorted(sender.unacked)) == (0, 2, [1, 2])
    assert sender.cut(0.0) == []
    assert sender.on_credit(grant(ack=2, credit=3, epoch=4)) is True
    assert [f.seq for f in sender.cut(0.0)] == [3]


def test_frames_unacknowledged_for_retransmit_seconds_go_again() -> None:
    sender = SendChannel(CH, LinkOptions(credits=3, frame_items=1, retransmit=1.0))
    first = sent(sender, 2, now=0.0)
    assert sender.due(0.5) == []
    assert sender.due(0.999) == []
    assert sender.due(1.0) == first  # the same frames, same seq and items
    assert sender.resent == 2
    assert sender.due(1.5) == []  # the clock restarted when they went again
    sender.push([7])
    [third] = sender.cut(1.6)
    assert sender.due(2.0) == []  # frames 1 and 2 now wait twice as long: until 3.0
    assert sender.on_credit(grant(ack=1, credit=3)) is False  # acknowledges frame 1 only
    assert sender.due(2.6) == [third]  # frame 3's first wait: 1.0
    assert [f.seq for f in sender.due(3.0)] == [2]
    assert [f.seq for f in sender.due(4.7)] == [3]  # 2.0 after 2.6
    assert sender.due(6.9) == []  # frame 2 next at 7.0 (4.0 after 3.0), frame 3 at 8.7
    assert [f.seq for f in sender.due(7.0)] == [2]
    assert sender.resent == 6
    sender.on_credit(grant(ack=3, credit=4))
    assert sender.due(100.0) == []
    assert not sender.waiting


def test_a_sender_without_credit_announces_its_backlog_once_per_interval() -> None:
    sender = SendChannel(CH, LinkOptions(credits=1, frame_items=1, retransmit=1.0), epoch=2)
    sender.push([1, 2, 3])
    assert [f.items for f in sender.cut(0.0)] == [[1]]
    # all frames acknowledged, yet no credit: the receiver's new grant must have been lost
    sender.on_credit(grant(ack=1, credit=1, epoch=2))
    [announce] = sender.due(0.0)
    assert (announce.kind, announce.channel, announce.epoch) == (ANNOUNCE, CH, 2)
    assert announce.backlog == 2
    assert announce.items == []
    assert sender.announced == 1
    assert sender.due(0.5) == []
    assert sender.due(0.99) == []
    [again] = sender.due(1.0)
    assert (again.kind, again.backlog) == (ANNOUNCE, 2)
    assert sender.announced == 2
    assert sender.resent == 0
    sender.on_credit(grant(ack=1, credit=2, epoch=2))
    assert [f.items for f in sender.cut(1.2)] == [[2]]
    assert sender.due(5.0) == [
        Frame(DATA, CH, seq=2, epoch=2, backlog=1, items=[2]),
        Frame(ANNOUNCE, CH, epoch=2, backlog=1),
    ]


def test_an_unacknowledged_frame_and_an_announcement_go_together() -> None:
    sender = SendChannel(CH, LinkOptions(credits=1, frame_items=1, retransmit=1.0))
    sender.push([1, 2])
    [first] = sender.cut(0.0)
    out = sender.due(1.0)
    assert [f.kind for f in out] == [DATA, ANNOUNCE]
    assert out[0] is first


def test_a_finished_sender_without_credit_for_its_end_announces() -> None:
    sender = SendChannel(CH, LinkOptions(credits=1, frame_items=1, retransmit=1.0))
    sender.push([1])
    sender.cut(0.0, force=True)
    sender.on_credit(grant(ack=1, credit=1))
    assert sender.due(10.0) == []  # nothing waits: nothing to announce
    sender.finish()
    assert sender.cut(10.0) == []
    assert sender.waiting
    [announce] = sender.due(10.0)
    assert (announce.kind, announce.backlog) == (ANNOUNCE, 1)


def test_a_sender_with_credit_does_not_announce() -> None:
    sender = SendChannel(CH, LinkOptions(credits=2, frame_items=4, retransmit=1.0))
    sender.push([1, 2])  # a partial frame: linger's business, not an announcement's
    assert sender.due(10.0) == []
    assert sender.announced == 0


# -- the receiver -------------------------------------------------------------------------------


def test_frames_out_of_order_are_put_back_in_order() -> None:
    receiver = ReceiveChannel(CH, LinkOptions(credits=4))
    assert receiver.on_data(data(3, [5, 6])) is True
    assert receiver.on_data(data(2, [3, 4])) is True
    assert not receiver.has_items  # frame 1 is missing
    assert receiver.take(100) == Taken([])
    assert receiver.grant().ack == 0
    assert receiver.unconsumed == 2
    assert receiver.on_data(data(1, [1, 2])) is True
    assert receiver.has_items
    assert receiver.grant().ack == 3
    assert receiver.take(100) == Taken([1, 2, 3, 4, 5, 6])
    assert receiver.consumed == 3
    assert receiver.received == 3
    assert receiver.unconsumed == 0


def test_duplicates_are_dropped_and_counted() -> None:
    receiver = ReceiveChannel(CH, LinkOptions(credits=4))
    assert receiver.on_data(data(1, [1]))
    assert not receiver.on_data(data(1, [1]))  # ready, not taken
    assert receiver.on_data(data(3, [3]))
    assert not receiver.on_data(data(3, [3]))  # held behind a gap
    assert receiver.take(10).items == [1]
    assert not receiver.on_data(data(1, [1]))  # taken already
    assert receiver.duplicates == 3
    assert receiver.received == 2
    assert receiver.on_data(data(2, [2]))
    assert receiver.take(10).items == [2, 3]


def test_a_frame_of_another_epoch_is_refused_as_stale() -> None:
    receiver = ReceiveChannel(CH, LinkOptions(), epoch=1)
    assert receiver.on_data(Frame(DATA, CH, seq=1, epoch=0, items=["old"])) is False
    assert receiver.on_data(Frame(DATA, CH, seq=1, epoch=2, items=["new"])) is False
    assert receiver.stale == 2
    assert receiver.received == 0
    assert not receiver.has_items
    assert receiver.on_data(Frame(DATA, CH, seq=1, epoch=1, items=["mine"])) is True
    assert receiver.take(10).items == ["mine"]


def test_a_frame_beyond_the_credit_is_refused_as_an_overrun() -> None:
    receiver = ReceiveChannel(CH, LinkOptions(credits=2))
    assert receiver.credit == 2
    assert receiver.on_data(data(3, [3])) is False
    assert receiver.overrun == 1
    assert receiver.on_data(data(1, [1])) is True
    assert receiver.on_data(data(2, [2])) is True
    assert receiver.on_data(data(3, [3])) is False  # still not granted
    assert receiver.overrun == 2
    receiver.take(1)  # frame 1 taken: credit 3
    assert receiver.credit == 3
    assert receiver.on_data(data(3, [3])) is True
    assert receiver.on_data(data(5, [5])) is False
    assert receiver.overrun == 3


def test_take_hands_items_in_order_across_frames_and_partial_frames() -> None:
    receiver = ReceiveChannel(CH, LinkOptions(credits=4))
    receiver.on_data(data(1, [0, 1, 2]))
    receiver.on_data(data(2, [3, 4], watermark=7.0))
    receiver.on_data(data(3, [5], end=True))
    assert receiver.take(2) == Taken([0, 1])
    assert receiver.consumed == 0  # frame 1 is not taken entirely
    assert receiver.credit == 4
    assert receiver.take(2) == Taken([2, 3])  # frame 2's watermark holds after item 4 only
    assert receiver.consumed == 1
    assert receiver.credit == 5
    assert not receiver.ended
    assert receiver.take(10) == Taken([4], watermark=7.0)  # stops after the watermark
    assert not receiver.ended
    assert receiver.take(10) == Taken([5], end=True)
    assert receiver.ended
    assert receiver.consumed == 3
    assert not receiver.has_items
    assert receiver.take(10) == Taken([])


def test_take_stops_after_each_watermark_and_passes_empty_frames() -> None:
    """What follows a watermark is never handed over with it: it must go on after it."""
    receiver = ReceiveChannel(CH, LinkOptions(credits=4))
    receiver.on_data(data(1, [1], watermark=1.0))
    receiver.on_data(data(2, [], watermark=2.0))
    receiver.on_data(data(3, [2], watermark=3.0))
    assert receiver.take(10) == Taken([1], watermark=1.0)
    assert receiver.take(10) == Taken([], watermark=2.0)
    assert receiver.take(10) == Taken([2], watermark=3.0)
    receiver.on_data(data(4, [], watermark=4.0))
    assert receiver.has_items
    assert receiver.take(10) == Taken([], watermark=4.0)
    receiver.on_data(data(5, [], end=True))
    assert receiver.take(10) == Taken([], end=True)
    assert receiver.ended
    assert receiver.consumed == 5


def test_take_stops_at_the_end_frame() -> None:
    receiver = ReceiveChannel(CH, LinkOptions(credits=4))
    receiver.on_data(data(1, [1, 2], end=True))
    assert receiver.take(1) == Taken([1])
    assert receiver.take(1) == Taken([2], end=True)


def test_credit_is_consumed_plus_credits_and_the_grant_says_so() -> None:
    receiver = ReceiveChannel(CH, LinkOptions(credits=3), epoch=9)
    assert receiver.grant() == Frame(CREDIT, CH, epoch=9, ack=0, credit=3)
    for seq in (1, 2, 3):
        receiver.on_data(Frame(DATA, CH, seq=seq, epoch=9, items=[seq]))
    # received but not taken: acknowledged, no new credit
    assert receiver.grant() == Frame(CREDIT, CH, epoch=9, ack=3, credit=3)
    receiver.take(2)
    assert (receiver.consumed, receiver.credit) == (2, 5)
    g = receiver.grant()
    assert (g.kind, g.channel, g.epoch, g.ack, g.credit) == (CREDIT, CH, 9, 3, 5)
    assert (g.seq, g.backlog, g.items, g.end, g.watermark) == (0, 0, [], False, None)


# -- a lossy network between the two ends ------------------------------------------------------


def wire(frame: Frame) -> Frame:
    """Return a copy of ``frame`` as the peer sees it (through the bytes, nothing shared)."""
    return decode(encode(frame)[PREFIX_BYTES:])


class Link:
    """One sender, one receiver and the frames in transit between them, driven by hand.

    It acts as ``arachne.distributed.host`` does: the receiver answers every data frame and
    announcement with its grant, and grants again when its consumer takes a frame entirely;
    the sender cuts what it may whenever a grant arrives or items are pushed.
    """

    def __init__(self, options: LinkOptions) -> None:
        self.options = options
        self.sender = SendChannel(CH, options)
        self.receiver = ReceiveChannel(CH, options)
        self.forward: list[Frame] = []  # data and announcements, towards the receiver
        self.back: list[Frame] = []  # grants, towards the sender
        self.now = 0.0
        self.pushed: list[int] = []
        self.taken: list[int] = []
        self.watermarks: list[float] = []
        self.ends = 0

    # -- the producer and the sender's timers

    def push(self, count: int) -> None:
        items = list(range(len(self.pushed), len(self.pushed) + count))
        self.pushed += items
        self.sender.push(items)
        self.forward += self.sender.cut(self.now)

    def linger(self) -> None:
        self.forward += self.sender.cut(self.now, force=True)

    def finish(self) -> None:
        if not self.sender.ending:
            self.sender.finish()
            self.forward += self.sender.cut(self.now)

    def tick(self, times: int = 1) -> None:
        self.now += self.options.retransmit * times
        self.forward += self.sender.due(self.now)

    # -- the consumer

    def take(self, limit: int) -> None:
        before = self.receiver.consumed
        taken = self.receiver.take(limit)
        assert len(taken.items) <= limit
        self.taken += taken.items
        if taken.watermark is not None:
            self.watermarks.append(taken.watermark)
        self.ends += taken.end
        if self.receiver.consumed != before:
            self.back.append(self.receiver.grant())

    # -- the network

    def deliver_forward(self, index: int) -> None:
        frame = wire(self.forward.pop(index))
        if frame.kind == DATA:
            self.receiver.on_data(frame)
        self.back.append(self.receiver.grant())

    def deliver_back(self, index: int) -> None:
        self.sender.on_credit(wire(self.back.pop(index)))
        self.forward += self.sender.cut(self.now)

    def inject_stale(self) -> None:
        """Frames of an older epoch: a grant acking all and crediting more than the receiver
        does, and data the receiver must never hand over."""
        ack, credit = self.sender.next_seq - 1, self.receiver.credit + 3
        self.back.append(grant(ack=ack, credit=credit, epoch=1))
        self.forward.append(Frame(DATA, CH, seq=self.receiver.expected, epoch=1, items=[-1]))

    def check(self) -> None:
        sender, receiver, credits = self.sender, self.receiver, self.options.credits
        assert (sender.next_seq - 1) - receiver.consumed <= credits
        assert sender.in_flight <= credits
        assert sender.credit <= receiver.credit
        assert receiver.unconsumed <= credits
        assert receiver.overrun == 0
        assert self.taken == self.pushed[: len(self.taken)]
        assert self.ends <= 1
        assert self.watermarks == []  # this simulation pushes none

    def settle(self) -> None:
        """Deliver everything in transit, in order, and let the consumer take all it can."""
        while self.forward or self.back or self.receiver.has_items:
            while self.forward:
                self.deliver_forward(0)
                self.check()
            while self.back:
                self.deliver_back(0)
                self.check()
            self.take(10**9)
            self.check()

    @property
    def done(self) -> bool:
        return (
            self.ends == 1
            and self.receiver.ended
            and self.sender.closed
            and not self.sender.waiting
            and self.taken == self.pushed
        )

    def heal(self, rounds: int = 8) -> int:
        """Run without loss until the channel closes; return the rounds (retransmissions) taken."""
        for round_ in range(rounds):
            self.settle()
            if self.taken == self.pushed:
                self.finish()
            self.linger()
            self.settle()
            if self.done:
                return round_
            self.tick(MAX_BACKOFF)  # (long enough for any frame's resend, however backed off)
            self.check()
        raise AssertionError(
            f"the link did not heal in {rounds} rounds: pushed {len(self.pushed)}, "
            f"taken {len(self.taken)}, sender next_seq={self.sender.next_seq} "
            f"credit={self.sender.credit} acked={self.sender.acked} "
            f"end_seq={self.sender.end_seq}, receiver consumed={self.receiver.consumed} "
            f"ended={self.receiver.ended}"
        )


ACTIONS = (
    "push",
    "push",
    "linger",
    "deliver",
    "deliver",
    "drop",
    "duplicate",
    "take",
    "take",
    "grant",
    "grant",
    "drop_grant",
    "duplicate_grant",
    "tick",
    "stale",
    "finish",
)
# Grants are lost most of the time: only announcements and retransmissions get them through.
GRANT_LOSS = (
    "push",
    "deliver",
    "drop",
    "take",
    "take",
    "grant",
    "drop_grant",
    "drop_grant",
    "drop_grant",
    "drop_grant",
    "duplicate_grant",
    "tick",
    "linger",
)


def drive(link: Link, draw: Any, actions: tuple[str, ...], steps: int) -> None:
    """Run ``steps`` drawn actions on ``link``, checking the invariants after each."""
    for _ in range(steps):
        action = draw(st.sampled_from(actions))
        if action == "push" and not link.sender.ending:
            link.push(draw(st.integers(0, 4)))
        elif action == "linger":
            link.linger()
        elif action == "finish":
            link.finish()
        elif action == "tick":
            link.tick()
        elif action == "take":
            link.take(draw(st.integers(0, 6)))
        elif action == "stale":
            link.inject_stale()
        elif action in ("deliver", "drop", "duplicate") and link.forward:
            index = draw(st.integers(0, len(link.forward) - 1))  # any frame: reordering
            if action == "deliver":
                link.deliver_forward(index)
            elif action == "drop":
                link.forward.pop(index)
            else:
                link.forward.append(link.forward[index])
        elif action in ("grant", "drop_grant", "duplicate_grant") and link.back:
            index = draw(st.integers(0, len(link.back) - 1))
            if action == "grant":
                link.deliver_back(index)
            elif action == "drop_grant":
                link.back.pop(index)
            else:
                link.back.append(link.back[index])
        link.check()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.integers(1, 4),
    st.integers(1, 4),
    st.sampled_from([32 * 1024, 100]),
    st.integers(0, 60),
)
def test_a_lossy_link_hands_over_every_item_exactly_once_in_order(
    data: st.DataObject, credits: int, frame_items: int, frame_bytes: int, steps: int
) -> None:
    """Loss, duplication and reordering both ways: in-flight bound and order hold throughout,
    and once the network heals every pushed item is taken exactly once and the link closes."""
    link = Link(LinkOptions(credits=credits, frame_items=frame_items, frame_bytes=frame_bytes))
    drive(link, data.draw, ACTIONS, steps)
    link.heal()
    assert link.taken == link.pushed
    assert link.receiver.ended
    assert link.sender.closed


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 80))
def test_a_one_frame_credit_with_grants_mostly_lost_never_deadlocks(
    data: st.DataObject, steps: int
) -> None:
    """credits=1, frame_items=1: each lost grant is recovered by an announcement or a resend."""
    link = Link(LinkOptions(credits=1, frame_items=1))
    drive(link, data.draw, GRANT_LOSS, steps)
    assert link.sender.in_flight <= 1
    link.heal()
    assert link.taken == link.pushed
    assert link.receiver.ended
    assert link.sender.closed


def test_every_grant_lost_after_a_take_is_made_good_by_the_announcement() -> None:
    """The consumer takes, its grant is lost; the sender, starved, announces and gets it again."""
    link = Link(LinkOptions(credits=1, frame_items=1, retransmit=1.0))
    link.push(5)
    for expected in range(4):
        assert [f.seq for f in link.forward] == [expected + 1]
        link.deliver_forward(0)
        link.deliver_back(0)  # the ack: no new credit yet
        link.take(1)
        assert link.taken == list(range(expected + 1))
        link.back.clear()  # the grant after the take is lost
        assert link.forward == []
        link.tick()  # starved: an announcement, nothing to resend
        [announce] = link.forward
        assert announce.kind == ANNOUNCE
        link.deliver_forward(0)  # answered with the grant
        link.deliver_back(0)  # which brings the next frame out
        link.check()
    assert link.sender.announced == 4
    link.deliver_forward(0)
    link.deliver_back(0)
    link.take(1)
    link.back.clear()
    link.tick()
    assert link.forward == []  # nothing waits: no announcement
    assert link.sender.announced == 4
    assert link.sender.resent == 0
    link.finish()
    link.tick()
    assert [f.kind for f in link.forward] == [ANNOUNCE]  # the end waits for credit
    link.heal()
    assert link.taken == list(range(5))


def test_a_lost_end_frame_and_its_lost_ack_are_both_resent() -> None:
    link = Link(LinkOptions(credits=2, frame_items=2, retransmit=1.0))
    link.push(3)
    link.finish()
    assert [(f.items, f.end) for f in link.forward] == [([0, 1], False), ([2], True)]
    link.forward.pop()  # the end frame is lost
    link.deliver_forward(0)
    link.back.clear()  # and so is the ack of the first
    link.take(10)
    link.back.clear()
    link.tick()
    assert [f.seq for f in link.forward] == [1, 2]
    link.settle()
    assert link.taken == [0, 1, 2]
    assert link.receiver.ended
    assert link.sender.closed
    assert link.receiver.duplicates == 1


def test_an_ack_past_what_was_sent_acknowledges_only_what_was_sent() -> None:
    """A grant that claims more than was sent cannot make frames in flight negative."""
    sender = SendChannel(CH, LinkOptions(credits=4, frame_items=1))
    sender.push([1, 2])
    sender.cut(0.0)
    sender.on_credit(grant(ack=10**12, credit=6))
    assert sender.acked == 2
    assert sender.in_flight == 0
    assert not sender.unacked


def test_a_receiver_restarted_from_its_checkpoint_is_sent_the_watermarks_again() -> None:
    """Watermark 100 held after item 6; the receiver restarts from 3: 4-6, then 100, again."""
    options = LinkOptions(credits=10, frame_items=4)
    sender = SendChannel(CH, options)
    receiver = ReceiveChannel(CH, options, checkpointed=True)
    sender.push([1, 2, 3, 4, 5, 6])
    sender.watermark(100.0)
    sender.push([7, 8, 9, 10])
    for frame in sender.cut(0.0, force=True):
        receiver.on_data(frame)
    while receiver.has_items:
        receiver.take(100)
    sender.on_credit(receiver.grant())
    restarted = ReceiveChannel(CH, options, epoch=1, checkpointed=True)
    restarted.restore(3)
    sender.reset(1)
    sender.on_credit(restarted.grant())
    for frame in sender.cut(0.0, force=True):
        restarted.on_data(frame)
    taken = []
    while restarted.has_items:
        got = restarted.take(100)
        taken.append((got.items, got.watermark))
    assert taken == [([4, 5, 6], 100.0), ([7, 8, 9, 10], None)]


def test_a_producer_s_checkpoint_keeps_what_was_not_taken_and_its_watermarks() -> None:
    options = LinkOptions(credits=10, frame_items=2)
    sender = SendChannel(CH, options)
    sender.push(["a", "b"])
    sender.watermark(5.0)
    sender.push(["c"])
    frames = sender.cut(0.0, force=True)
    sender.on_credit(grant(ack=len(frames), credit=1 + options.credits))  # (frame 1 taken)
    pushed, start, items, marks = sender.kept()
    assert (pushed, start, items, marks) == (3, 2, ["c"], [(2, 5.0)])
    again = SendChannel(CH, options, epoch=1, based=False)
    again.restore(pushed, start, items, marks)
    again.on_credit(grant(ack=0, credit=options.credits, epoch=1, base=2))
    first, second = again.cut(0.0, force=True)
    assert (first.items, first.watermark) == ([], 5.0)  # (the watermark first, where it was)
    assert (second.items, second.watermark) == (["c"], None)
