"""HTTP calls of the http-request component: the request a value asks for, sent with retries.

httpx is imported by the functions that use it, so building other graphs never pays for it.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from arachne.components.builtins._http_body import clip, decode_body, too_large

if TYPE_CHECKING:
    import httpx

__all__ = ["METHODS", "RETRY_STATUSES", "Request", "Settings", "redact", "request_for", "send"]

METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
"""The HTTP methods a request may use."""

RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Statuses that say "try again later": retried like timeouts and failed connections."""

IDEMPOTENT: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
"""Methods that may be retried: repeating them has the effect of doing them once."""

REQUEST_FIELDS: Final = ("url", "method", "headers", "params", "body")
"""The keys an input object may set."""

MAX_BACKOFF: Final = 30.0
"""The longest wait between two attempts, in seconds."""

ENCODINGS: Final = "gzip, deflate"
"""The content codings asked for (unless a request sets ``accept-encoding``): the ones
:class:`_Body` decodes itself, so the size cap bounds the decoded bytes as they are made."""

_NO_BODY: Final = object()


@dataclass(frozen=True, slots=True)
class Settings:
    """A node's configured request and limits (times in seconds)."""

    url: str | None = None
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    body: Any = _NO_BODY
    timeout: float = 10.0
    retries: int = 2
    backoff: float = 0.2
    max_bytes: int = 10 * 1024 * 1024
    raise_for_status: bool = True


@dataclass(frozen=True, slots=True)
class Request:
    """One request to make: ``body`` is ``_NO_BODY``, text, bytes or JSON data."""

    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, Any]
    body: Any = _NO_BODY

    @property
    def label(self) -> str:
        """``METHOD url``, as error messages show the request (a password in it hidden)."""
        return f"{self.method} {redact(self.url)}"

    def hide(self, text: str) -> str:
        """Return ``text`` with this request's URL password and header values hidden.

        Header values carry credentials; an error from the transport may quote them.
        """
        text = text.replace(self.url, redact(self.url))
        for value in self.headers.values():
            if len(value) >= 4:  # (a value this short hides nothing and would blot out text)
                for shown in (value, repr(value.encode())[2:-1], repr(value)[1:-1]):
                    text = text.replace(shown, "***")
        return text


def request_for(value: object, settings: Settings) -> Request:
    """Return the request an input value asks for, over the configured one.

    A string is the URL; an object may set ``url``, ``method`` and ``body`` and add to
    ``headers`` and ``params``; any other value (``null``, a number) just triggers the
    configured request. Raises ``ValueError`` for an unknown key, a bad method or no URL.
    """
    fields: Mapping[str, Any] = {}
    if isinstance(value, str):
        fields = {"url": value}
    elif isinstance(value, Mapping):
        unknown = sorted(str(key) for key in value if key not in REQUEST_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown request field(s) {', '.join(map(repr, unknown))}; an input object "
                f"may set {', '.join(REQUEST_FIELDS)} (wrap data to send as {{'body': ...}})"
            )
        fields = value
    url = check_url(fields.get("url", settings.url))
    method = str(fields.get("method", settings.method)).upper()
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
    # Configured headers and params (credentials, say) go only where the configuration
    # points: a URL taken from the data may name any host.
    same = settings.url is None or _origin(url) == _origin(settings.url)
    return Request(
        method=method,
        url=url,
        headers={**(settings.headers if same else {}), **_mapping(fields, "headers")},
        params={**(settings.params if same else {}), **_mapping(fields, "params")},
        body=fields.get("body", settings.body),
    )


async def send(client: httpx.AsyncClient, request: Request, settings: Settings) -> dict[str, Any]:
    """Make ``request``; return ``{status, headers, body}``.

    Timeouts, failed connections and the statuses in :data:`RETRY_STATUSES` are retried up to
    ``settings.retries`` times, waiting ``backoff``, then twice that, and so on; only
    idempotent methods are retried (POST and PATCH are tried once). The body is read as it
    streams and the call fails once it passes ``max_bytes``. With ``raise_for_status`` a final
    status of 400 or more raises ``httpx.HTTPStatusError``.
    """
    import httpx

    attempts = settings.retries + 1 if request.method in IDEMPOTENT else 1
    for attempt in range(1, attempts + 1):
        try:
            response, content = await _attempt(client, request, settings)
        except (TimeoutError, httpx.TimeoutException) as exc:
            if attempt == attempts:
                raise TimeoutError(
                    f"{request.label}: no complete response within "
                    f"{settings.timeout * 1000:g} ms{_tries(attempt)}; raise timeout_ms or "
                    "check the server"
                ) from exc
        except httpx.TransportError as exc:
            if attempt == attempts:
                detail = request.hide(str(exc))
                cause = exc if detail == str(exc) else None  # its text would show the password
                raise ConnectionError(f"{request.label}: {detail}{_tries(attempt)}") from cause
        else:
            if response.status_code not in RETRY_STATUSES or attempt == attempts:
                break
        await asyncio.sleep(min(MAX_BACKOFF, settings.backoff * 2 ** (attempt - 1)))
    status = response.status_code
    if settings.raise_for_status and status >= 400:
        raise httpx.HTTPStatusError(
            f"{request.label} answered {status} {response.reason_phrase}{_tries(attempt)}: "
            f"{clip(content)}",
            request=response.request,
            response=response,
        )
    headers = {key.lower(): value for key, value in response.headers.items()}
    return {
        "status": status,
        "headers": headers,
        "body": decode_body(content, headers.get("content-type", ""), request.label),
    }


async def _attempt(
    client: httpx.AsyncClient, request: Request, settings: Settings
) -> tuple[httpx.Response, bytes]:
    import httpx

    headers = request.headers
    if all(key.lower() != "accept-encoding" for key in headers):
        headers = {**headers, "accept-encoding": ENCODINGS}
    kwargs: dict[str, Any] = {"headers": headers}
    url = httpx.URL(request.url)
    if url.userinfo:
        # Sent as a header, not in the URL, which httpx would log with the password in it.
        kwargs["auth"] = httpx.BasicAuth(url.username, url.password)
        url = url.copy_with(userinfo=b"")
    if request.params:  # merged into the URL's own query (httpx's params= would replace it)
        url = url.copy_merge_params(request.params)
    body = request.body
    if isinstance(body, str):
        kwargs["content"] = body.encode()
    elif isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not _NO_BODY:
        kwargs["json"] = body
    async with (
        asyncio.timeout(settings.timeout),
        client.stream(request.method, url, **kwargs) as response,
    ):
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_bytes:
            raise too_large(request.label, settings.max_bytes, f"it declares {declared} bytes")
        content = _Body(response.headers.get("content-encoding", ""), request, settings.max_bytes)
        async for chunk in response.aiter_raw():
            content.add(chunk)
        return response, content.end()


class _Body:
    """A response body decoded as its raw bytes arrive, never more than ``max_bytes`` of it.

    httpx decodes each raw chunk whole, so 64 KiB of gzip read at once can turn into 64 MiB
    before any cap is checked; here zlib is asked for at most the room left (plus one byte,
    to see that the cap is passed), so a compression bomb costs no more than the cap.
    """

    __slots__ = ("_fed", "_inflater", "_parts", "_request", "_retry_raw", "_size", "max_bytes")

    def __init__(self, encoding: str, request: Request, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._request = request
        self._parts: list[bytes] = []
        self._size = 0
        self._fed = False  # the inflater has accepted some input
        coding = encoding.strip().lower()
        self._retry_raw = coding == "deflate"  # as a bare stream, if the zlib header is wrong
        self._inflater: Any = None
        if coding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif coding == "deflate":
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS)
        elif coding not in ("", "identity"):
            raise ValueError(
                f"{request.label}: content-encoding {encoding!r} is not decoded here; "
                f"ask for {ENCODINGS} (leave out the accept-encoding header)"
            )

    def add(self, raw: bytes) -> None:
        """Decode ``raw`` and keep the result; ``ValueError`` once the body passes the cap."""
        inflater = self._inflater
        if inflater is None:
            self._keep(raw)
            return
        data = raw
        while data and not inflater.eof:
            try:
                out = inflater.decompress(data, self.max_bytes - self._size + 1)
            except zlib.error as exc:
                if self._fed or not self._retry_raw:
                    raise self._corrupt(exc) from None
                # Some servers send "deflate" as a bare stream; httpx accepts both, as here.
                self._retry_raw = False
                inflater = self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._fed = True
            self._keep(out)
            data = inflater.unconsumed_tail

    def end(self) -> bytes:
        """Return the whole decoded body."""
        if self._inflater is not None:
            try:
                self._keep(self._inflater.flush())
            except zlib.error as exc:
                raise self._corrupt(exc) from None
        return b"".join(self._parts)

    def _keep(self, data: bytes) -> None:
        if self._size + len(data) > self.max_bytes:
            raise too_large(
                self._request.label, self.max_bytes, f"more than {self._size} bytes read"
            )
        self._size += len(data)
        self._parts.append(data)

    def _corrupt(self, exc: zlib.error) -> ValueError:
        return ValueError(
            f"{self._request.label}: the compressed body is corrupt ({exc}); check the server"
        )


def check_url(url: object) -> str:
    """Return ``url`` if it is an absolute http(s) URL with a host; else raise ``ValueError``.

    The message shows the URL with its password hidden (see :func:`redact`).
    """
    fix = "set config.url or send {'url': 'https://host/path'}"
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        shown = redact(url) if isinstance(url, str) else url
        raise ValueError(f"no http(s) URL to request (got {shown!r}); {fix}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number
    except ValueError as exc:
        detail = str(exc).replace(url, redact(url))
        raise ValueError(f"URL {redact(url)!r} is malformed ({detail}); {fix}") from None
    if not parts.hostname or any(ch.isspace() for ch in url):
        raise ValueError(f"URL {redact(url)!r} has no host or contains spaces; {fix}")
    return url


def redact(url: str) -> str:
    """Return ``url`` with the secret of its user info shown as ``***``.

    ``http://user:secret@host/x`` becomes ``http://user:***@host/x``; a user info with no
    password is often a token alone (``https://TOKEN@host/``), so it becomes ``***@``. A URL
    without user info comes back as it is. Works on malformed URLs too: it only looks for
    the authority, between ``//`` and the next ``/``, ``?`` or ``#``.
    """
    scheme, sep, rest = url.partition("//")
    if not sep:
        return url
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    userinfo, at, host = rest[:end].rpartition("@")
    user, colon, _ = userinfo.partition(":")
    if not at:
        return url
    shown = f"{user}:***" if colon else "***"
    return f"{scheme}//{shown}@{host}{rest[end:]}"


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def _mapping(fields: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = fields.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"request field {key!r} must be an object, got {type(value).__name__}")
    return value


def _tries(attempt: int) -> str:
    return f" (after {attempt} attempts)" if attempt > 1 else ""
