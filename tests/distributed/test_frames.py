"""Frames: every kind survives the wire, and bytes that are no frame are refused by name."""

from __future__ import annotations

import math
import struct
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arachne.distributed.frames import (
    ANNOUNCE,
    CREDIT,
    DATA,
    MAX_FRAME_BYTES,
    PREFIX_BYTES,
    Frame,
    FrameError,
    decode,
    encode,
    frame_length,
    item_bytes,
)
from arachne.model.message import EMPTY_HEADERS, Message

# Plain data as it comes back from MessagePack: lists (not tuples), str keys, no NaN (NaN is
# carried, but never equal to itself, so it is checked apart).
plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)
headers = st.dictionaries(
    st.sampled_from(["trace_id", "ts", "seq", "content_type", "x-custom"]), plain, max_size=3
)
messages = st.builds(Message, plain, headers)
items = st.lists(plain | messages, max_size=6)
counts = st.integers(0, 2**32)


def wire(frame: Frame) -> Frame:
    """Return ``frame`` after a trip through bytes: encode, read the prefix, decode the body."""
    data = encode(frame)
    assert frame_length(data[:PREFIX_BYTES]) == len(data) - PREFIX_BYTES
    return decode(data[PREFIX_BYTES:])


def body(*fields: Any) -> bytes:
    """Return a frame body holding exactly ``fields`` (what a broken or hostile peer sends)."""
    return msgspec.msgpack.encode(list(fields))


GOOD = (DATA, "ch", 1, 0, 0, 0, 0, [], False, None, 0, 0)


def replaced(index: int, value: Any) -> bytes:
    fields = list(GOOD)
    fields[index] = value
    return body(*fields)


def assert_same_items(got: list[Any], sent: list[Any]) -> None:
    assert len(got) == len(sent)
    for g, s in zip(got, sent, strict=True):
        if type(s) is Message:
            assert type(g) is Message
            assert g.payload == s.payload
            assert dict(g.headers) == dict(s.headers)
        else:
            assert type(g) is not Message
            assert g == s


# -- round trips --------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from([DATA, CREDIT, ANNOUNCE]),
    channel=st.text(max_size=12),
    seq=counts,
    epoch=counts,
    ack=counts,
    credit=counts,
    backlog=counts,
    sent=items,
    end=st.booleans(),
    watermark=st.none() | st.floats(allow_nan=False) | st.integers(0, 2**40),
)
def test_every_frame_kind_round_trips_with_its_fields_and_items(
    kind: int,
    channel: str,
    seq: int,
    epoch: int,
    ack: int,
    credit: int,
    backlog: int,
    sent: list[Any],
    end: bool,
    watermark: float | None,
) -> None:
    """Every field comes back equal; Message items come back as Messages with their headers."""
    frame = Frame(kind, channel, seq, epoch, ack, credit, backlog, list(sent), end, watermark)
    got = wire(frame)
    assert (got.kind, got.channel, got.seq, got.epoch, got.ack, got.credit, got.backlog) == (
        kind,
        channel,
        seq,
        epoch,
        ack,
        credit,
        backlog,
    )
    assert got.end is end
    assert got.watermark == watermark
    assert_same_items(got.items, sent)


def test_each_kind_round_trips_with_defaults() -> None:
    """A grant, an announcement and an empty end frame come back as they were sent."""
    grant = Frame(CREDIT, "a->b", epoch=3, ack=7, credit=11)
    announce = Frame(ANNOUNCE, "a->b", epoch=3, backlog=5)
    last = Frame(DATA, "a->b", seq=9, epoch=3, end=True, watermark=12.5)
    for frame in (grant, announce, last):
        assert wire(frame) == frame


def test_a_message_item_keeps_its_payload_and_headers() -> None:
    """Headers travel with a message; a message without headers comes back without any."""
    traced = Message({"v": [1, 2]}, trace_id="t-1", ts=123, seq=4)
    bare = Message(b"raw")
    got = wire(Frame(DATA, "c", seq=1, items=[traced, bare, {"plain": True}])).items
    assert type(got[0]) is Message
    assert got[0].payload == {"v": [1, 2]}
    assert dict(got[0].headers) == {"trace_id": "t-1", "ts": 123, "seq": 4}
    assert got[0].trace_id == "t-1"
    assert type(got[1]) is Message
    assert got[1].payload == b"raw"
    assert got[1].headers is EMPTY_HEADERS
    assert got[2] == {"plain": True}


def test_a_message_inside_plain_data_comes_back_as_a_message() -> None:
    """A Message nested in a list or dict item is still a Message after the trip."""
    got = wire(Frame(DATA, "c", items=[[Message(1, seq=2)], {"m": Message("x")}])).items
    assert got == [[Message(1, seq=2)], {"m": Message("x")}]


def test_a_message_inside_a_message_comes_back_as_a_message() -> None:
    """A Message whose payload (or a header) is a Message survives: no raw Ext leaks out."""
    inner = Message(1, trace_id="x")
    got = wire(Frame(DATA, "c", items=[Message(inner, seq=2), Message(0, link=inner)])).items
    assert got[0].payload == inner
    assert got[1].headers["link"] == inner


def test_an_unknown_extension_inside_a_message_item_is_refused() -> None:
    """A peer cannot slip an extension past the decoder by nesting it in a Message item."""
    hidden = msgspec.msgpack.Ext(9, b"\x00")
    ext = msgspec.msgpack.Ext(1, msgspec.msgpack.encode([[hidden], {}]))
    with pytest.raises(FrameError):
        decode(replaced(7, [ext]))


def test_nan_and_infinite_watermarks_and_floats_travel() -> None:
    """Floats are carried bit for bit, NaN and infinities included."""
    got = wire(Frame(DATA, "c", items=[math.inf, -math.inf, math.nan], watermark=math.inf))
    assert got.watermark == math.inf
    assert got.items[:2] == [math.inf, -math.inf]
    assert math.isnan(got.items[2])


# -- what cannot be encoded ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "item",
    [object(), {1, 2j}, Message(object()), Message(1, headers={"k": object()}), [1, object()]],
    ids=["object", "complex-in-set", "message-payload", "message-header", "nested"],
)
def test_an_item_that_is_not_plain_data_is_refused_naming_the_channel(item: Any) -> None:
    """FrameError names the channel and says to send plain data."""
    with pytest.raises(FrameError, match=r"channel 'orders->sink'.*plain data"):
        encode(Frame(DATA, "orders->sink", seq=1, items=[item]))


def test_an_int_out_of_the_wire_range_is_refused_as_a_frame_error() -> None:
    """An int MessagePack cannot carry is refused like any other item that cannot cross."""
    with pytest.raises(FrameError, match="channel 'c'"):
        encode(Frame(DATA, "c", seq=1, items=[2**70]))


# -- what decode refuses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", b"\x93\x01", b"garbage!", body(*GOOD) + b"\x00", b"\xd4\x05\x00"],
    ids=["empty", "bad-opcode", "truncated", "text", "trailing", "unknown-ext"],
)
def test_bytes_that_are_no_msgpack_frame_are_refused(data: bytes) -> None:
    with pytest.raises(FrameError):
        decode(data)


def test_the_good_body_used_below_decodes() -> None:
    """The reference body is valid, so each refusal below is due to the one field changed."""
    assert decode(body(*GOOD)) == Frame(DATA, "ch", seq=1)


@pytest.mark.parametrize(
    "data",
    [
        msgspec.msgpack.encode(5),
        msgspec.msgpack.encode({"kind": 0}),
        body(*GOOD[:11]),
        body(*GOOD, None),
        body(),
    ],
    ids=["int", "map", "nine-fields", "eleven-fields", "no-fields"],
)
def test_a_body_of_the_wrong_shape_is_refused(data: bytes) -> None:
    with pytest.raises(FrameError, match="shape"):
        decode(data)


@pytest.mark.parametrize("index", [0, 2, 3, 4, 5, 6], ids=str)
@pytest.mark.parametrize("value", [-1, 1.0, True, "1", None], ids=repr)
def test_counts_that_are_not_ints_at_least_zero_are_refused(index: int, value: Any) -> None:
    """kind, seq, epoch, ack, credit and backlog must be ints >= 0 (a bool is none)."""
    with pytest.raises(FrameError, match="counts"):
        decode(replaced(index, value))


@pytest.mark.parametrize("kind", [6, 7, 255])
def test_an_unknown_kind_is_refused(kind: int) -> None:
    with pytest.raises(FrameError, match="unknown kind"):
        decode(replaced(0, kind))


@pytest.mark.parametrize(
    ("index", "value"),
    [(1, 5), (1, None), (1, b"ch"), (7, {}), (7, "items"), (7, None), (8, 1), (8, 0), (8, None)],
    ids=[
        "channel-int",
        "channel-none",
        "channel-bytes",
        "items-map",
        "items-str",
        "items-none",
        "end-1",
        "end-0",
        "end-none",
    ],
)
def test_a_bad_channel_items_or_end_field_is_refused(index: int, value: Any) -> None:
    """The channel is a str, items a list and end a real bool."""
    with pytest.raises(FrameError, match="channel, items or end"):
        decode(replaced(index, value))


@pytest.mark.parametrize("value", ["1.5", b"1", [1.0], {"t": 1}, True], ids=repr)
def test_a_watermark_that_is_not_a_number_is_refused(value: Any) -> None:
    with pytest.raises(FrameError, match="watermark"):
        decode(replaced(9, value))


@pytest.mark.parametrize(
    "ext",
    [
        msgspec.msgpack.Ext(1, msgspec.msgpack.encode([1, [("k", 1)]])),  # headers no mapping
        msgspec.msgpack.Ext(1, msgspec.msgpack.encode([1, {1: 2}])),  # header key no str
        msgspec.msgpack.Ext(1, msgspec.msgpack.encode([1, {}, 3])),  # three fields
        msgspec.msgpack.Ext(1, msgspec.msgpack.encode(7)),  # no pair at all
        msgspec.msgpack.Ext(1, b"\xc1"),  # no msgpack
        msgspec.msgpack.Ext(9, b"\x00"),  # an extension no version defines
    ],
    ids=["headers-list", "header-key-int", "three-fields", "scalar", "garbage", "unknown-code"],
)
def test_a_malformed_message_item_is_refused(ext: msgspec.msgpack.Ext) -> None:
    with pytest.raises(FrameError):
        decode(replaced(7, [ext]))


# -- the length prefix and item sizes -----------------------------------------------------------


def test_the_prefix_announces_the_body_length_up_to_the_limit() -> None:
    data = encode(Frame(DATA, "c", seq=1, items=list(range(100))))
    assert PREFIX_BYTES == 4
    assert frame_length(data[:PREFIX_BYTES]) == len(data) - PREFIX_BYTES
    assert frame_length(struct.pack("!I", 0)) == 0
    assert frame_length(struct.pack("!I", MAX_FRAME_BYTES)) == MAX_FRAME_BYTES


@pytest.mark.parametrize("length", [MAX_FRAME_BYTES + 1, 2**32 - 1])
def test_a_prefix_over_the_limit_is_refused(length: int) -> None:
    with pytest.raises(FrameError, match=str(length)):
        frame_length(struct.pack("!I", length))


@pytest.mark.parametrize(
    ("item", "size"),
    [
        (b"", 8),
        (b"abcd", 12),
        (bytearray(10), 18),
        ("", 8),
        ("hello", 13),
        (Message(b"xyz", trace_id="t"), 11),
        (Message("ab"), 10),
        (None, 64),
        (12345, 64),
        (1.5, 64),
        ([b"abcd"] * 100, 64),
        ({"k": "v" * 1000}, 64),
        (Message([1, 2, 3]), 64),
    ],
    ids=repr,
)
def test_item_bytes_counts_bytes_and_str_by_length_and_anything_else_flat(
    item: Any, size: int
) -> None:
    """bytes, bytearray and str (bare or a Message's payload) weigh len + 8; the rest 64."""
    assert item_bytes(item) == size


def test_an_item_nested_past_any_sane_depth_is_refused_as_a_frame_error() -> None:
    """A list inside itself cannot be encoded: a FrameError naming the channel, not a crash."""
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(FrameError, match="channel 'c'"):
        encode(Frame(DATA, "c", items=[loop]))
