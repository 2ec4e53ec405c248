"""DurableQueue against a model: enqueue, lease, ack, nack, expiry, dead letters, redrive.

A Hypothesis state machine drives a real queue in a real SQLite file and a plain-Python model
of the same rules side by side, on a fake clock, and checks after every step that they agree
on what each call answered and on the counts; and that no message is acked twice, none is
lost, and messages of one key are leased in order, one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from arachne.durable import DurableQueue, SqliteStore
from arachne.model.errors import QueueFull

CAPACITY = 6
MAX_ATTEMPTS = 2
VISIBILITY = 10.0


@dataclass
class Item:
    id: int
    key: str | None
    body: Any
    state: str = "ready"
    visible_at: float = 0.0
    attempts: int = 0
    token: str | None = None


@dataclass
class Model:
    """The queue's rules, as plainly as they can be written."""

    items: dict[int, Item] = field(default_factory=dict)

    def live(self) -> list[Item]:
        return [i for i in self.items.values() if i.state != "dead"]

    def expire(self, now: float) -> None:
        for item in self.items.values():
            if item.state == "leased" and item.visible_at <= now:
                item.state = "dead" if item.attempts >= MAX_ATTEMPTS else "ready"
                item.token = None

    def eligible(self, item: Item, now: float) -> bool:
        if item.state != "ready" or item.visible_at > now:
            return False
        return item.key is None or not any(
            o.key == item.key and o.id < item.id and o.state != "dead" for o in self.items.values()
        )

    def lease(self, n: int, now: float) -> list[int]:
        self.expire(now)
        chosen = [
            i for i in sorted(self.items.values(), key=lambda i: i.id) if self.eligible(i, now)
        ]
        return [i.id for i in chosen[:n]]

    def counts(self, now: float) -> tuple[int, int, int]:
        self.expire(now)
        states = [i.state for i in self.items.values()]
        return states.count("ready"), states.count("leased"), states.count("dead")


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = TemporaryDirectory()
        self.now = 1000.0
        self.store = SqliteStore(Path(self.folder.name) / "q.db", synchronous="normal")
        self.queue = DurableQueue(
            self.store,
            "jobs",
            capacity=CAPACITY,
            visibility=VISIBILITY,
            max_attempts=MAX_ATTEMPTS,
            clock=lambda: self.now,
        )
        self.model = Model()
        self.tokens: dict[str, int] = {}  # every token handed out -> its message, in order
        self.acked: set[int] = set()
        self.leased_order: dict[str, list[int]] = {}  # key -> ids in the order first leased

    def pick(self, data: st.DataObject) -> str:
        """Draw a token handed out so far, the newest likeliest (by its place, not its text)."""
        issued = list(self.tokens)
        return issued[len(issued) - 1 - data.draw(st.integers(0, len(issued) - 1))]

    def teardown(self) -> None:
        self.store.close()
        self.folder.cleanup()

    @rule(key=st.sampled_from([None, "a", "b"]), body=st.integers(), delay=st.sampled_from([0, 5]))
    def enqueue(self, key: str | None, body: int, delay: float) -> None:
        if len(self.model.live()) >= CAPACITY:
            with pytest.raises(QueueFull):
                self.queue.enqueue(body, key=key, delay=delay)
            return
        item_id = self.queue.enqueue(body, key=key, delay=delay)
        assert item_id not in self.model.items
        self.model.items[item_id] = Item(item_id, key, body, visible_at=self.now + delay)

    @rule(n=st.integers(1, 4))
    def lease(self, n: int) -> None:
        expected = self.model.lease(n, self.now)
        got = self.queue.lease(n)
        assert [m.id for m in got] == expected
        for message in got:
            item = self.model.items[message.id]
            item.state, item.attempts, item.token = "leased", item.attempts + 1, message.token
            item.visible_at = self.now + VISIBILITY
            assert message.attempt == item.attempts
            assert message.body == item.body
            self.tokens[message.token] = message.id
            if message.key is not None:
                order = self.leased_order.setdefault(message.key, [])
                if message.id not in order:
                    assert not order or order[-1] < message.id, "a key's messages out of order"
                    order.append(message.id)

    @precondition(lambda self: bool(self.tokens))
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        token = self.pick(data)
        item = self.model.items.get(self.tokens[token])
        current = item is not None and item.state == "leased" and item.token == token
        assert self.queue.ack(token) is current
        if current:
            assert item is not None
            assert item.id not in self.acked, "acked twice"
            self.acked.add(item.id)
            del self.model.items[item.id]

    @precondition(lambda self: bool(self.tokens))
    @rule(data=st.data(), delay=st.sampled_from([0, 3]))
    def nack(self, data: st.DataObject, delay: float) -> None:
        token = self.pick(data)
        item = self.model.items.get(self.tokens[token])
        current = item is not None and item.state == "leased" and item.token == token
        assert self.queue.nack(token, delay=delay) is current
        if current:
            assert item is not None
            item.token = None
            if item.attempts >= MAX_ATTEMPTS:
                item.state = "dead"
            else:
                item.state, item.visible_at = "ready", self.now + delay

    @rule(seconds=st.sampled_from([1.0, 4.0, 11.0]))
    def tick(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def redrive(self) -> None:
        dead = [i for i in self.model.items.values() if i.state == "dead"]
        if len(self.model.live()) + len(dead) > CAPACITY:
            with pytest.raises(QueueFull):
                self.queue.redrive()
            return
        assert self.queue.redrive() == len(dead)
        for item in dead:
            item.state, item.attempts, item.visible_at = "ready", 0, self.now

    @invariant()
    def counts_agree(self) -> None:
        stats = self.queue.stats()
        assert (stats.ready, stats.leased, stats.dead) == self.model.counts(self.now)

    @invariant()
    def dead_letters_agree(self) -> None:
        dead = sorted(i.id for i in self.model.items.values() if i.state == "dead")
        assert [d.id for d in self.queue.dead_letters(limit=100)] == dead


QueueMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)
TestQueueAgainstModel = QueueMachine.TestCase
