"""Frames: what a mesh link puts on the wire, and the bytes they travel as between processes.

A frame is one of six kinds. ``DATA`` carries a batch of items of one channel, numbered by
``seq`` (1, 2, ...), with ``end`` on the last frame a channel will ever send and an optional
``watermark`` that holds after its items; the sender's ``backlog`` (items waiting behind it)
rides along. ``CREDIT`` goes back: ``ack`` is the highest sequence number received with none
missing before it, ``credit`` the highest the sender may send (an absolute number, so a
duplicated or late grant changes nothing). ``ANNOUNCE`` is a sender with items waiting and no
credit saying so, which the receiver answers with its current grant: without it a lost grant
would leave both sides waiting for each other. ``HEARTBEAT`` (no channel) says a host is alive
to each peer it has links with; its ``epoch`` is the host's incarnation (0, then one more at
each restart). Every other frame carries its channel's ``epoch`` (the incarnations of both
ends), and a side that runs under another epoch drops it as stale. A grant also says where
its channel's items stand: ``base``, the position (items handed over since the channel
began) this epoch's frames start after, and ``durable``, the position up to which the
receiver will never ask for items again (its checkpoint covers them); its ``items`` are the
positions of lent payloads the receiver let go (see ``arachne.distributed.payloads``).
Two more kinds serve lazy payloads: ``FETCH`` asks a channel's sender for the payload lent at
position ``seq``; ``PAYLOAD`` answers with it as the one item (or none, with ``end``: gone).

Between processes frames travel as MessagePack (``msgspec``), length-prefixed, decoded into
plain data only: a peer can never make the decoder build an object of its choosing. An item
that is a ``Message`` travels with its headers; any other item must be plain data (numbers,
strings, bytes, lists, dicts, ``None``), which :func:`encode` checks, naming the channel. A
lent payload's handle travels as its position, size and kind; a lazy payload a node opened
travels as its value (one not opened cannot cross a second link).
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from arachne.distributed.payloads import PayloadRef
from arachne.model.message import EMPTY_HEADERS, Headers, Message
from arachne.model.payloads import LazyPayload

__all__ = [
    "ANNOUNCE",
    "CREDIT",
    "DATA",
    "FETCH",
    "HEARTBEAT",
    "MAX_FRAME_BYTES",
    "PAYLOAD",
    "PREFIX_BYTES",
    "Frame",
    "FrameError",
    "decode",
    "encode",
    "frame_length",
    "item_bytes",
    "pack_items",
    "unpack_items",
]

DATA: Final = 0
CREDIT: Final = 1
ANNOUNCE: Final = 2
HEARTBEAT: Final = 3
FETCH: Final = 4
PAYLOAD: Final = 5

MAX_FRAME_BYTES: Final = 64 << 20
"""The largest encoded frame a peer may send (64 MiB): a longer length prefix is refused."""

_HEADER: Final = struct.Struct("!I")
_MESSAGE: Final = 1  # the extension code of an item that is a Message (payload and headers)
_REF: Final = 2  # the extension code of a lent payload's handle (position, size, text)


class FrameError(ValueError):
    """A frame that cannot be encoded, or bytes from a peer that are no valid frame."""


@dataclass(slots=True)
class Frame:
    """One frame of one channel (see the module's docstring for the fields)."""

    kind: int
    channel: str
    seq: int = 0
    epoch: int = 0
    ack: int = 0
    credit: int = 0
    backlog: int = 0
    items: list[Any] = field(default_factory=list)
    end: bool = False
    watermark: float | None = None
    base: int = 0
    durable: int = 0


def item_bytes(item: Any) -> int:
    """Return roughly how many bytes ``item`` takes on the wire (what frame sizes count)."""
    payload = item.payload if type(item) is Message else item
    if isinstance(payload, bytes | str | bytearray):
        return len(payload) + 8
    return 64


def _enc_hook(value: Any) -> Any:
    if type(value) is Message:
        headers = dict(value.headers) if value.headers is not EMPTY_HEADERS else {}
        return msgspec.msgpack.Ext(_MESSAGE, _ENCODER.encode([value.payload, headers]))
    if type(value) is PayloadRef and value.stored is None:
        return msgspec.msgpack.Ext(_REF, _ENCODER.encode([value.position, value.size, value.text]))
    if type(value) is LazyPayload:
        if value.opened:
            return value.value
        raise TypeError(
            "a lazy payload that was not opened cannot cross a second link; open it first "
            "(await arachne.open_payload(payload))"
        )
    raise NotImplementedError(type(value).__name__)


def _ext_hook(code: int, data: memoryview) -> Any:
    if code == _REF:
        fields = _DECODER.decode(data)
        if (
            not isinstance(fields, list)
            or len(fields) != 3
            or not all(type(v) is int and v >= 0 for v in fields[:2])
            or type(fields[2]) is not bool
        ):
            raise FrameError("a lent payload's handle must be [position, size, text]")
        return PayloadRef(fields[0], fields[1], fields[2])
    if code != _MESSAGE:
        raise FrameError(f"unknown item extension {code} in a frame; peers must run one version")
    payload, headers = _DECODER.decode(data)  # (the same hook: nested items are checked)
    if not isinstance(headers, dict):
        raise FrameError("a message item's headers are no mapping")
    return Message(payload, Headers(headers)) if headers else Message(payload)


_ENCODER: Final = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_DECODER: Final = msgspec.msgpack.Decoder(ext_hook=_ext_hook)


def encode(frame: Frame) -> bytearray:
    """Return ``frame`` as a length-prefixed MessagePack record."""
    out = bytearray(_HEADER.size)
    try:
        _ENCODER.encode_into(
            (
                frame.kind,
                frame.channel,
                frame.seq,
                frame.epoch,
                frame.ack,
                frame.credit,
                frame.backlog,
                frame.items,
                frame.end,
                frame.watermark,
                frame.base,
                frame.durable,
            ),
            out,
            _HEADER.size,
        )
    except (TypeError, NotImplementedError, OverflowError, ValueError, RecursionError) as exc:
        raise FrameError(
            f"channel {frame.channel!r}: an item cannot cross to another process ({exc}); "
            "send plain data (numbers, strings, bytes, lists, dicts) across a mesh link"
        ) from exc
    _HEADER.pack_into(out, 0, len(out) - _HEADER.size)
    return out


def pack_items(items: list[Any]) -> str:
    """Return ``items`` as text a checkpoint keeps (a frame's MessagePack, in base64)."""
    frame = encode(Frame(DATA, "", items=items))
    return base64.b64encode(bytes(frame[_HEADER.size :])).decode("ascii")


def unpack_items(text: str) -> list[Any]:
    """Return the items :func:`pack_items` made ``text`` of."""
    return decode(base64.b64decode(text)).items


def frame_length(prefix: bytes) -> int:
    """Return the body length a frame's 4-byte prefix announces (refusing oversized ones)."""
    if len(prefix) != _HEADER.size:
        raise FrameError(f"a frame's prefix is {_HEADER.size} bytes, got {len(prefix)}")
    (length,) = _HEADER.unpack(prefix)
    if length > MAX_FRAME_BYTES:
        raise FrameError(f"a peer announced a frame of {length} bytes, over {MAX_FRAME_BYTES}")
    return int(length)


PREFIX_BYTES: Final = _HEADER.size


def decode(body: bytes | bytearray | memoryview) -> Frame:
    """Return the frame ``body`` (without its prefix) holds; ``FrameError`` if it is malformed."""
    try:
        fields = _DECODER.decode(body)
    except (msgspec.DecodeError, FrameError, ValueError, TypeError, RecursionError) as exc:
        raise FrameError(f"a peer sent bytes that are no frame: {exc}") from exc
    if not isinstance(fields, list) or len(fields) != 12:
        raise FrameError("a peer sent a frame of the wrong shape (expected 12 fields)")
    kind, channel, seq, epoch, ack, credit, backlog, items, end, watermark, base, durable = fields
    ints = (kind, seq, epoch, ack, credit, backlog, base, durable)
    if not all(type(v) is int and v >= 0 for v in ints):
        raise FrameError("a peer sent a frame whose numbers are not counts (ints >= 0)")
    if kind not in (DATA, CREDIT, ANNOUNCE, HEARTBEAT, FETCH, PAYLOAD):
        raise FrameError(f"a peer sent a frame of unknown kind {kind}; peers must run one version")
    if not isinstance(channel, str) or not isinstance(items, list) or type(end) is not bool:
        raise FrameError("a peer sent a frame with a bad channel, items or end field")
    if watermark is not None and type(watermark) not in (int, float):
        raise FrameError("a peer sent a frame whose watermark is not a number")
    return Frame(
        kind, channel, seq, epoch, ack, credit, backlog, items, end, watermark, base, durable
    )
