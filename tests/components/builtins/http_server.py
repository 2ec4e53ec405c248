"""A small HTTP server on 127.0.0.1 for the http-request tests, run in a thread."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    """Routes: /echo, /data, /text, /status/N, /flaky/KEY/N, /slow, /wait/MS, /big/N, /stream/N."""

    server: LocalServer

    def do_GET(self) -> None:
        self.route()

    def do_POST(self) -> None:
        self.route()

    def do_PUT(self) -> None:
        self.route()

    def route(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path.strip("/").split("/")
        self.server.hits[parts.path] += 1
        if path[0] == "echo":
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode() if length else None
            self.send_json(
                200,
                {
                    "method": self.command,
                    "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                },
            )
        elif path[0] == "text":
            self.send_body(200, "café".encode("latin-1"), "text/plain; charset=latin-1")
        elif path[0] == "status":
            self.send_body(int(path[1]), b"nope", "text/plain")
        elif path[0] == "flaky":
            count = self.server.hits[parts.path]
            if count <= int(path[2]):
                self.send_body(503, b"busy", "text/plain")
            else:
                self.send_json(200, {"attempts": count})
        elif path[0] == "slow":
            self.server.release.wait(5)
            self.send_body(200, b"late", "text/plain")
        elif path[0] == "wait":
            time.sleep(int(path[1]) / 1000)
            self.send_json(200, int(path[1]))
        elif path[0] == "big":
            self.send_body(200, b"x" * int(path[1]), "application/octet-stream")
        elif path[0] == "stream":  # no content-length: the body ends when the connection does
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            for _ in range(int(path[1]) // 100):
                self.wfile.write(b"y" * 100)
        elif path[0] == "data":  # the shape the Runtime Service's ETL example reads
            self.send_json(200, {"data": {"items": [1, 2, 3]}})
        elif path[0] == "badjson":
            self.send_body(200, b"{not json", "application/json")
        else:
            self.send_body(404, b"no route", "text/plain")

    def send_json(self, status: int, value: Any) -> None:
        self.send_body(status, json.dumps(value).encode(), "application/json")

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-test", "yes")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalServer(ThreadingHTTPServer):
    """The server, with per-path hit counts and a gate that lets slow requests finish."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.hits: Counter[str] = Counter()
        self.release = threading.Event()
        self.thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeouts, size caps) is expected here

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()
        self.thread.join(5)
