"""The TCP transport: hosts in separate processes on one machine (or a trusted network).

Each host listens on a port; :meth:`TcpTransport.send` opens one connection per peer the
first time it has a frame for it, and keeps it. A connection begins with a hello naming the
sending host and carrying the cluster's token; a peer that does not know the token, or names
a host that is not in the table, is cut off. After it, frames travel length-prefixed
(``arachne.distributed.frames``) in both directions' own connections. A connection that
breaks is opened again at the next frame; frames lost with it are sent again by the link
protocol. What waits in a connection's buffer is bounded: past ``WRITE_LIMIT`` bytes unsent
(a peer that reads too slowly) data frames are shed, and the protocol sends them again later,
each time after longer. Before its hello a connection gets a small buffer, a hello that
claims more than ``_HELLO_BYTES`` is refused, one not said in ``HELLO_TIMEOUT`` seconds is
closed, and at most ``MAX_STRANGERS`` such connections are open at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from arachne.distributed.frames import (
    DATA,
    MAX_FRAME_BYTES,
    PREFIX_BYTES,
    Frame,
    FrameError,
    decode,
    encode,
    frame_length,
)
from arachne.distributed.host import LinkCapabilities

__all__ = ["TcpTransport"]

log = logging.getLogger("arachne.distributed")

_HELLO_BYTES = 4096
_BUFFER = 1 << 20  # bytes a connection reads into at once (grown for a bigger frame)
_HELLO_BUFFER = 2 * _HELLO_BYTES  # what a connection gets before its hello

WRITE_LIMIT = 16 << 20
"""Bytes a connection may hold unsent; frames past it are shed (the protocol resends them)."""

WAITING_LIMIT = 16 << 20
"""Bytes of data frames kept for a peer while its connection opens; more are shed."""

CONNECT_TIMEOUT = 5.0
"""Seconds a connection may take to open."""

HELLO_TIMEOUT = 5.0
"""Seconds a peer has to say hello once connected."""

MAX_STRANGERS = 64
"""Connections that have not said hello yet, at most; more are closed at once."""

CLOSE_LINGER = 5.0
"""Seconds a closing transport waits for what it sent to leave."""


class _Inbound(asyncio.BufferedProtocol):
    """One peer's connection into this process: frames read into one buffer, decoded from it.

    The kernel copies into the buffer and the decoder copies out of it, nothing in between.
    Until the peer's hello is checked the buffer stays small and the hello short.
    """

    def __init__(self, owner: TcpTransport) -> None:
        self._owner = owner
        self._buf = bytearray(_HELLO_BUFFER)
        self._start = self._end = 0
        self._source = ""
        self._deliver: Callable[[str, Frame], None] | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._failed = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        owner = self._owner
        strangers = sum(1 for inbound in owner._inbound if inbound._deliver is None)
        owner._inbound.add(self)
        if strangers >= MAX_STRANGERS:
            self._cut(f"over {MAX_STRANGERS} connections have not said hello")
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(HELLO_TIMEOUT, self._cut, "no hello in time")

    def get_buffer(self, sizehint: int) -> memoryview:
        chunk = _BUFFER if self._deliver is not None else _HELLO_BUFFER
        if len(self._buf) - self._end < chunk // 4:  # make room: drop what was read
            kept = self._buf[self._start : self._end]
            need = max(len(self._buf), chunk, len(kept) + chunk // 2)
            self._buf = bytearray(need)
            self._buf[: len(kept)] = kept
            self._start, self._end = 0, len(kept)
        return memoryview(self._buf)[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        buf = self._buf
        try:
            while self._end - self._start >= PREFIX_BYTES and not self._failed:
                start = self._start
                length = frame_length(bytes(buf[start : start + PREFIX_BYTES]))
                if self._deliver is None and length > _HELLO_BYTES:
                    raise FrameError(f"a hello of {length} bytes (at most {_HELLO_BYTES})")
                if self._end - start - PREFIX_BYTES < length:
                    if PREFIX_BYTES + length > len(buf):  # a frame bigger than the buffer
                        kept = buf[start : self._end]
                        self._buf = buf = bytearray(PREFIX_BYTES + length + _BUFFER // 2)
                        buf[: len(kept)] = kept
                        self._start, self._end = 0, len(kept)
                    return
                with memoryview(buf)[start + PREFIX_BYTES : start + PREFIX_BYTES + length] as body:
                    self._start = start + PREFIX_BYTES + length
                    if self._deliver is None:
                        self._source, self._deliver = self._owner._hello(body)
                        if self._timer is not None:
                            self._timer.cancel()
                    else:
                        self._deliver(self._source, decode(body))
        except (FrameError, msgspec.DecodeError, RecursionError) as exc:
            self._cut(str(exc))

    def _cut(self, why: str) -> None:
        """Close a connection whose peer broke the rules, counted and logged."""
        if self._failed:
            return
        self._owner.refused += 1
        log.warning("a mesh connection was cut off: %s", why)
        self._failed = True
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._inbound.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        if not self._failed:
            what = type(exc).__name__ if exc is not None else "closed by the peer"
            self._owner._broke(self._source, f"its connection broke ({what})")

    def close(self) -> None:
        self._failed = True  # (closed here: not the peer's doing)
        if self._transport is not None:
            self._transport.close()


class TcpTransport:
    """Frames between hosts over TCP; ``peers`` maps each host to ``(address, port)``."""

    capabilities = LinkCapabilities()  # token-checked peers; frames in memory

    def __init__(self, token: str, peers: Mapping[str, tuple[str, int]] | None = None) -> None:
        if not token:
            raise ValueError("a TCP cluster needs a token its hosts share (any random string)")
        self.token = token
        self.peers: dict[str, tuple[str, int]] = dict(peers or {})
        self._deliver: dict[str, Callable[[str, Frame], None]] = {}
        self._lost: dict[str, Callable[[str, str], None]] = {}
        self._closing = False
        self._writers: dict[tuple[str, str], asyncio.StreamWriter | None] = {}
        self._waiting: dict[tuple[str, str], list[bytearray]] = {}
        self._server: asyncio.Server | None = None
        self._inbound: set[_Inbound] = set()  # connections being read
        self._connecting: set[asyncio.Task[Any]] = set()
        self.refused = 0  # connections cut off: a wrong token, an unknown host, bad frames
        self.shed = 0  # frames not written: a peer that reads too slowly, or not yet connected

    # -- listening ---------------------------------------------------------------------------

    async def listen(self, address: str = "127.0.0.1", port: int = 0) -> int:
        """Start accepting peers' connections; return the port listened on."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Inbound(self), address, port)
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1])

    def attach(
        self,
        host: str,
        deliver: Callable[[str, Frame], None],
        lost: Callable[[str, str], None] | None = None,
    ) -> None:
        """Deliver frames addressed to ``host`` (a host of this process) to ``deliver``.

        ``lost(peer, reason)`` is called when a peer's connection into it breaks.
        """
        self._deliver[host] = deliver
        if lost is not None:
            self._lost[host] = lost

    def _hello(self, body: memoryview) -> tuple[str, Callable[[str, Frame], None]]:
        """Check a connection's hello; return its source host and where its frames go."""
        if len(body) > _HELLO_BYTES:
            raise FrameError("hello too long")
        hello = msgspec.msgpack.decode(body)
        if (
            not isinstance(hello, list)
            or len(hello) != 3
            or not all(isinstance(part, str) for part in hello)
        ):
            raise FrameError("no hello")
        source, dest, token = hello
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            raise FrameError(f"host {source!r} gave a wrong token")
        if source not in self.peers or dest not in self._deliver:
            raise FrameError(f"unknown host in hello: {source!r} -> {dest!r}")
        return source, self._deliver[dest]

    def _broke(self, source: str, reason: str) -> None:
        if self._closing or not source:
            return
        for lost in self._lost.values():
            lost(source, reason)

    # -- sending -----------------------------------------------------------------------------

    def send(self, source: str, dest: str, frame: Frame) -> None:
        """Send ``frame`` to host ``dest`` (connecting first, if this is the first frame)."""
        data = encode(frame)
        if len(data) > MAX_FRAME_BYTES:
            raise FrameError(
                f"channel {frame.channel!r}: a frame of {len(data):,} bytes is over the "
                f"{MAX_FRAME_BYTES:,} a peer takes; send smaller items, or set a smaller "
                "frame_items or frame_bytes in LinkOptions"
            )
        key = (source, dest)
        writer = self._writers.get(key)
        if writer is not None:
            if not writer.is_closing():
                if frame.kind == DATA and writer.transport.get_write_buffer_size() > WRITE_LIMIT:
                    self.shed += 1  # (a peer that does not read: lost, sent again later)
                    return
                writer.write(data)
                return
            del self._writers[key]
        waiting = self._waiting.get(key)
        if waiting is not None:  # connecting: it goes when the connection is up
            if frame.kind != DATA or sum(map(len, waiting)) + len(data) <= WAITING_LIMIT:
                waiting.append(data)
            else:
                self.shed += 1
            return
        self._waiting[key] = [data]
        task = asyncio.get_running_loop().create_task(self._connect(source, dest))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect(self, source: str, dest: str) -> None:
        key = (source, dest)
        address = self.peers.get(dest)
        try:
            if address is None:
                raise ConnectionError(f"no address for host {dest!r}")
            _, writer = await asyncio.wait_for(asyncio.open_connection(*address), CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:  # the frames are lost, sent again later
            log.debug("could not reach host %s: %s", dest, exc)
            self._waiting.pop(key, None)
            return
        hello = msgspec.msgpack.encode([source, dest, self.token])
        writer.write(len(hello).to_bytes(PREFIX_BYTES, "big") + hello)
        for data in self._waiting.pop(key, []):
            writer.write(data)
        self._writers[key] = writer

    async def close(self, linger: float = CLOSE_LINGER) -> None:
        """Send what was sent so far (up to ``linger`` seconds), stop listening, close all.

        The last grant a host sends (the one that acknowledges a link's end) would otherwise
        die with it, and its peer would wait for it for ever.
        """
        self._closing = True
        if self._connecting:
            await asyncio.wait(set(self._connecting), timeout=linger)
        for writer in list(self._writers.values()):
            if writer is not None and not writer.is_closing():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.drain(), linger)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for writer in self._writers.values():
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), linger)
        self._writers.clear()
        for inbound in list(self._inbound):
            inbound.close()
