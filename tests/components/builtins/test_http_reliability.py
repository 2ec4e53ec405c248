"""http-request under hostile input: compression bombs, passwords in URLs (issue 10, 9 and 13)."""

from __future__ import annotations

import gzip
import json
import logging
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from arachne import NodeFailed, Runtime
from arachne.components.builtins import HttpRequest
from tests.components.builtins.helpers import line, source
from tests.components.builtins.http_server import Handler, LocalServer
from tests.components.builtins.test_http_request import fetch

MiB = 1 << 20


def gzip_bomb(size: int) -> bytes:
    """Return ``size`` zero bytes gzipped, compressed a MiB at a time (never held whole)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(MiB)
    parts = [packer.compress(zeros) for _ in range(size // MiB)]
    return b"".join([*parts, packer.flush()])


BOMB = gzip_bomb(200 * MiB)
DATA = {"greeting": "hello", "items": list(range(500))}
PLAIN = json.dumps(DATA).encode()


class Encoded(Handler):
    """Adds /bomb (200 MiB of zeros as about 200 KB of gzip) and /packed/CODING."""

    def route(self) -> None:
        path = self.path.strip("/").split("/")
        if path[0] == "bomb":
            self.send_encoded(BOMB, "gzip", "application/octet-stream")
        elif path[0] == "packed":
            packed = {
                "gzip": gzip.compress(PLAIN),
                "deflate": zlib.compress(PLAIN),
                "rawdeflate": zlib.compress(PLAIN, wbits=-zlib.MAX_WBITS),
            }[path[1]]
            self.send_encoded(packed, path[1].removeprefix("raw"), "application/json")
        else:
            super().route()

    def send_encoded(self, body: bytes, coding: str, content_type: str) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-encoding", coding)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def encoded() -> Iterator[LocalServer]:
    with LocalServer() as running:
        running.RequestHandlerClass = Encoded
        yield running


def test_a_gzip_bomb_is_refused_at_the_cap_without_inflating_it(encoded: LocalServer) -> None:
    assert len(BOMB) < MiB  # the cap cannot catch it by its declared length
    node = HttpRequest(url=f"{encoded.url}/bomb", max_response_bytes=MiB, retries=0)
    import httpx  # noqa: F401  # imported before measuring: its import is not the request

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        responses, [record] = fetch([None], node)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert responses == []
    assert record.error_type == "ValueError"
    assert f"response body exceeds max_response_bytes={MiB}" in record.error
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "rawdeflate"])
def test_compressed_bodies_are_decoded(encoded: LocalServer, coding: str) -> None:
    """Not a regression test: the decoding that replaced httpx's gives the same bodies."""
    [body], errors = fetch([None], HttpRequest(url=f"{encoded.url}/packed/{coding}"))
    assert errors == []
    assert body == DATA


def test_a_body_just_under_the_cap_after_decoding_is_read_whole(encoded: LocalServer) -> None:
    node = HttpRequest(url=f"{encoded.url}/packed/gzip", max_response_bytes=len(PLAIN))
    [body], errors = fetch([None], node)
    assert errors == []
    assert body == DATA


# -- passwords in URLs -----------------------------------------------------------------------


def test_redact_hides_the_password_or_a_lone_token() -> None:
    from arachne.components.builtins._http import redact

    assert redact("http://user:secret@host:8/p?q=1#f") == "http://user:***@host:8/p?q=1#f"
    assert redact("https://TOKEN@host/") == "https://***@host/"  # a token as the user
    assert redact("https://host/") == "https://host/"
    assert redact("http://host/a:b@c") == "http://host/a:b@c"
    assert redact("http://u:p@ss@host/") == "http://u:***@host/"
    assert redact("http://u:secret@host:port x/") == "http://u:***@host:port x/"


def secret_urls(server: LocalServer) -> list[str]:
    host = server.url.removeprefix("http://")
    return [
        f"http://user:secret@{host}/status/500",  # retried, then an HTTP status error
        f"http://user:secret@{host}/big/5000",  # past the size cap
        f"http://user:secret@{host}/badjson",  # a body that does not decode
        f"http://user:secret@{host}/slow",  # a timeout
        f"http://user:secret@{host}:notaport/x",  # malformed
        f"ftp://user:secret@{host}/x",  # not http
    ]


def test_a_password_in_a_data_url_stays_out_of_error_records(
    server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    urls = secret_urls(server)
    with LocalServer() as gone:
        urls.append(f"http://user:secret@{gone.url.removeprefix('http://')}/echo")
    node = HttpRequest(retries=1, backoff_ms=1, timeout_ms=100, max_response_bytes=1000)
    responses, records = fetch(urls, node)
    assert responses == []
    assert sorted(r.payload for r in records) == sorted(urls)  # kept whole, for replay
    for record in records:
        shown = {k: v for k, v in record.to_dict().items() if k != "payload"}
        assert "secret" not in repr(shown), shown
        assert "user:***@" in record.error, record.error
    assert caplog.records
    assert "secret" not in caplog.text


def test_a_password_in_a_data_url_stays_out_of_the_failure_and_logs(
    server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://user:secret@{server.url.removeprefix('http://')}/status/503"
    node = HttpRequest(retries=1, backoff_ms=1)
    node.error_policy = "fail"  # type: ignore[misc]
    graph, _ = line(source([url]), node)
    runtime = Runtime()
    runtime.register(graph)
    with pytest.raises(NodeFailed) as info:
        runtime.run()
    failure: BaseException | None = info.value
    texts: list[Any] = []
    while failure is not None:
        texts.append(str(failure))
        failure = failure.__cause__ or failure.__context__
    assert any("user:***@" in text for text in texts)
    assert "secret" not in " ".join(texts)
    assert "secret" not in caplog.text


def test_the_password_still_reaches_the_server_as_basic_auth(server: LocalServer) -> None:
    """Not a regression test: hiding the password from messages does not drop it."""
    url = f"http://user:secret@{server.url.removeprefix('http://')}/echo"
    [body], errors = fetch([url], HttpRequest())
    assert errors == []
    assert body["headers"]["authorization"] == "Basic dXNlcjpzZWNyZXQ="
