"""Lazy payloads: large payloads stay with their sender until a node across the link opens them.

The scanner graph (``lazy_pipelines``) routes frames on their headers; only every third large
one is read. Across a lazy link it must give the single-process run's digests and tallies,
whatever the network does, fetching exactly the payloads that were read, and leave nothing
lent behind.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from arachne import LazyPayload, Message, PayloadUnavailable, Runtime, open_payload
from arachne.distributed.channels import MAX_BACKOFF, LinkOptions, SendChannel
from arachne.distributed.cluster import MemoryCluster
from arachne.distributed.frames import ANNOUNCE, CREDIT, DATA, Frame, FrameError, decode, encode
from arachne.distributed.host import MeshHost
from arachne.distributed.memory import MemoryNetwork, NetworkFaults, Partition
from arachne.distributed.payloads import Borrower, PayloadRef
from arachne.distributed.processes import ProcessCluster
from arachne.durable import SqliteStore
from arachne.model.errors import NodeFailed
from arachne.model.message import Headers
from arachne.sim import SimClock, SimLoop
from tests.distributed.lazy_pipelines import (
    LARGE,
    PLACED,
    SOURCE,
    fetched_only_what_was_read,
    frames,
    scanner_parts,
)
from tests.distributed.test_cluster_sim import draw_faults

SEEDS = range(int(os.environ.get("ARACHNE_SIM_SEEDS", "100")))
ENV = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def single(seed: int, count: int, keep: int) -> tuple[list[list[Any]], dict[str, int]]:
    g, digest, tally = scanner_parts(seed, count, keep)
    rt = Runtime()
    rt.register(g)
    rt.run()
    return digest.rows, tally.tally


# -- the handle and its node-side API ------------------------------------------------------------


def test_a_lazy_payload_is_fetched_once_and_released_once() -> None:
    """Opened twice (and by two openers at once): one fetch, one release, the same value."""
    fetches: list[int] = []
    releases: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        shared: list[asyncio.Future[Any]] = []

        def fetch() -> asyncio.Future[Any]:  # (as the link does: one fetch, many waiters)
            if not shared:
                fetches.append(1)
                shared.append(loop.create_future())
                loop.call_later(0.01, shared[0].set_result, b"abc")
            return asyncio.shield(shared[0])

        lazy = LazyPayload(3, fetch, lambda: releases.append(1))
        with pytest.raises(TimeoutError):  # (an opener that gives up leaves the rest waiting)
            await asyncio.wait_for(lazy.open(), 0.001)
        assert not lazy.opened
        assert "not opened" in repr(lazy)
        with pytest.raises(RuntimeError, match="not been opened"):
            _ = lazy.value
        both = await asyncio.gather(lazy.open(), open_payload(lazy))
        assert both == [b"abc", b"abc"]
        assert await lazy.open() == b"abc"
        assert lazy.opened
        assert lazy.value == b"abc"
        assert await open_payload(b"plain") == b"plain"  # (a payload never lazy, as it is)

    asyncio.run(main())
    assert fetches == [1]
    assert releases == [1]


def test_a_handle_dropped_unopened_releases_its_payload() -> None:
    """Nothing fetched; the sender is told it may let the payload go."""
    releases: list[int] = []
    lazy = LazyPayload(10, lambda: asyncio.Future(), lambda: releases.append(1), text=True)
    assert "10 characters" in repr(lazy)
    del lazy
    gc.collect()
    assert releases == [1]


def test_link_options_refuse_a_bad_threshold() -> None:
    for bad in (0, -5, 1.5, True, "big"):
        with pytest.raises(ValueError, match="lazy_bytes must be an int >= 1"):
            LinkOptions(lazy_bytes=bad)  # type: ignore[arg-type]
    assert LinkOptions().lazy_bytes is None  # (off unless asked for)


# -- the wire ----------------------------------------------------------------------------------


def test_handles_cross_the_wire_as_position_size_and_kind() -> None:
    """A handle inside a message keeps its headers; a malformed one is refused."""
    ref = PayloadRef(7, 150_000, False)
    frame = Frame(DATA, "c", seq=1, items=[Message(ref, Headers({"id": 3})), ref, 5])
    back = decode(encode(frame)[4:])
    assert back.items[0].payload == ref
    assert back.items[0].headers == {"id": 3}
    assert back.items[1:] == [ref, 5]
    forged = Frame(DATA, "c", seq=1, items=[PayloadRef(-1, 3, False)])
    with pytest.raises(FrameError, match=r"\[position, size, text\]"):
        decode(encode(forged)[4:])


def test_a_lazy_payload_crosses_a_second_link_only_opened() -> None:
    """Not opened: the link breaks with what to do; opened: its value goes."""

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def fetch() -> asyncio.Future[Any]:
            future = loop.create_future()
            future.set_result(b"xyz")
            return future

        lazy = LazyPayload(3, fetch)
        with pytest.raises(FrameError, match="open it first"):
            encode(Frame(DATA, "c", seq=1, items=[lazy]))
        await lazy.open()
        assert decode(encode(Frame(DATA, "c", seq=1, items=[lazy]))[4:]).items == [b"xyz"]

    asyncio.run(main())


def test_a_sending_channel_lends_big_items_and_lets_them_go_when_released() -> None:
    """Big items count as handles in a frame (many fit); a grant's positions release them."""
    channel = SendChannel("c", LinkOptions(lazy_bytes=1000, frame_bytes=4096))
    big = [bytes([i]) * 5000 for i in range(10)]
    channel.push([b"small", *big, Message("t" * 2000, Headers({"k": 1}))])
    (frame,) = channel.cut(0.0, force=True)
    assert frame.items[0] == b"small"
    refs = frame.items[1:11]
    assert [r.position for r in refs] == list(range(2, 12))
    assert all(r.size == 5000 and not r.text for r in refs)
    last = frame.items[11]
    assert last.payload == PayloadRef(12, 2000, True)
    assert last.headers == {"k": 1}
    assert channel.lender.lent_bytes == 52_000
    assert channel.payload_at(2) == (True, big[0])
    assert channel.payload_at(99) == (False, None)
    channel.on_credit(Frame(CREDIT, "c", ack=1, credit=11, durable=12, items=[2, 3, "x"]))
    assert sorted(channel.lender.lent) == list(range(4, 13))
    assert channel.payload_at(2) == (False, None)  # (released, and no longer kept)


def test_a_release_lost_with_its_grant_is_asked_about_mid_stream() -> None:
    """The grant carrying releases is lost; the stream goes on: once the oldest lent position
    has stayed lent a while after it was taken, the sender asks, ever more rarely."""
    options = LinkOptions(lazy_bytes=1000, frame_items=4, retransmit=0.1)
    channel = SendChannel("c", options)
    channel.push([bytes([i]) * 5000 for i in range(4)])
    channel.cut(0.0, force=True)
    # The consumer took the frame; the grant with the releases of 1 to 3 never arrived.
    channel.on_credit(Frame(CREDIT, "c", ack=1, credit=options.credits + 1, durable=4))
    assert channel.taken == 4
    asks: list[tuple[float, list[int]]] = []
    for step in range(1, 400):
        now = round(step * 0.1, 1)
        asks += [(now, f.items) for f in channel.due(now) if f.kind == ANNOUNCE and f.items]
    assert [items for _, items in asks] == [[1, 2, 3, 4]] * len(asks)
    assert asks[0][0] >= options.retransmit * MAX_BACKOFF
    gaps = [round(later[0] - earlier[0], 1) for earlier, later in pairwise(asks)]
    assert len(gaps) >= 2
    assert all(b >= 2 * a for a, b in pairwise(gaps))  # (each wait twice the last)
    # The receiver answers by what it handed on and no handle holds: 4 is still held.
    channel.on_credit(Frame(CREDIT, "c", ack=1, credit=11, durable=4, items=[1, 2, 3]))
    assert sorted(channel.lender.lent) == [4]


def test_a_position_not_yet_taken_is_not_asked_about() -> None:
    options = LinkOptions(lazy_bytes=1000, frame_items=4, retransmit=0.1)
    channel = SendChannel("c", options)
    channel.push([bytes([i]) * 5000 for i in range(4)])
    channel.cut(0.0, force=True)
    channel.on_credit(Frame(CREDIT, "c", ack=1, credit=options.credits, durable=0))
    asked = [f for step in range(1, 100) for f in channel.due(step * 0.1) if f.items]
    assert asked == []  # (the consumer has not taken them: they are not due for release)


def test_a_fetch_not_answered_is_asked_again_ever_more_rarely() -> None:
    """Asked again after one retransmit, then twice as long each time, up to 16 of them."""

    async def scenario() -> list[float]:
        asked: list[int] = []
        borrower = Borrower("c", "a", asked.append, lambda: None)
        borrower.fetch(7)
        again = []
        for step in range(1, 120):
            now = asyncio.get_running_loop().time()  # (the fetch's own start)
            if borrower.due(now + step * 0.1, 0.1):
                again.append(round(step * 0.1, 1))
        return again

    again = asyncio.run(scenario())
    gaps = [round(b - a, 1) for a, b in pairwise([0.0, *again])]
    assert gaps[:5] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert set(gaps[5:]) == {1.6}  # (16 retransmits at most)


# -- whole runs --------------------------------------------------------------------------------


def run_cluster(
    seed: int, placement: dict[str, list[str]], faults: NetworkFaults, options: LinkOptions
) -> tuple[MemoryCluster, list[list[Any]], dict[str, int]]:
    g, digest, tally = scanner_parts(seed, 45, 3)
    loop = SimLoop()
    try:
        network = MemoryNetwork(faults, seed=seed)
        cluster = MemoryCluster(
            g, placement, network=network, options=options, clock=SimClock(loop), seed=seed
        )
        loop.run_until_complete(asyncio.wait_for(cluster.run(), 3600))
        assert not loop.errors, loop.errors
    finally:
        loop.close()
    return cluster, digest.rows, tally.tally


@pytest.mark.parametrize("seed", SEEDS)
def test_a_lazy_link_gives_the_single_process_output_whatever_the_network_does(
    seed: int,
) -> None:
    """Only the payloads read cross; they all do, once each; nothing stays lent."""
    rng = random.Random(seed)
    placement = rng.choice(
        [
            {"a": ["source"], "b": ["scan", "digest", "tally"]},
            {"a": ["source", "scan"], "b": ["digest"], "c": ["tally"]},
        ]
    )
    options = LinkOptions(
        lazy_bytes=100_000,
        credits=rng.choice([1, 2, 10]),
        frame_items=rng.choice([1, 4, 256]),
        retransmit=rng.choice([0.05, 0.2]),
    )
    cluster, rows, tally = run_cluster(seed, placement, draw_faults(rng), options)
    assert (rows, tally) == single(seed, 45, 3)
    links = [row for rows_ in cluster.links().values() for row in rows_]
    large = [m for m in frames(seed, 45) if m.headers["size"] == LARGE]
    received = [row for row in links if row["role"] == "receive"]
    sent = [row for row in links if row["role"] == "send"]
    assert sum(row["opened"] for row in received) == len(rows)
    assert sum(row["fetched_bytes"] for row in received) == LARGE * len(rows)
    # Large frames cross once as handles: on the one link from the source, or (scan placed
    # with the source) only those that go on to the digest.
    crossing = len(large) if "scan" in placement["b"] else len(rows)
    assert sum(row["lazy"] for row in received) == crossing
    assert all(row["lent_held"] == 0 and row["lent_bytes"] == 0 for row in sent)


def test_without_lazy_bytes_payloads_cross_whole() -> None:
    """The default: no handles, nothing lent, the same output."""
    cluster, rows, tally = run_cluster(
        1, {"a": ["source"], "b": ["scan", "digest", "tally"]}, NetworkFaults(), LinkOptions()
    )
    assert (rows, tally) == single(1, 45, 3)
    links = [row for rows_ in cluster.links().values() for row in rows_]
    assert all(row.get("lazy", 0) == 0 and row.get("lent", 0) == 0 for row in links)


def run_checkpointed(
    db: Path, seed: int, crash: tuple[str, float, float] | None, pause: float = 0.0
) -> tuple[dict[int, list[Any]], MemoryCluster]:
    """The scanner on two checkpointed hosts; ``crash = (partition, at, back_after)``."""
    table: dict[int, list[Any]] = {}
    loop = SimLoop()
    try:
        with SqliteStore(db) as store:
            cluster = MemoryCluster(
                lambda: scanner_parts(seed, 45, 3, table=table, pause=pause)[0],
                {"a": ["source"], "b": ["scan", "digest", "tally"]},
                network=MemoryNetwork(NetworkFaults(delay=(0.0, 0.002)), seed=seed),
                options=LinkOptions(lazy_bytes=100_000, heartbeat=0.2, retransmit=0.05),
                clock=SimClock(loop),
                store=store,
                checkpoint_every=0.005,
            )
            if crash is not None:
                name, at, back = crash
                loop.call_at(at, cluster.crash, name)
                loop.call_at(at + back, cluster.restart, name)
            loop.run_until_complete(asyncio.wait_for(cluster.run(), 600.0))
            assert not loop.errors, loop.errors
    finally:
        loop.close()
    return table, cluster


@pytest.mark.parametrize("seed", range(max(12, len(SEEDS) // 5)))
def test_a_lazy_link_between_checkpointed_hosts_survives_a_restart_of_either_end(
    tmp_path: Path, seed: int
) -> None:
    """The sender or the receiver crashes mid-run and resumes: every digest, as one process.

    A restarted receiver is sent its handles again; a restarted sender answers fetches for
    what it still keeps.
    """
    rng = random.Random(seed)
    expected = {row[0]: row for row in single(seed, 45, 3)[0]}
    _, cluster = run_checkpointed(tmp_path / "whole.db", seed, None)
    victim = rng.choice(["a", "b"])
    at = rng.uniform(0.0, cluster.completed[victim] * 0.9)  # (while its run goes on)
    crash = (victim, at, rng.uniform(0.01, 0.3))
    table, cluster = run_checkpointed(tmp_path / "crashed.db", seed, crash)
    assert table == expected
    rows = [row for rows_ in cluster.links().values() for row in rows_]
    assert all("payloads-not-durable" in row["taints"] for row in rows)


def test_payloads_lent_by_a_sender_lost_after_it_completed_fail_their_opener(
    tmp_path: Path,
) -> None:
    """The sender completes, then dies holding payloads a slow reader has not opened yet.

    Its run is over, so it is not resumed: the reader's fetch fails, naming the host and why,
    and so does the run (nothing is silently skipped).
    """
    with pytest.raises(NodeFailed, match=r"PayloadUnavailable: .*host 'a' is gone \(its run had"):
        run_checkpointed(tmp_path / "run.db", 3, ("a", 0.5, 0.1), pause=0.1)


def pair(network: MemoryNetwork, options: LinkOptions) -> tuple[MeshHost, MeshHost]:
    a = MeshHost("a", network, options=options)
    b = MeshHost("b", network, options=options)
    a.sender("c", "b")
    b.receiver("c", "a")
    return a, b


def test_a_payload_is_fetched_after_its_sender_comes_back_and_not_after_it_left() -> None:
    """Silent for a while (fetches asked again): opened once heard again; gone: it fails."""
    options = LinkOptions(lazy_bytes=100, heartbeat=1.0, retransmit=0.05)

    async def main() -> tuple[bytes, str]:
        network = MemoryNetwork(NetworkFaults(partitions=(Partition("a", "b", 0.0005, 3.0),)))
        a, b = pair(network, options)
        a.start()
        b.start()
        a.outbound["c"].push([b"x" * 500, b"y" * 600])
        a.flush(a.outbound["c"], force=True)
        await asyncio.sleep(0.001)
        first, second = b.inbound["c"].take_now(10).items
        assert isinstance(first, LazyPayload)
        assert first.size == 500
        opened = await first.open()  # (asked from 0.001 s; answered after 3 s of silence)
        assert b.peers["a"].last_heard is not None
        assert b.peers["a"].last_heard > 2.9
        assert b.inbound["c"].borrower is not None
        a.close()  # (it says goodbye, then stops answering)
        await asyncio.sleep(0.01)
        network.detach("a")
        try:
            await second.open()
        except PayloadUnavailable as exc:
            return opened, str(exc)
        finally:
            b.close()
        return opened, "opened"

    loop = SimLoop()
    try:
        opened, message = loop.run_until_complete(main())
    finally:
        loop.close()
    assert opened == b"x" * 500
    assert "host 'a' is gone (it said goodbye)" in message


def test_a_sender_that_no_longer_has_a_payload_says_so() -> None:
    """A fetch for a position never lent (a restarted sender's) fails as gone."""
    options = LinkOptions(lazy_bytes=100)

    async def main() -> str:
        a, b = pair(MemoryNetwork(), options)
        borrower = b.inbound["c"].borrower
        assert borrower is not None
        try:
            await borrower.fetch(42)
        except PayloadUnavailable as exc:
            return str(exc)
        finally:
            a.close()
            b.close()
        return "opened"

    loop = SimLoop()
    try:
        assert "no longer has the payload at position 42" in loop.run_until_complete(main())
    finally:
        loop.close()


def test_two_processes_fetch_only_what_is_read(tmp_path: Path) -> None:
    """Over TCP between two worker processes: the digests of one process, a third fetched."""
    expected, _ = single(5, 90, 3)
    out = tmp_path / "digests.jsonl"
    source = {**SOURCE, "kwargs": {**SOURCE["kwargs"], "path": str(out)}}
    cluster = ProcessCluster(source, PLACED, options=LinkOptions(lazy_bytes=100_000), env=ENV)
    assert fetched_only_what_was_read(cluster.run(timeout=120), out) == expected
