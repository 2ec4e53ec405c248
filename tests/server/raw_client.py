"""A Socket.IO client over a bare TCP socket, for tests and benchmarks of slow clients.

A WebSocket library goes on reading in a thread of its own; this client reads only when asked,
so a test can make the service face a client that has stopped reading, for real.
"""

from __future__ import annotations

import base64
import os
import socket
import struct

BOUND = 10.0  # seconds: a bound on a hang, not a timing claim


class RawClient:
    """A Socket.IO client over a bare TCP socket: it reads only when asked (a WebSocket
    library would go on reading in a thread of its own)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        # A small receive buffer, set before connecting: the kernel holds little for it.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.sock.settimeout(BOUND)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert self.frame().startswith("0")  # Engine.IO open
        self.send("40")
        assert self.frame().startswith("40")  # joined the namespace

    def send(self, text: str) -> None:
        """Send one masked text frame."""
        data, mask = text.encode(), os.urandom(4)
        size = len(data)
        head = bytes([0x81]) + (
            bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack("!H", size)
        )
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        taken, self.buffer = self.buffer[:n], self.buffer[n:]
        return taken

    def frame(self) -> str:
        """Read one (unmasked) frame from the server; answer a ping on the way."""
        first, second = self._take(2)
        assert first == 0x81, f"expected a whole text frame, got opcode byte {first:#x}"
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._take(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._take(8))[0]
        text = self._take(size).decode()
        if text == "2":
            self.send("3")
        return text

    def close(self) -> None:
        self.sock.close()
