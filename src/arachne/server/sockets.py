"""Executions' events over Socket.IO, on the service's own port (path ``/socket.io``).

The Runtime Service's client events (``execution:subscribe``, ``execution:start``, ...) arrive
as Socket.IO events and its server events leave as Socket.IO events of the same names, so the
JavaScript ``io('ws://host:port')`` client of the service document works as written. Each
connection is served by a :class:`~arachne.server.stream.ClientStream`, as the plain WebSocket
endpoint's are; an event with an acknowledgement callback gets ``{"ok": true, ...}`` or
``{"ok": false, "error": {...}}`` back.

The handshake authenticates (``auth: {token}`` from the client, or the ``Authorization`` and
``X-API-Key`` headers) and checks ``Origin`` (a loopback page, or one of ``ALLOWED_ORIGINS``);
a viewer may subscribe only. The transport's queue for one client is bounded: while it holds
:data:`BACKLOG` packets nothing more is queued for it, which the stream counts as dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import socketio  # type: ignore[import-untyped]

from arachne.server.auth import ROLES, Denied, Gatekeeper
from arachne.server.guards import origin_allowed
from arachne.server.stream import CLIENT_EVENTS, ClientStream

if TYPE_CHECKING:
    from collections.abc import Collection

    from arachne.server.service import RuntimeService

__all__ = ["BACKLOG", "HEADROOM", "SocketEvents"]

log = logging.getLogger("arachne.server")

BACKLOG: Final = 256
"""Packets the transport may hold for one client before events for it wait."""

HEADROOM: Final = 64
"""Answers to a client's requests that may queue past :data:`BACKLOG` (a client that reads
slowly may still ask); past that, a client that sends without reading is disconnected."""


class SocketEvents:
    """The Socket.IO server: one :class:`ClientStream` per connection."""

    def __init__(
        self,
        service: RuntimeService,
        gate: Gatekeeper,
        *,
        origins: Collection[str] = (),
        events_per_second: int,
        max_message_bytes: int,
    ) -> None:
        self.service = service
        self.gate = gate
        self.events_per_second = events_per_second
        self.streams: dict[str, tuple[ClientStream, asyncio.Task[None]]] = {}
        self.server = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=lambda origin: origin_allowed(origin, origins),
            max_http_buffer_size=max_message_bytes,
            logger=False,
            engineio_logger=False,
        )
        self.app = socketio.ASGIApp(self.server, socketio_path="")
        self.server.on("connect", self._connect)
        self.server.on("disconnect", self._disconnect)
        for name in CLIENT_EVENTS:
            self.server.on(name, self._handler(name))
        self.server.on("*", self._unknown)

    async def _connect(self, sid: str, environ: Mapping[str, Any], auth: object) -> None:
        scope = environ.get("asgi.scope", {})
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())
        }
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            caller = self.gate.caller(headers, token=token if isinstance(token, str) else None)
            self.gate.allow(caller, "viewer")
        except Denied as exc:
            # The client's connect_error gets {"message": ..., "data": {"code": ...}}.
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code}
            ) from None

        async def send(frame: dict[str, Any]) -> None:
            await self.server.emit(frame["event"], frame["data"], to=sid)

        stream = ClientStream(
            self.service,
            send,
            may_operate=ROLES.index(caller.role) >= ROLES.index("operator"),
            events_per_second=self.events_per_second,
            backlog=lambda: self._backlog(sid) >= BACKLOG,
        )
        self.streams[sid] = (stream, asyncio.create_task(stream.pump()))

    def _backlog(self, sid: str) -> int:
        """Packets queued for ``sid`` and not yet written to its socket."""
        eio_sid = self.server.manager.eio_sid_from_sid(sid, "/")
        socket = self.server.eio.sockets.get(eio_sid)
        return 0 if socket is None else int(socket.queue.qsize())

    async def _disconnect(self, sid: str, *_: object) -> None:
        entry = self.streams.pop(sid, None)
        if entry is None:
            return
        stream, pump = entry
        stream.close()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump

    def _handler(self, name: str) -> Any:
        async def handle(sid: str, data: object = None) -> dict[str, Any] | None:
            return await self._serve(sid, name, {} if data is None else data)

        return handle

    async def _unknown(self, name: str, sid: str, *_: object) -> dict[str, Any] | None:
        return await self._serve(sid, name, {})

    async def _serve(self, sid: str, name: str, data: object) -> dict[str, Any] | None:
        entry = self.streams.get(sid)
        if entry is None:
            return {"ok": False, "error": {"code": "not_connected", "message": "reconnect"}}
        if self._backlog(sid) >= BACKLOG + HEADROOM:
            # It sends but does not read: every answer would queue. Its connection is closed
            # (not just its namespace: that would leave what is queued, and the connection).
            log.warning("event client %s sends without reading; disconnected", sid)
            await self._disconnect(sid)
            eio_sid = self.server.manager.eio_sid_from_sid(sid, "/")
            if eio_sid is not None:
                await self.server.eio.disconnect(eio_sid)
            return None
        return await entry[0].handle({"event": name, "data": data})

    async def close(self) -> None:
        """Close every connection (the service is stopping)."""
        for sid in list(self.streams):
            await self._disconnect(sid)
            with contextlib.suppress(Exception):
                await self.server.disconnect(sid)
