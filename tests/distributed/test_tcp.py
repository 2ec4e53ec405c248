"""The TCP transport's guards: hellos, tokens, frame sizes, and what cannot cross."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import msgspec
import pytest

from arachne import IterSource, Subgraph
from arachne.distributed import tcp
from arachne.distributed.cluster import MemoryCluster
from arachne.distributed.frames import DATA, PREFIX_BYTES, Frame, FrameError, encode
from arachne.distributed.memory import MemoryNetwork
from arachne.distributed.tcp import TcpTransport
from arachne.model.errors import NodeFailed
from arachne.sim import SimClock, SimLoop
from tests.distributed.pipelines import JsonLines


def hello(source: str, dest: str, token: str) -> bytes:
    body = msgspec.msgpack.encode([source, dest, token])
    return len(body).to_bytes(PREFIX_BYTES, "big") + body


async def serve(transport: TcpTransport, received: list[Any]) -> int:
    transport.attach("b", lambda source, frame: received.append((source, frame)))
    return await transport.listen()


async def talk(port: int, data: bytes, wait: float = 0.3) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), wait)  # b"" once the peer closes
    except TimeoutError:
        return b"still open"
    finally:
        writer.close()


def test_a_peer_with_the_token_is_heard_one_without_it_is_cut_off() -> None:
    async def main() -> tuple[list[Any], int, bytes, bytes]:
        received: list[Any] = []
        transport = TcpTransport("s3cret", {"a": ("127.0.0.1", 1)})
        port = await serve(transport, received)
        frame = Frame(DATA, "ch", seq=1, items=[1, "x", b"y"])
        good = await talk(port, hello("a", "b", "s3cret") + bytes(encode(frame)))
        bad = await talk(port, hello("a", "b", "guess") + bytes(encode(frame)))
        await transport.close()
        return received, transport.refused, good, bad

    received, refused, good, bad = asyncio.run(main())
    assert [(s, f.items) for s, f in received] == [("a", [1, "x", b"y"])]
    assert good == b"still open"
    assert bad == b""  # closed
    assert refused == 1


def test_a_stranger_gets_no_big_buffer_and_no_long_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hello that claims 64 MiB is refused at once; one that never comes times out."""
    monkeypatch.setattr(tcp, "HELLO_TIMEOUT", 0.1)

    async def main() -> tuple[bytes, bytes, int]:
        transport = TcpTransport("s3cret", {"a": ("127.0.0.1", 1)})
        port = await serve(transport, [])
        huge = await talk(port, (64 << 20).to_bytes(PREFIX_BYTES, "big"))
        silent = await talk(port, b"", wait=1.0)
        await transport.close()
        return huge, silent, transport.refused

    huge, silent, refused = asyncio.run(main())
    assert huge == b""
    assert silent == b""
    assert refused == 2


def test_too_many_strangers_are_turned_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tcp, "MAX_STRANGERS", 3)

    async def main() -> int:
        transport = TcpTransport("s3cret", {"a": ("127.0.0.1", 1)})
        port = await serve(transport, [])
        socks = []
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", port))
            socks.append(sock)
            await asyncio.sleep(0.05)
        refused = transport.refused
        for sock in socks:
            sock.close()
        await transport.close()
        return refused

    assert asyncio.run(main()) == 2


def test_a_frame_over_the_limit_is_refused_naming_its_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tcp, "MAX_FRAME_BYTES", 1000)

    async def main() -> None:
        transport = TcpTransport("s3cret", {"b": ("127.0.0.1", 1)})
        transport.send("a", "b", Frame(DATA, "orders", seq=1, items=[b"x" * 2000]))

    with pytest.raises(FrameError, match="channel 'orders': a frame of"):
        asyncio.run(main())


class Encoding(MemoryNetwork):
    """An in-memory network that encodes every frame as TCP would (refusing what cannot go)."""

    def send(self, source: str, dest: str, frame: Frame) -> None:
        encode(frame)
        super().send(source, dest, frame)


def test_an_item_that_cannot_cross_fails_the_run_naming_the_channel(tmp_path: Any) -> None:
    """No hang: the link breaks, its sending node fails, the run ends failed, saying why."""
    g = Subgraph()
    g.add_node(IterSource([1, 2, object(), 4]), name="source")
    g.add_node(JsonLines(str(tmp_path / "o.jsonl")), name="sink")
    g.connect(("source", "out"), ("sink", "in"))
    loop = SimLoop()
    try:
        cluster = MemoryCluster(
            g, {"a": ["source"], "b": ["sink"]}, network=Encoding(), clock=SimClock(loop)
        )
        with pytest.raises(NodeFailed, match="link_out.*source.out->sink.in.*cannot cross"):
            loop.run_until_complete(asyncio.wait_for(cluster.run(), 600))
    finally:
        loop.close()
