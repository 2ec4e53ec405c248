"""An isolate worker: answers framed requests on stdin with framed replies on stdout.

Run by path (``python -I _worker.py``), it imports only the standard library, so nothing of the
runtime's process comes into it. A frame is a 4-byte big-endian length and that many bytes of
UTF-8 JSON. A request is ``{"id": n, "op": ...}``; the reply carries the same ``id`` with
``ok`` and a ``result``, or ``error``. It exits when its input ends.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import Any

MAX_FRAME = 16 << 20  # bytes of one frame, either way


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read(fd: int) -> Any:
    head = _read_exactly(fd, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise ValueError(f"a frame of {size} bytes is over {MAX_FRAME}")
    body = _read_exactly(fd, size)
    if body is None:
        return None
    return json.loads(body.decode("utf-8"))


def _write(fd: int, message: Any) -> None:
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    data = struct.pack(">I", len(body)) + body
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _answer(request: Any) -> dict[str, Any]:
    if not isinstance(request, dict) or "id" not in request:
        return {"id": None, "ok": False, "error": "a request is an object with an id"}
    op = request.get("op")
    if op == "ping":
        return {"id": request["id"], "ok": True, "result": {"pid": os.getpid()}}
    if op == "echo":
        return {"id": request["id"], "ok": True, "result": request.get("value")}
    return {"id": request["id"], "ok": False, "error": f"unknown op {op!r}"}


def main() -> None:
    """Serve requests until the input ends."""
    reader, writer = sys.stdin.fileno(), sys.stdout.fileno()
    while True:
        request = _read(reader)
        if request is None:
            return
        _write(writer, _answer(request))


if __name__ == "__main__":
    main()
