"""Small nodes shared by the runtime tests."""

from __future__ import annotations

import itertools
from typing import Any

from arachne import Input, Message, Node, Output, Runtime, Subgraph
from arachne.runtime import FakeClock


class Collect(Node):
    """Records every payload (and message) it receives, and the hooks called on it."""

    inp = Input(None, name="in")

    def __init__(self, name: str = "collect", log: list[str] | None = None) -> None:
        super().__init__(name=name)
        self.payloads: list[Any] = []
        self.messages: list[Message] = []
        self.log = log if log is not None else []

    def on_start(self) -> None:
        self.log.append(f"start {self.name()}")

    def on_message(self, port: str, msg: Message) -> None:
        self.payloads.append(msg.payload)
        self.messages.append(msg)

    def on_finish(self) -> None:
        self.log.append(f"finish {self.name()}")

    def on_stop(self) -> None:
        self.log.append(f"stop {self.name()}")


class Count(Node):
    """A source that ticks out 0..n-1, then finishes (or just goes idle)."""

    out = Output(int)

    def __init__(
        self, n: int, *, name: str = "count", finish: bool = True, log: list[str] | None = None
    ) -> None:
        super().__init__(name=name)
        self.n, self.i, self.explicit = n, 0, finish
        self.log = log if log is not None else []

    def on_start(self) -> None:
        self.log.append(f"start {self.name()}")

    def on_tick(self) -> None:
        if self.i < self.n:
            self.emit("out", self.i)
            self.i += 1
        elif self.explicit:
            self.finish()

    def on_finish(self) -> None:
        self.log.append(f"finish {self.name()}")

    def on_stop(self) -> None:
        self.log.append(f"stop {self.name()}")


class Forever(Node):
    """A source that emits 0, 1, 2, ... until stopped."""

    out = Output(int)

    def __init__(self, name: str = "forever") -> None:
        super().__init__(name=name)
        self.i = 0

    def on_tick(self) -> None:
        self.emit("out", self.i)
        self.i += 1


class Relay(Node):
    """Passes payloads through, applying ``fn``."""

    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self, name: str = "relay", fn: Any = None) -> None:
        super().__init__(name=name)
        self.fn = fn or (lambda x: x)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", self.fn(msg.payload))


def run_on_fake_clock(graph: Subgraph, **options: Any) -> Runtime:
    """Run ``graph`` to its end on a ``FakeClock`` with ``Runtime`` ``options``; return it."""
    runtime = Runtime(clock=FakeClock(), **options)
    runtime.register(graph)
    runtime.run()
    return runtime


def line(*units: Node) -> Subgraph:
    """Return a graph of ``units`` in a line, each one's ``out`` linked to the next's ``in``."""
    graph = Subgraph()
    for unit in units:
        graph.add_node(unit)
    for before, after in itertools.pairwise(units):
        graph.connect((before.name(), "out"), (after.name(), "in"))
    return graph
