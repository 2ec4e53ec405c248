"""``arachne.io.http-request``: one HTTP request per value, its response sent on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from arachne.components.builtins._defs import (
    ANY_VALUE,
    ERROR_OUTPUT,
    keyword_factory,
    strict_object,
)
from arachne.components.builtins._http import METHODS, Settings, request_for, send
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.model.node import Node
from arachne.model.port import Input, Output

if TYPE_CHECKING:
    import httpx

    from arachne.model.message import Message

__all__ = ["HTTP_REQUEST", "RESPONSE_SCHEMA", "HttpRequest"]

RESPONSE_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "body": {},
    },
    "required": ["status", "headers", "body"],
}
"""What leaves by ``out``: the status, the headers (lower-case names) and the body."""

_UNSET: Final = object()


class HttpRequest(Node):
    """Make one HTTP request per input value and send the response body on.

    With ``output="response"`` the whole response leaves instead: ``{status, headers, body}``.
    The body is decoded from JSON when the response says it is JSON, else it is text.

    The input value shapes the request (see :func:`~._http.request_for`): a string is the URL,
    an object may set ``url``, ``method``, ``headers``, ``params`` and ``body``, anything else
    triggers the configured request. Up to ``concurrency`` requests run at once as coroutines;
    responses leave in input order. Failures (after ``retries``) fail the message: under the
    default ``skip`` policy it becomes an ``ErrorRecord`` on ``error``, or a logged warning.
    """

    default_name = "http_request"
    mode = "async"
    error_policy = "skip"
    inp = Input(None, name="in", description="A URL, a request object, or a trigger")
    out = Output(None, description="The response body, or the response with output='response'")

    def __init__(
        self,
        *,
        url: str | None = None,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        body: Any = _UNSET,
        timeout_ms: float = 10_000,
        retries: int = 2,
        backoff_ms: float = 200,
        max_response_bytes: int = 10 * 1024 * 1024,
        concurrency: int = 4,
        raise_for_status: bool = True,
        follow_redirects: bool = True,
        output: str = "body",
        name: str | None = None,
    ) -> None:
        config: dict[str, Any] = {
            "method": method,
            "headers": dict(headers or {}),
            "params": dict(params or {}),
            "timeout_ms": timeout_ms,
            "retries": retries,
            "backoff_ms": backoff_ms,
            "max_response_bytes": max_response_bytes,
            "concurrency": concurrency,
            "raise_for_status": raise_for_status,
            "follow_redirects": follow_redirects,
            "output": output,
        }
        if url is not None:
            config["url"] = url
        if body is not _UNSET:
            config["body"] = body
        super().__init__(name=name, config=config)
        if timeout_ms <= 0 or retries < 0 or backoff_ms < 0 or max_response_bytes < 1:
            raise ValueError("timeout_ms and max_response_bytes must be > 0, retries >= 0")
        if output not in ("body", "response"):
            raise ValueError(f"output must be 'body' or 'response', got {output!r}")
        self.whole = output == "response"
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
        extra = {} if body is _UNSET else {"body": body}
        self.settings = Settings(
            url=url,
            method=method.upper(),
            headers=dict(headers or {}),
            params=dict(params or {}),
            timeout=timeout_ms / 1000,
            retries=retries,
            backoff=backoff_ms / 1000,
            max_bytes=max_response_bytes,
            raise_for_status=raise_for_status,
            **extra,
        )
        if url is not None:
            request_for(None, self.settings)  # a bad URL or method is a build-time error
        self.concurrency = concurrency
        self.follow_redirects = follow_redirects
        self._client: httpx.AsyncClient | None = None

    def on_start(self) -> None:
        """Open the connection pool."""
        self._open()

    async def on_message(self, port: str, msg: Message) -> None:
        """Make the request the value asks for and send the response."""
        request = request_for(msg.payload, self.settings)
        parent = msg.headers.get("traceparent") if msg.headers else None
        if isinstance(parent, str) and all(k.lower() != "traceparent" for k in request.headers):
            # Traced (a tracer is on): the server's spans join the message's trace.
            request = replace(request, headers={**request.headers, "traceparent": parent})
        response = await send(self._open(), request, self.settings)
        self.emit("out", response if self.whole else response["body"])

    async def on_stop(self) -> None:
        """Close the connection pool."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _open(self) -> httpx.AsyncClient:
        client = self._client
        if client is None:
            import httpx  # lazily: about 0.4 s, paid only by graphs that make requests

            client = self._client = httpx.AsyncClient(
                timeout=self.settings.timeout, follow_redirects=self.follow_redirects
            )
        return client


_HEADERS: Final = {
    "type": "object",
    # A header's name is a token; its value has no line break or NUL (a value pasted with a
    # newline would otherwise fail only at the call, its text quoted in the error).
    "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},
    "additionalProperties": {
        "type": "string",
        "not": {"type": "string", "pattern": "[\\r\\n\\x00]"},
    },
}

HTTP_REQUEST = ComponentDefinition(
    id="arachne.io.http-request",
    factory=keyword_factory(HttpRequest),
    name="HTTP request",
    category="io",
    description="Make an HTTP request per value and send the response on",
    inputs=(PortDoc("in", ANY_VALUE, "A URL, a request object, or any value as a trigger"),),
    outputs=(
        PortDoc(
            "out",
            {"anyOf": [{}, RESPONSE_SCHEMA]},
            "The response body; with output 'response', {status, headers, body}",
        ),
        ERROR_OUTPUT,
    ),
    config_schema=strict_object(
        {
            "url": {"type": "string", "pattern": "^https?://", "description": "URL to request"},
            "method": {"enum": list(METHODS), "default": "GET", "description": "HTTP method"},
            "headers": {
                **_HEADERS,
                "default": {},
                "writeOnly": True,
                "description": "Request headers: names are tokens, values hold no line break "
                "or NUL (they may carry credentials: never shown back)",
            },
            "params": {"type": "object", "default": {}, "description": "Query parameters"},
            "body": {"description": "Request body: text as is, anything else as JSON"},
            "timeout_ms": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 10_000,
                "description": "Time limit of one attempt, connect to last byte",
            },
            "retries": {
                "type": "integer",
                "minimum": 0,
                "maximum": 10,
                "default": 2,
                "description": "Extra attempts after a timeout, lost connection or 408/425/429/5xx",
            },
            "backoff_ms": {
                "type": "number",
                "minimum": 0,
                "default": 200,
                "description": "Wait before the first retry; doubled before each next one",
            },
            "max_response_bytes": {
                "type": "integer",
                "minimum": 1,
                "default": 10 * 1024 * 1024,
                "description": "Largest response body read; more fails the request",
            },
            "concurrency": {
                "type": "integer",
                "minimum": 1,
                "maximum": 256,
                "default": 4,
                "description": "Requests in flight at once (responses keep input order)",
            },
            "raise_for_status": {
                "type": "boolean",
                "default": True,
                "description": "Fail on a final status >= 400 instead of sending it to out",
            },
            "follow_redirects": {
                "type": "boolean",
                "default": True,
                "description": "Follow 3xx redirects",
            },
            "output": {
                "enum": ["body", "response"],
                "default": "body",
                "description": "Send the body (JSON decoded when it is JSON) or the whole "
                "response as {status, headers, body}",
            },
        }
    ),
    aliases=("symbia.io.http-request",),
)
"""The http-request component."""
