"""DurableQueue: its errors, its persistence across opening, and a consumer killed mid-lease."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from arachne.durable import DurableQueue, SqliteStore
from arachne.model.errors import QueueFull

BOUND = 30.0  # seconds: a bound on a hang, not a timing claim


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "q.db") as store:
        with pytest.raises(ValueError, match="capacity must be an int >= 1"):
            DurableQueue(store, "q", capacity=0)
        with pytest.raises(ValueError, match="visibility must be more than 0"):
            DurableQueue(store, "q", capacity=1, visibility=0)
        queue = DurableQueue(store, "q", capacity=1)
        with pytest.raises(ValueError, match="must be JSON data"):
            queue.enqueue(float("nan"))
        with pytest.raises(ValueError, match="must be JSON data"):
            queue.enqueue(object())
        queue.enqueue({"job": 1})
        with pytest.raises(QueueFull, match="holds 1 messages, its capacity"):
            queue.enqueue({"job": 2})
    with pytest.raises(IsADirectoryError, match="give a file"):
        SqliteStore(tmp_path)


def test_messages_outlive_the_store_object_and_queues_are_apart(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "q.db") as store:
        DurableQueue(store, "a", capacity=10).enqueue("for a")
        DurableQueue(store, "b", capacity=10).enqueue("for b")
    with SqliteStore(tmp_path / "q.db") as store:
        (got,) = DurableQueue(store, "a", capacity=10).lease(5)
        assert got.body == "for a"
        assert DurableQueue(store, "b", capacity=10).stats().ready == 1


def test_a_stale_token_cannot_ack_a_message_leased_again(tmp_path: Path) -> None:
    now = [0.0]
    with SqliteStore(tmp_path / "q.db") as store:
        queue = DurableQueue(store, "q", capacity=5, visibility=10, clock=lambda: now[0])
        queue.enqueue("x")
        (first,) = queue.lease()
        now[0] = 11.0  # its deadline passed
        (second,) = queue.lease()
        assert second.id == first.id
        assert second.attempt == 2
        assert queue.ack(first.token) is False  # the first consumer overran
        assert queue.ack(second.token) is True
        assert queue.ack(second.token) is False  # once
        assert queue.stats().ready == queue.stats().leased == 0


def test_a_message_out_of_attempts_is_a_dead_letter_until_redriven(tmp_path: Path) -> None:
    now = [0.0]
    with SqliteStore(tmp_path / "q.db") as store:
        queue = DurableQueue(
            store, "q", capacity=5, visibility=10, max_attempts=2, clock=lambda: now[0]
        )
        queue.enqueue("poison", key="k")
        queue.enqueue("next", key="k")
        (lease,) = queue.lease(5)  # (one at a time for key k)
        assert queue.nack(lease.token, error="boom") is True
        (lease,) = queue.lease(5)
        assert lease.body == "poison"
        assert lease.attempt == 2
        now[0] = 20.0  # expires on its last attempt
        (after,) = queue.lease(5)
        assert after.body == "next"  # the key's order moves past a dead letter
        (dead,) = queue.dead_letters()
        assert (dead.body, dead.attempts) == ("poison", 2)
        assert "expired after 2 attempt(s)" in dead.error
        assert queue.redrive() == 1
        assert queue.stats().dead == 0


CONSUMER = textwrap.dedent(
    """
    import os, sys, time
    from arachne.durable import DurableQueue, SqliteStore
    queue = DurableQueue(SqliteStore(sys.argv[1]), "jobs", capacity=1000, visibility=60)
    done = 0
    while True:
        leased = queue.lease(5)
        if not leased:
            break
        for message in leased:
            if done == 35:  # mid-lease: five messages held, none of them acked
                print("holding", flush=True)
                time.sleep(3600)
            queue.ack(message.token)
            done += 1
    """
)


def test_a_consumer_killed_mid_lease_loses_nothing_and_duplicates_no_ack(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with SqliteStore(path) as store:
        queue = DurableQueue(store, "jobs", capacity=1000)
        for n in range(100):
            queue.enqueue({"n": n})
    consumer = subprocess.Popen(
        [sys.executable, "-c", CONSUMER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert consumer.stdout is not None
        assert consumer.stdout.readline().strip() == "holding"
        consumer.send_signal(signal.SIGKILL)  # kill -9, holding leases
        consumer.wait(BOUND)
    finally:
        consumer.kill()
        if consumer.stdout is not None:
            consumer.stdout.close()
    # Another process, its clock past the dead consumer's deadlines, takes up the rest.
    later = time.time() + 120
    with SqliteStore(path) as store:
        queue = DurableQueue(store, "jobs", capacity=1000, clock=lambda: later)
        seen: list[int] = []
        attempts: dict[int, int] = {}
        while leased := queue.lease(10):
            for message in leased:
                seen.append(message.body["n"])
                attempts[message.body["n"]] = message.attempt
                assert queue.ack(message.token)
        assert queue.stats() == queue.stats().__class__(0, 0, 0, 1000)
    # 35 were acked by the consumer, 65 here: every message acked exactly once.
    assert sorted(seen) == list(range(35, 100))
    assert [n for n, a in attempts.items() if a == 2] == list(range(35, 40))  # the five held
