"""What every request passes before it reaches a route: the body bound and the local guard.

``BodyBound`` refuses a body past ``MAX_BODY_BYTES`` with ``413``, whether it declares its
length or comes in chunks (counted as they arrive, so a large one is never held whole).
``LocalGuard``, while authentication is off, lets in only requests addressed to a loopback
host (``Host``) and, from a browser, sent by a loopback page (``Origin``): a web page that
rebinds its own name to 127.0.0.1 cannot reach the API through the user's browser.
"""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, MutableMapping

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = [
    "BodyBound",
    "JsonByDefault",
    "LocalGuard",
    "local_address",
    "local_page",
    "origin_allowed",
]


class _TooLarge(BaseException):
    """Raised out of ``receive`` past the bound.

    A BaseException, so no route's ``except Exception`` (FastAPI's body parsing has one)
    turns it into another answer.
    """


def local_address(host: str | None) -> bool:
    """Whether ``host`` (a name, an address, possibly with a port) is this machine's loopback."""
    if host is None:
        return False
    name = urlsplit(f"//{host}").hostname
    if name is None:
        return False
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class JsonByDefault:
    """Reads a request body sent with no content type, or a form's, as JSON.

    curl's ``-d`` sends a form's type: with this, ``curl -d '{...}'`` works as the API's
    examples do. (No cross-site form gets in by it: those carry an Origin the local guard
    refuses, and credentials are headers no form can set.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, its content type JSON unless it names another."""
        if scope["type"] == "http" and scope.get("method") in ("POST", "PUT", "PATCH"):
            headers = [
                (name, value)
                for name, value in scope.get("headers", ())
                if not (
                    name == b"content-type"
                    and value.split(b";")[0].strip().lower()
                    in (b"application/x-www-form-urlencoded", b"")
                )
            ]
            if not any(name == b"content-type" for name, _ in headers):
                headers.append((b"content-type", b"application/json"))
                scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


class BodyBound:
    """Refuses request bodies over ``limit`` bytes (``413 body_too_large``)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, its body counted as it arrives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = (
            f"the request body is over {self.limit} bytes (MAX_BODY_BYTES); send a smaller one"
        )
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await _refuse(send, 413, "body_too_large", message)
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            got = await receive()
            if got["type"] == "http.request":
                received += len(got.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return got

        async def watched(out: Message) -> None:
            nonlocal started
            started = started or out["type"] == "http.response.start"
            await send(out)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _refuse(send, 413, "body_too_large", message)


class LocalGuard:
    """Lets in only requests for, and browser pages of, a loopback host (authentication off)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on if it is local; answer ``403`` (or close the socket) if not."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())
        }
        origin = headers.get("origin")
        local = local_address(headers.get("host"))
        if not local or (origin is not None and not local_page(origin)):
            if scope["type"] == "websocket":
                close = {"type": "websocket.close", "code": 1008, "reason": "not a local request"}
                await send(close)
                return
            await _refuse(
                send,
                403,
                "not_local",
                "without authentication the service answers requests for 127.0.0.1 from this "
                "machine only; set API_KEYS or a JWT key to serve others",
            )
            return
        await self.app(scope, receive, send)


def local_page(origin: str) -> bool:
    """Whether ``origin`` (a browser's ``Origin`` header) is a page served from loopback."""
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and local_address(parts.netloc)


def origin_allowed(
    origin: str | None, allowed: Collection[str] = (), *, host: str | None = None
) -> bool:
    """Whether an event socket may be opened from ``origin``.

    It may with none (not a browser), a loopback page, one of ``allowed`` (ALLOWED_ORIGINS),
    or the service's own pages (the dashboard): an origin whose host is ``host``, the
    request's ``Host`` header.
    """
    if origin is None or local_page(origin) or origin.rstrip("/") in allowed:
        return True
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()
