"""Small nodes and a runner shared by the built-in component tests."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from arachne import Input, IterSource, Message, Node, Output, Runtime, Subgraph
from arachne.runtime import FakeClock


class Collect(Node):
    """Records every payload it receives, and the clock's time when a clock is given."""

    inp = Input(None, name="in")

    def __init__(self, name: str = "sink", clock: FakeClock | None = None) -> None:
        super().__init__(name=name)
        self.clock = clock
        self.payloads: list[Any] = []
        self.times: list[float] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.payloads.append(msg.payload)
        if self.clock is not None:
            self.times.append(self.clock.now())


class Scheduled(Node):
    """Emits each ``(time, value)`` once the fake clock reaches ``time``; finishes at ``end``.

    ``keep_alive``: the gaps between values must not end the run as quiescent.
    """

    out = Output(None)
    keep_alive = True

    def __init__(
        self,
        clock: FakeClock,
        items: Iterable[tuple[float, Any]],
        *,
        end: float,
        step: float = 0.001,
        name: str = "src",
    ) -> None:
        super().__init__(name=name)
        self.clock = clock
        self.items = sorted(items, key=lambda item: item[0])
        self.end = end
        self.cadence = step  # type: ignore[misc]

    def on_tick(self) -> None:
        now = self.clock.now()
        while self.items and self.items[0][0] <= now + 1e-9:
            self.emit("out", self.items.pop(0)[1])
        if not self.items and now >= self.end:
            self.finish()


def line(
    *nodes: Node, errors: str | None = None, sink: Collect | None = None
) -> tuple[Subgraph, Collect]:
    """Chain ``nodes`` out -> in into a graph ending in ``sink`` (a ``Collect`` called ``sink``).

    With ``errors`` set, the ``error`` port of the node of that name goes to a second
    ``Collect`` called ``errors``.
    """
    graph = Subgraph()
    for node in nodes:
        graph.add_node(node)
    sink = sink or Collect()
    graph.add_node(sink)
    chain = [*nodes, sink]
    for upstream, downstream in itertools.pairwise(chain):
        graph.connect((upstream.name(), "out"), (downstream.name(), "in"))
    if errors is not None:
        graph.add_node(Collect("errors"))
        graph.connect((errors, "error"), ("errors", "in"))
    return graph, sink


def source(items: Iterable[Any], name: str = "src") -> IterSource:
    """Return a source of ``items`` called ``src``."""
    return IterSource(list(items), name=name)


def run(graph: Subgraph, clock: FakeClock | None = None) -> Runtime:
    """Run ``graph`` to the end (on ``clock``, or a new ``FakeClock``) and return the runtime."""
    runtime = Runtime(clock=clock or FakeClock())
    runtime.register(graph)
    runtime.run()
    return runtime


def collected(graph: Subgraph, name: str) -> Collect:
    """Return the ``Collect`` node called ``name`` in ``graph``."""
    for member in graph.members:
        if member.id == name and isinstance(member.unit, Collect):
            return member.unit
    raise KeyError(name)


@contextlib.contextmanager
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe; afterwards both ends are opened once, so nothing stays blocked on it."""
    path = tmp_path / "pipe"
    os.mkfifo(path)
    try:
        yield path
    finally:
        for flags in (os.O_RDONLY, os.O_WRONLY):
            with contextlib.suppress(OSError):
                os.close(os.open(path, flags | os.O_NONBLOCK))
