from __future__ import annotations

from typing import Any

from arachne import DeadLetters, IterSource, Message, Node, Output, Retry, Runtime, Subgraph
from arachne.runtime import FakeClock
from tests.runtime.nodes import Collect


class Summer(Node):
    """Sums each batch it gets and emits the sum; remembers the batch sizes."""

    out = Output(int)

    def __init__(self, fail_on: int | None = None, policy: Any = "fail") -> None:
        self.sizes: list[int] = []
        self.fail_on = fail_on
        self.error_policy = policy
        self.calls = 0

    def inputs(self) -> dict[str, Any]:
        return {"in": int}

    def on_batch(self, port: str, msgs: list[Message]) -> None:
        self.calls += 1
        failing = self.fail_on is not None and any(m.payload == self.fail_on for m in msgs)
        if failing and self.calls < 3:
            raise ValueError("bad batch")
        self.sizes.append(len(msgs))
        self.emit("out", sum(m.payload for m in msgs))


def run(node: Summer, n: int, **kwargs: Any) -> tuple[Runtime, Collect, DeadLetters]:
    graph = Subgraph()
    graph.add_node(IterSource(range(n), name="src", schema=int))
    graph.add_node(node)
    sink, dead = Collect(), DeadLetters(name="dead")
    graph.add_node(sink)
    graph.add_node(dead)
    graph.connect(("src", "out"), ("summer", "in"), capacity=100)
    graph.connect(("summer", "out"), ("collect", "in"))
    graph.connect(("summer", "error"), ("dead", "in"))
    runtime = Runtime(**kwargs)
    runtime.register(graph)
    runtime.run()
    return runtime, sink, dead


def test_on_batch_receives_up_to_a_quantum_at_once() -> None:
    summer = Summer()
    runtime, sink, _ = run(summer, 1000, quantum=32)
    assert sum(sink.payloads) == sum(range(1000))
    assert max(summer.sizes) == 32
    assert sum(summer.sizes) == 1000
    assert runtime.stats().nodes["summer"].received == 1000


def test_a_failed_batch_is_dead_lettered_message_by_message() -> None:
    summer = Summer(fail_on=5, policy="dead_letter")
    _, sink, dead = run(summer, 20, quantum=10)
    assert [r.payload for r in dead.records] == list(range(10))
    assert sink.payloads == [sum(range(10, 20))]


def test_a_failed_batch_is_retried_whole() -> None:
    clock = FakeClock()
    summer = Summer(fail_on=5, policy=Retry(max_attempts=3, backoff=1.0))
    _, sink, _ = run(summer, 20, quantum=10, clock=clock)
    assert sink.payloads == [sum(range(10)), sum(range(10, 20))]
    assert summer.calls == 4
    assert clock.now() == 3.0


def test_the_default_on_batch_calls_on_message() -> None:
    collect = Collect()
    collect.on_batch("in", [Message(1), Message(2)])
    assert collect.payloads == [1, 2]
