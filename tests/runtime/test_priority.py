"""Control plane and fairness: control first even when every data edge is full; nobody starves."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from arachne import Input, IterSource, Node, Output, Runtime, Subgraph, node
from arachne.runtime import ExecutionState
from tests.runtime.nodes import Forever


class Stalled(Node):
    """An async sink whose first call never returns: it stalls with its input edge full."""

    mode = "async"
    inp = Input(int, name="in")

    def __init__(self) -> None:
        self.started = threading.Event()

    async def on_message(self, port: str, msg: Any) -> None:
        self.started.set()
        await asyncio.Event().wait()


class Switch(Node):
    """A keep-alive control source: emits one 'kill' once the test arms it."""

    keep_alive = True
    out = Output(str)

    def __init__(self, runtime_ref: list[Runtime]) -> None:
        self.armed = threading.Event()
        self.sent = False
        self.runtime_ref = runtime_ref
        self.at_send: dict[str, int] = {}

    def on_tick(self) -> None:
        if self.armed.is_set() and not self.sent:
            self.sent = True
            stats = self.runtime_ref[0].stats()
            self.at_send = {n: s.received for n, s in stats.nodes.items()}
            self.emit("out", "kill")


class Gate(Node):
    """Forwards data; on a control message records the moment and pulls the kill switch."""

    def __init__(self, runtime_ref: list[Runtime]) -> None:
        self.runtime_ref = runtime_ref
        self.at_kill: dict[str, int] = {}

    def inputs(self) -> dict[str, Any]:
        return {"in": int, "control": str}

    def outputs(self) -> dict[str, Any]:
        return {"out": int}

    def on_message(self, port: str, msg: Any) -> None:
        if port == "control":
            stats = self.runtime_ref[0].stats()
            self.at_kill = {n: s.received for n, s in stats.nodes.items()}
            self.request_stop(drain=False)
            return
        self.emit("out", msg.payload)


def test_control_message_reaches_a_blocked_node_within_one_quantum_and_kills_the_run() -> None:
    quantum = 16
    ref: list[Runtime] = []
    switch, gate, sink = Switch(ref), Gate(ref), Stalled()
    graph = Subgraph()
    for unit in (Forever(), switch, gate, sink):
        graph.add_node(unit)
    graph.connect(("forever", "out"), ("gate", "in"), capacity=8, id="data-in")
    graph.connect(("gate", "out"), ("stalled", "in"), capacity=8, id="data-out")
    graph.connect(("switch", "out"), ("gate", "control"), capacity=1, control=True, id="kill")
    runtime = Runtime(quantum=quantum)
    ref.append(runtime)
    runtime.register(graph)
    ex = runtime.start()
    assert sink.started.wait(10)
    deadline = time.monotonic() + 10
    while not all(
        runtime.stats().edges[e].depth >= 8 for e in ("data-in", "data-out")
    ):  # every data edge full, the sink stalled
        assert time.monotonic() < deadline
        ex.wait(0.001)
    switch.armed.set()
    assert ex.wait(10)
    assert ex.state is ExecutionState.CANCELLED
    handled_between = sum(gate.at_kill[n] - switch.at_send[n] for n in gate.at_kill)
    assert handled_between <= quantum
    # Nothing else could move: the gate was next. The one message counted is the kill itself,
    # received (taken from its edge) before its handler runs.
    assert handled_between == 1
    edges = runtime.stats().edges
    assert edges["kill"].dequeued == 1
    assert edges["data-in"].dropped + edges["data-out"].dropped >= 16
    runtime.shutdown()


def test_a_trickling_input_is_served_within_a_quantum_of_a_flooded_one() -> None:
    order: list[str] = []

    class Merge(Node):
        def inputs(self) -> dict[str, Any]:
            return {"flood": None, "trickle": None}

        def on_message(self, port: str, msg: Any) -> None:
            order.append(port)

    quantum = 8
    graph = Subgraph()
    graph.add_node(IterSource(range(2000), name="flood"))
    graph.add_node(IterSource(["t"] * 5, name="trickle"))
    graph.add_node(Merge())
    graph.connect(("flood", "out"), ("merge", "flood"), capacity=1000)
    graph.connect(("trickle", "out"), ("merge", "trickle"), capacity=1000)
    runtime = Runtime(quantum=quantum)
    runtime.register(graph)
    runtime.run()
    positions = [i for i, port in enumerate(order) if port == "trickle"]
    gaps = [b - a for a, b in zip([-1, *positions], positions, strict=False)]
    assert len(positions) == 5
    assert max(gaps) <= quantum + 1


def test_a_flooded_pipeline_does_not_starve_its_neighbour() -> None:
    order: list[str] = []

    class Tag(Node):
        inp = Input(None, name="in")

        def on_message(self, port: str, msg: Any) -> None:
            order.append(self.name())

    quantum = 8
    graph = Subgraph()
    graph.add_node(IterSource(range(5000), name="big"))
    graph.add_node(IterSource(range(20), name="small"))
    graph.add_node(Tag(name="big_sink"))
    graph.add_node(Tag(name="small_sink"))
    graph.connect(("big", "out"), ("big_sink", "in"), capacity=64)
    graph.connect(("small", "out"), ("small_sink", "in"), capacity=64)
    runtime = Runtime(quantum=quantum)
    runtime.register(graph)
    runtime.run()
    last_small = max(i for i, name in enumerate(order) if name == "small_sink")
    # Round-robin among equal ranks: the small pipeline is done within a few rounds, each of
    # which gives the big sink at most one quantum.
    assert last_small < 20 + 4 * quantum


def test_a_function_stage_with_a_full_output_still_takes_its_control_messages() -> None:
    seen_kill = threading.Event()

    @node(name="stage")
    def stage(x: Any) -> Any:
        if x == "kill":
            seen_kill.set()
        return x

    switch, sink = Switch([]), Stalled()
    graph = Subgraph()
    for unit in (Forever(), switch, stage(), sink):
        graph.add_node(unit)
    graph.connect(("forever", "out"), ("stage", "in"), capacity=8, id="data-in")
    graph.connect(("stage", "out"), ("stalled", "in"), capacity=8, id="data-out")
    graph.connect(("switch", "out"), ("stage", "in"), capacity=1, control=True, id="kill")
    runtime = Runtime(quantum=16)
    switch.runtime_ref.append(runtime)
    runtime.register(graph)
    ex = runtime.start()
    try:
        assert sink.started.wait(10)
        deadline = time.monotonic() + 10
        while not all(runtime.stats().edges[e].depth >= 8 for e in ("data-in", "data-out")):
            assert time.monotonic() < deadline
            ex.wait(0.001)
        switch.armed.set()
        # The stage is held back by its full output, yet the control message goes through.
        assert seen_kill.wait(10)
        assert runtime.stats().edges["kill"].dequeued == 1
    finally:
        ex.request_stop(drain=False)
        assert ex.wait(10)
        runtime.shutdown()
