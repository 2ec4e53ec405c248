"""The TCP transport: hosts in separate processes on one machine (or a trusted network).

Each host listens on a port; :meth:`TcpTransport.send` opens one connection per peer the
first time it has a frame for it, and keeps it. A connection begins with a hello naming the
sending host and carrying the cluster's token; a peer that does not know the token, or names
a host that is not in the table, is cut off. After it, frames travel length-prefixed
(``arachne.distributed.frames``) in both directions' own connections. A connection that
breaks is opened again at the next frame; frames lost with it are sent again by the link
protocol, which also bounds what waits in a connection's buffer (credits).
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
    PREFIX_BYTES,
    Frame,
    FrameError,
    decode,
    encode,
    frame_length,
)

__all__ = ["TcpTransport"]

log = logging.getLogger("arachne.distributed")

_HELLO_BYTES = 4096

CLOSE_LINGER = 5.0
"""Seconds a closing transport waits for what it sent to leave."""


class TcpTransport:
    """Frames between hosts over TCP; ``peers`` maps each host to ``(address, port)``."""

    def __init__(self, token: str, peers: Mapping[str, tuple[str, int]] | None = None) -> None:
        if not token:
            raise ValueError("a TCP cluster needs a token its hosts share (any random string)")
        self.token = token
        self.peers: dict[str, tuple[str, int]] = dict(peers or {})
        self._deliver: dict[str, Callable[[str, Frame], None]] = {}
        self._writers: dict[tuple[str, str], asyncio.StreamWriter | None] = {}
        self._waiting: dict[tuple[str, str], list[bytes]] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # connections being read
        self._connecting: set[asyncio.Task[Any]] = set()
        self.refused = 0  # connections cut off: a wrong token, an unknown host, bad frames

    # -- listening ---------------------------------------------------------------------------

    async def listen(self, address: str = "127.0.0.1", port: int = 0) -> int:
        """Start accepting peers' connections; return the port listened on."""
        self._server = await asyncio.start_server(self._accepted, address, port)
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1])

    def attach(self, host: str, deliver: Callable[[str, Frame], None]) -> None:
        """Deliver frames addressed to ``host`` (a host of this process) to ``deliver``."""
        self._deliver[host] = deliver

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            prefix = await reader.readexactly(PREFIX_BYTES)
            length = frame_length(prefix)
            if length > _HELLO_BYTES:
                raise FrameError("hello too long")
            hello = msgspec.msgpack.decode(await reader.readexactly(length))
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
            deliver = self._deliver[dest]
            while True:
                length = frame_length(await reader.readexactly(PREFIX_BYTES))
                deliver(source, decode(await reader.readexactly(length)))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the peer went away (or this host closed); lost frames are sent again
        except (FrameError, msgspec.DecodeError) as exc:
            self.refused += 1
            log.warning("a mesh connection was cut off: %s", exc)
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    # -- sending -----------------------------------------------------------------------------

    def send(self, source: str, dest: str, frame: Frame) -> None:
        """Send ``frame`` to host ``dest`` (connecting first, if this is the first frame)."""
        data = encode(frame)
        key = (source, dest)
        writer = self._writers.get(key)
        if writer is not None:
            if not writer.is_closing():
                writer.write(data)
                return
            del self._writers[key]
        waiting = self._waiting.get(key)
        if waiting is not None:  # connecting: it goes when the connection is up
            waiting.append(data)
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
            _, writer = await asyncio.open_connection(*address)
        except OSError as exc:  # (ConnectionError is one): the frames are lost, sent again later
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
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
