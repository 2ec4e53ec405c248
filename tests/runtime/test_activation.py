"""The class-node message loop: what ``on_message`` is handed, what ``emit`` sends, how much.

The loop hands a node one ``Message`` object after another and refills it while the hook kept
no reference to it; a message anyone holds must never change. While a node with one output
port and one ``block`` edge handles a chunk, its ``emit`` only appends (the lean path); every
other shape emits through the binding or the edge's own emitter (the general path).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import TracebackType
from typing import Any

import pytest

from arachne import (
    DeadLetters,
    ErrorRecord,
    Input,
    IterSource,
    Message,
    Node,
    NodeFailed,
    Output,
    PortSpec,
    Retry,
    Runtime,
    Subgraph,
    node,
)
from arachne.runtime import FakeClock
from tests.runtime.nodes import Collect

N = 700  # more than a quantum (256), so a node gets several activations and chunks


def run(graph: Subgraph, **options: Any) -> Runtime:
    runtime = Runtime(**options)
    runtime.register(graph)
    runtime.run()
    return runtime


class Sender(Node):
    """Calls ``how(self, msg)`` for every message and records which ``emit`` it had."""

    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self, how: Callable[[Sender, Message], None], name: str = "sender") -> None:
        super().__init__(name=name)
        self.how = how
        self.emitters: set[str] = set()
        self.errors: list[str] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.emitters.add(self.emit.__qualname__)
        self.how(self, msg)


class TwoSender(Sender):
    """A Sender with a second output port, ``side``."""

    side = Output(None)


# Each shape wires src -> sender -> collect(s); the emitter names which path it takes.
SHAPES: dict[str, tuple[type[Sender], list[dict[str, Any]], str]] = {
    "lean": (Sender, [{}], "LeanOutput"),
    "policy": (Sender, [{"overflow": "drop", "capacity": 1 << 20}], "emit_with_policy"),
    "fanout": (Sender, [{}, {}], "Binding.emit"),
    "two-ports": (TwoSender, [{}], "Binding.emit"),
}


def build(
    shape: str,
    how: Callable[[Sender, Message], None],
    items: Any = None,
    *,
    capacity: int = 64,
    sender: Sender | None = None,
) -> tuple[Subgraph, Sender, list[Collect]]:
    """Wire ``src -> sender -> collect(s)`` as ``shape`` says (``sender`` made if not given)."""
    cls, links, _ = SHAPES[shape]
    graph = Subgraph()
    graph.add_node(IterSource(range(N) if items is None else items, name="src"))
    if sender is None:
        sender = cls(how)
    graph.add_node(sender)
    graph.connect(("src", "out"), ("sender", "in"))
    sinks = []
    for index, link in enumerate(links):
        sink = Collect(name=f"collect{index}")
        graph.add_node(sink)
        graph.connect(("sender", "out"), (sink.name(), "in"), **{"capacity": capacity, **link})
        sinks.append(sink)
    return graph, sender, sinks


def check_path(shape: str, sender: Sender) -> None:
    """Make sure the shape took the path it is meant to exercise."""
    [emitter] = sender.emitters
    assert SHAPES[shape][2] in emitter


# -- kept messages never change ----------------------------------------------------------------


class Keeper(Node):
    """Keeps the messages ``keep`` picks (with their payload then) and passes payloads on."""

    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self, keep: Callable[[int], bool]) -> None:
        super().__init__(name="keeper")
        self.keep = keep
        self.kept: list[tuple[Message, Any]] = []
        self.ids: list[int] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.ids.append(id(msg))
        if self.keep(len(self.ids) - 1):
            self.kept.append((msg, msg.payload))
        self.emit("out", msg.payload)


# sink: no edge out; lean: one block edge; policy: one drop edge; traced: messages with headers
KEEP_SHAPES = ["sink", "lean", "policy", "traced"]


def keeper_graph(keeper: Node, shape: str) -> tuple[Subgraph, Collect | None, dict[str, Any]]:
    graph = Subgraph()
    graph.add_node(IterSource(range(N), name="src"))
    graph.add_node(keeper)
    graph.connect(("src", "out"), (keeper.name(), "in"), capacity=64)
    if shape == "sink":
        return graph, None, {}
    sink = Collect()
    graph.add_node(sink)
    link = {"overflow": "drop", "capacity": 1 << 20} if shape == "policy" else {"capacity": 16}
    graph.connect((keeper.name(), "out"), ("collect", "in"), **link)
    return graph, sink, {"trace": shape == "traced"}


@pytest.mark.parametrize("shape", KEEP_SHAPES)
@pytest.mark.parametrize("every", [1, 3, N + 1], ids=["all", "every-third", "first-only"])
def test_kept_messages_are_distinct_and_never_change(shape: str, every: int) -> None:
    keeper = Keeper(lambda index: index % every == 0)
    graph, sink, options = keeper_graph(keeper, shape)
    run(graph, **options)
    expected = list(range(0, N, every))
    assert [payload for _, payload in keeper.kept] == expected
    assert [msg.payload for msg, _ in keeper.kept] == expected
    assert len({id(msg) for msg, _ in keeper.kept}) == len(keeper.kept)
    if sink is not None:
        assert sink.payloads == list(range(N))
    if shape != "traced" and every > 1:
        # The loop did reuse objects nobody kept, so the test exercised the refill.
        assert len(set(keeper.ids)) < N


def test_messages_kept_in_closures_never_change() -> None:
    class Closer(Node):
        inp = Input(None, name="in")

        def __init__(self) -> None:
            self.thunks: list[Callable[[], Any]] = []
            self.seen = 0

        def on_message(self, port: str, msg: Message) -> None:
            self.seen += 1
            if self.seen % 2:
                self.thunks.append(lambda: msg.payload)

    closer = Closer()
    graph = Subgraph()
    graph.add_node(IterSource(range(N), name="src"))
    graph.add_node(closer)
    graph.connect(("src", "out"), ("closer", "in"))
    run(graph)
    assert [thunk() for thunk in closer.thunks] == list(range(0, N, 2))


def test_a_message_kept_only_for_a_while_is_not_changed_while_kept() -> None:
    class Window(Node):
        """Keeps the last message only; checks it still holds its payload on the next call."""

        inp = Input(None, name="in")
        out = Output(None)

        def __init__(self) -> None:
            self.last: tuple[Message, Any] | None = None
            self.mismatches: list[tuple[Any, Any]] = []

        def on_message(self, port: str, msg: Message) -> None:
            if self.last is not None and self.last[0].payload != self.last[1]:
                self.mismatches.append((self.last[0].payload, self.last[1]))
            self.last = (msg, msg.payload)
            self.emit("out", msg.payload)

    window = Window()
    graph, sink, _ = keeper_graph(window, "lean")
    run(graph)
    assert window.mismatches == []
    assert sink is not None
    assert sink.payloads == list(range(N))


def innermost_frame(tb: TracebackType | None) -> Any:
    assert tb is not None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame


class Raiser(Node):
    """Raises on every fifth message (kept, with its traceback), passes the others on."""

    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self, policy: str) -> None:
        self.error_policy = policy  # per instance
        self.failures: list[ValueError] = []

    def on_message(self, port: str, msg: Message) -> None:
        if msg.payload % 5 == 2:
            error = ValueError(f"bad {msg.payload}")
            self.failures.append(error)
            raise error
        self.emit("out", msg.payload)


@pytest.mark.parametrize("shape", ["sink", "lean", "policy"])
def test_a_failed_message_held_by_its_traceback_is_not_refilled(shape: str) -> None:
    raiser = Raiser("skip")
    graph, sink, _ = keeper_graph(raiser, shape)
    run(graph)
    bad = [x for x in range(N) if x % 5 == 2]
    assert [str(error) for error in raiser.failures] == [f"bad {x}" for x in bad]
    frames = [innermost_frame(error.__traceback__) for error in raiser.failures]
    assert {frame.f_code.co_name for frame in frames} == {"on_message"}
    assert [frame.f_locals["msg"].payload for frame in frames] == bad
    if sink is not None:
        assert sink.payloads == [x for x in range(N) if x % 5 != 2]


@pytest.mark.parametrize("shape", ["lean", "policy"])
def test_error_records_carry_the_failed_payloads(shape: str) -> None:
    raiser = Raiser("dead_letter")
    graph, sink, _ = keeper_graph(raiser, shape)
    dead = DeadLetters(name="dead")
    graph.add_node(dead)
    graph.connect(("raiser", "error"), ("dead", "in"))
    runtime = run(graph)
    bad = [x for x in range(N) if x % 5 == 2]
    assert all(isinstance(record, ErrorRecord) for record in dead.records)
    assert [record.payload for record in dead.records] == bad
    assert [record.error for record in dead.records] == [f"bad {x}" for x in bad]
    # Kept with their tracebacks too: those messages were not refilled either.
    frames = [innermost_frame(error.__traceback__) for error in raiser.failures]
    assert [frame.f_locals["msg"].payload for frame in frames] == bad
    assert sink is not None
    assert sink.payloads == [x for x in range(N) if x % 5 != 2]
    stats = runtime.stats().nodes["raiser"]
    assert (stats.received, stats.emitted, stats.dead_lettered) == (N, N - len(bad), len(bad))


# -- messages are immutable --------------------------------------------------------------------

MUTATIONS: dict[str, Callable[[Message], None]] = {
    "set payload": lambda msg: setattr(msg, "payload", "changed"),
    "set headers": lambda msg: setattr(msg, "headers", {"trace_id": "changed"}),
    "set other": lambda msg: setattr(msg, "extra", 1),
    "del payload": lambda msg: delattr(msg, "payload"),
    "del headers": lambda msg: delattr(msg, "headers"),
}


@pytest.mark.parametrize("mutate", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_a_message_is_immutable(mutate: Callable[[Message], None]) -> None:
    msg = Message(1, trace_id="t")
    with pytest.raises(AttributeError, match="Message is immutable"):
        mutate(msg)
    assert msg == Message(1, trace_id="t")
    with pytest.raises(TypeError):
        msg.headers["trace_id"] = "changed"  # type: ignore[index]


@pytest.mark.parametrize("trace", [False, True], ids=["bare", "headed"])
def test_the_message_handed_to_on_message_is_immutable(trace: bool) -> None:
    class Mutator(Collect):
        def __init__(self) -> None:
            super().__init__(name="mutator")
            self.refusals: list[str] = []

        def on_message(self, port: str, msg: Message) -> None:
            headers = dict(msg.headers)
            for name, mutate in MUTATIONS.items():
                try:
                    mutate(msg)
                except AttributeError:
                    self.refusals.append(name)
            assert dict(msg.headers) == headers
            super().on_message(port, msg)

    mutator = Mutator()
    graph = Subgraph()
    graph.add_node(IterSource(range(10), name="src"))
    graph.add_node(mutator)
    graph.connect(("src", "out"), ("mutator", "in"))
    run(graph, trace=trace)
    assert mutator.refusals == list(MUTATIONS) * 10
    assert mutator.payloads == list(range(10))


# -- what emit sends -----------------------------------------------------------------------------


def emit_received(sender: Sender, msg: Message) -> None:
    sender.emit("out", msg)


def emit_plain(sender: Sender, msg: Message) -> None:
    sender.emit("out", Message(payload=msg.payload))


def emit_headed(sender: Sender, msg: Message) -> None:
    sender.emit("out", Message(msg.payload, {"trace_id": f"t{msg.payload}"}))


def emit_portspec(sender: Sender, msg: Message) -> None:
    sender.emit(sender.out, msg.payload)


def emit_bare(sender: Sender, msg: Message) -> None:
    sender.emit("out", msg.payload)


HOWS: dict[str, Callable[[Sender, Message], None]] = {
    "received": emit_received,
    "plain": emit_plain,
    "headed": emit_headed,
    "portspec": emit_portspec,
    "bare": emit_bare,
}


@pytest.mark.parametrize("how", HOWS, ids=HOWS.keys())
@pytest.mark.parametrize("shape", SHAPES)
def test_what_emit_sends_and_counts(shape: str, how: str) -> None:
    graph, sender, sinks = build(shape, HOWS[how])
    runtime = run(graph)
    check_path(shape, sender)
    for sink in sinks:
        assert sink.payloads == list(range(N))
        assert all(type(msg) is Message for msg in sink.messages)
        trace_ids = [msg.trace_id for msg in sink.messages]
        if how == "headed":
            assert trace_ids == [f"t{x}" for x in range(N)]
        else:
            assert trace_ids == [None] * N
            assert all(not msg.headers for msg in sink.messages)
    stats = runtime.stats()
    node = stats.nodes["sender"]
    assert (node.received, node.emitted, node.unrouted, node.errors) == (N, N, 0, 0)
    for sink in sinks:
        edge = stats.edges[f"sender.out->{sink.name()}.in"]
        assert (edge.offered, edge.dequeued, edge.dropped) == (N, N, 0)


def emit_mixed(sender: Sender, msg: Message) -> None:
    x = msg.payload
    sender.emit("out", x)
    sender.emit("out", Message(-x - 1, {"trace_id": f"t{x}"}))
    sender.emit(sender.out, x + N)
    sender.emit("out", msg)


@pytest.mark.parametrize("shape", SHAPES)
def test_fast_and_slow_emits_mixed_keep_order_and_exact_counts(shape: str) -> None:
    graph, sender, sinks = build(shape, emit_mixed, capacity=8)
    runtime = run(graph)
    check_path(shape, sender)
    expected = [y for x in range(N) for y in (x, -x - 1, x + N, x)]
    for sink in sinks:
        assert sink.payloads == expected
        headed = [(m.payload, m.trace_id) for m in sink.messages if m.trace_id is not None]
        assert headed == [(-x - 1, f"t{x}") for x in range(N)]
    node = runtime.stats().nodes["sender"]
    assert (node.received, node.emitted, node.unrouted) == (N, 4 * N, 0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("port", ["nope", PortSpec("nope")], ids=["name", "portspec"])
def test_emitting_on_an_unknown_port_raises_naming_the_ports(shape: str, port: Any) -> None:
    def how(sender: Sender, msg: Message) -> None:
        try:
            sender.emit(port, msg.payload)
        except ValueError as exc:
            sender.errors.append(str(exc))
        sender.emit("out", msg.payload)

    graph, sender, sinks = build(shape, how)
    runtime = run(graph)
    ports = "error, out, side" if shape == "two-ports" else "error, out"
    assert len(sender.errors) == N
    assert set(sender.errors) == {
        f"node 'sender' emitted on 'nope', which is not one of its output ports ({ports}); "
        "declare it in outputs() or fix the name"
    }
    for sink in sinks:
        assert sink.payloads == list(range(N))
    node = runtime.stats().nodes["sender"]
    assert (node.received, node.emitted, node.unrouted) == (N, N, 0)


@pytest.mark.parametrize("shape", ["lean", "policy"])
def test_an_unknown_port_under_the_fail_policy_fails_the_run(shape: str) -> None:
    graph, _, _ = build(shape, lambda sender, msg: sender.emit("nope", msg.payload))
    runtime = Runtime()
    runtime.register(graph)
    with pytest.raises(NodeFailed, match="emitted on 'nope', which is not one of its output"):
        runtime.run()
    assert runtime.execution.stats().nodes["sender"].emitted == 0


def test_emits_to_a_port_without_edges_are_counted_unrouted() -> None:
    def how(sender: Sender, msg: Message) -> None:
        sender.emit("out", msg.payload)
        sender.emit("side", msg)
        sender.emit(sender.side, Message(msg.payload, {"trace_id": "x"}))  # type: ignore[attr-defined]

    graph, _, [sink] = build("two-ports", how)
    runtime = run(graph)
    assert sink.payloads == list(range(N))
    node = runtime.stats().nodes["sender"]
    assert (node.received, node.emitted, node.unrouted) == (N, 3 * N, 2 * N)


def test_a_single_unconnected_port_counts_every_emit_unrouted() -> None:
    graph = Subgraph()
    graph.add_node(IterSource(range(N), name="src"))
    graph.add_node(Sender(emit_mixed))
    graph.connect(("src", "out"), ("sender", "in"))
    runtime = run(graph)
    node = runtime.stats().nodes["sender"]
    assert (node.received, node.emitted, node.unrouted) == (N, 4 * N, 4 * N)


def test_what_a_failed_call_emitted_has_left_and_is_counted_on_every_path() -> None:
    # docs/runtime.md: for an inline node, what a failed call emitted before it raised has left.
    def how(sender: Sender, msg: Message) -> None:
        sender.emit("out", msg.payload)
        if msg.payload % 4 == 1:
            raise ValueError(f"after emitting {msg.payload}")

    for shape in SHAPES:
        graph, sender, sinks = build(shape, how)
        sender.error_policy = "skip"  # per instance
        runtime = run(graph)
        check_path(shape, sender)
        for sink in sinks:
            assert sink.payloads == list(range(N)), shape
        node = runtime.stats().nodes["sender"]
        failed = len(range(1, N, 4))
        assert (node.received, node.emitted, node.skipped) == (N, N, failed), shape


# -- headers travel with their messages ----------------------------------------------------------


class Traced(Node):
    """A source emitting 0..n-1: even values in Messages with a trace id, odd ones bare."""

    out = Output(int)

    def __init__(self, n: int) -> None:
        self.n, self.i = n, 0

    def on_tick(self) -> None:
        if self.i == self.n:
            self.finish()
            return
        i, self.i = self.i, self.i + 1
        self.emit("out", Message(i, trace_id=f"t{i}") if i % 2 == 0 else i)


PASS_ON: dict[str, Callable[[Sender, Message], None]] = {
    "payload": emit_bare,
    "received": emit_received,
    "plain": emit_plain,
    "derive": lambda sender, msg: sender.emit("out", msg.derive(msg.payload)),
    "portspec": emit_portspec,
}


@pytest.mark.parametrize("how", PASS_ON, ids=PASS_ON.keys())
@pytest.mark.parametrize(
    "links", [{}, {"overflow": "drop", "capacity": 1 << 20}], ids=["block", "drop"]
)
def test_headers_travel_through_two_class_nodes(how: str, links: dict[str, Any]) -> None:
    graph = Subgraph()
    graph.add_node(Traced(N))
    first, second = Sender(PASS_ON[how], name="first"), Sender(PASS_ON[how], name="second")
    sink = Collect()
    for unit in (first, second, sink):
        graph.add_node(unit)
    graph.connect(("traced", "out"), ("first", "in"), capacity=16)
    graph.connect(("first", "out"), ("second", "in"), **{"capacity": 16, **links})
    graph.connect(("second", "out"), ("collect", "in"), **{"capacity": 16, **links})
    runtime = run(graph)
    assert [(m.payload, m.trace_id) for m in sink.messages] == [
        (i, f"t{i}" if i % 2 == 0 else None) for i in range(N)
    ]
    stats = runtime.stats().nodes
    assert (stats["first"].emitted, stats["second"].emitted) == (N, N)


# -- the block bound -----------------------------------------------------------------------------


def fan(k: int) -> Callable[[Sender, Message], None]:
    def how(sender: Sender, msg: Message) -> None:
        for i in range(k):
            sender.emit("out", msg.payload * k + i)

    return how


@pytest.mark.parametrize(("capacity", "k"), [(1, 1), (4, 1), (1, 3), (7, 3), (5, 3), (2, 5)])
@pytest.mark.parametrize("shape", ["lean", "two-ports"])
def test_a_block_edge_holds_at_most_capacity_plus_k_minus_one(
    shape: str, capacity: int, k: int
) -> None:
    graph, sender, [sink] = build(shape, fan(k), items=range(200), capacity=capacity)
    runtime = run(graph, clock=FakeClock())
    check_path(shape, sender)
    assert sink.payloads == list(range(200 * k))
    stats = runtime.stats()
    node_stats = stats.nodes["sender"]
    assert (node_stats.received, node_stats.emitted) == (200, 200 * k)
    edge = stats.edges["sender.out->collect0.in"]
    assert capacity <= edge.high_water <= capacity + k - 1
    # With no time passing, the consumer empties the edge each turn; the producer then fills
    # it k at a time from empty.
    assert edge.high_water == k * math.ceil(capacity / k)
    assert edge.blocked_seconds > 0


# -- how much a turn hands over ------------------------------------------------------------------


def test_on_batch_gets_whole_quanta() -> None:
    class Batcher(Node):
        inp = Input(int, name="in")

        def __init__(self) -> None:
            self.batches: list[list[int]] = []

        def on_batch(self, port: str, msgs: list[Message]) -> None:
            self.batches.append([msg.payload for msg in msgs])

    batcher = Batcher()
    graph = Subgraph()
    graph.add_node(IterSource(range(20), name="src"))
    graph.add_node(batcher)
    graph.connect(("src", "out"), ("batcher", "in"))
    run(graph, quantum=8)
    assert batcher.batches == [list(range(8)), list(range(8, 16)), list(range(16, 20))]


def test_a_batch_function_gets_whole_quanta() -> None:
    sizes: list[int] = []

    @node(batch=True)
    def double(xs: list[int]) -> list[int]:
        sizes.append(len(xs))
        return [2 * x for x in xs]

    graph = Subgraph()
    graph.add_node(IterSource(range(20), name="src"))
    graph.add_node(double())
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("double", "in"))
    graph.connect(("double", "out"), ("collect", "in"))
    run(graph, quantum=8, fusion=False)
    assert sizes == [8, 8, 4]
    assert sink.payloads == [2 * x for x in range(20)]


class Busy(Collect):
    """A sink taking ``cost`` seconds of fake time per message, logging who ran what."""

    def __init__(self, name: str, clock: FakeClock, cost: float, log: list[str]) -> None:
        super().__init__(name=name, log=log)
        self.clock, self.cost = clock, cost

    def on_message(self, port: str, msg: Message) -> None:
        self.clock.advance(self.cost)
        self.log.append(self.name())
        super().on_message(port, msg)

    def on_start(self) -> None:
        pass

    def on_finish(self) -> None:
        pass

    def on_stop(self) -> None:
        pass


def turns(log: list[str]) -> list[tuple[str, int]]:
    """Runs of consecutive calls of one node: (node, how many)."""
    runs: list[tuple[str, int]] = []
    for name in log:
        if runs and runs[-1][0] == name:
            runs[-1] = (name, runs[-1][1] + 1)
        else:
            runs.append((name, 1))
    return runs


def two_busy(cost: float, n: int, **options: Any) -> tuple[list[str], Runtime]:
    clock = FakeClock()
    log: list[str] = []
    graph = Subgraph()
    graph.add_node(IterSource(range(n), name="src"))
    for name in ("a", "b"):
        graph.add_node(Busy(name, clock, cost, log))
        graph.connect(("src", "out"), (name, "in"))
    runtime = run(graph, clock=clock, **options)
    return log, runtime


def test_a_slow_node_gets_one_message_per_turn() -> None:
    # 2 ms per message uses up a time slice: each turn takes one, and the two sinks alternate.
    log, _ = two_busy(0.002, 20)
    assert turns(log) == [("a", 1), ("b", 1)] * 20


def test_a_fast_node_gets_its_whole_quantum_per_turn() -> None:
    log, _ = two_busy(0.0, 20, quantum=8)
    assert turns(log) == [("a", 8), ("b", 8), ("a", 8), ("b", 8), ("a", 4), ("b", 4)]


def test_a_node_that_speeds_up_gets_more_per_turn_again() -> None:
    clock = FakeClock()
    log: list[str] = []

    class Warming(Busy):
        def on_message(self, port: str, msg: Message) -> None:
            self.cost = 0.002 if msg.payload < 3 else 0.0
            super().on_message(port, msg)

    graph = Subgraph()
    graph.add_node(IterSource(range(30), name="src"))
    for name in ("a", "b"):
        graph.add_node(Warming(name, clock, 0.0, log))
        graph.connect(("src", "out"), (name, "in"))
    run(graph, clock=clock)
    runs = turns(log)
    assert runs[:6] == [("a", 1), ("b", 1)] * 3
    # Once fast again, the rest of each input goes in one turn.
    assert runs[6:] == [("a", 27), ("b", 27)]


# -- an emit kept for later ----------------------------------------------------------------------


class Hoarder(Sender):
    """Keeps ``self.emit`` from its first message and sends everything with it in on_finish."""

    def __init__(self) -> None:
        super().__init__(lambda sender, msg: None, name="sender")
        self.later: Callable[[Any, Any], None] | None = None
        self.held: list[Any] = []

    def on_message(self, port: str, msg: Message) -> None:
        super().on_message(port, msg)
        if self.later is None:
            self.later = self.emit
        self.held.append(msg.payload)

    def on_finish(self) -> None:
        assert self.later is not None
        for value in self.held:
            self.later("out", value)


class TwoHoarder(Hoarder):
    """A Hoarder with a second output port, ``side``."""

    side = Output(None)


@pytest.mark.parametrize(
    "shape",
    [
        "lean",
        "policy",
        "fanout",
        "two-ports",
    ],
)
def test_an_emit_kept_from_on_message_counts_when_called_later(shape: str) -> None:
    hoarder = Hoarder() if SHAPES[shape][0] is Sender else TwoHoarder()
    graph, _, sinks = build(shape, hoarder.how, items=range(10), capacity=1024, sender=hoarder)
    runtime = run(graph)
    check_path(shape, hoarder)
    for sink in sinks:
        assert sink.payloads == list(range(10))
    stats = runtime.stats()
    assert stats.nodes["sender"].emitted == 10
    for sink in sinks:
        assert stats.edges[f"sender.out->{sink.name()}.in"].offered == 10


class Flusher(Node):
    """Buffers what arrives; flushes on its cadence with the emit kept from its first message."""

    cadence = 1.0
    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self) -> None:
        self.later: Callable[[Any, Any], None] | None = None
        self.held: list[Any] = []

    def on_message(self, port: str, msg: Message) -> None:
        if self.later is None:
            self.later = self.emit
        self.held.append(msg.payload)

    def on_tick(self) -> None:
        if self.later is not None:
            for value in self.held:
                self.later("out", value)
        self.held = []


class Paced(Node):
    """Emits 0, 1, 2 at 0, 10 and 20 s, then finishes."""

    cadence = 10.0
    out = Output(int)

    def __init__(self) -> None:
        self.i = 0

    def on_tick(self) -> None:
        if self.i == 3:
            self.finish()
            return
        self.emit("out", self.i)
        self.i += 1


def test_an_emit_kept_from_on_message_wakes_the_consumer_when_called_from_a_tick() -> None:
    clock = FakeClock()
    arrivals: list[tuple[Any, float]] = []

    class Stamp(Collect):
        def on_message(self, port: str, msg: Message) -> None:
            arrivals.append((msg.payload, clock.now()))

    graph = Subgraph()
    for unit in (Paced(), Flusher(), Stamp(name="stamp")):
        graph.add_node(unit)
    graph.connect(("paced", "out"), ("flusher", "in"))
    graph.connect(("flusher", "out"), ("stamp", "in"))
    runtime = run(graph, clock=clock)
    # Flushed by the ticks at 1, 11 and 21 s, each taken by the consumer at once.
    assert arrivals == [(0, 1.0), (1, 11.0), (2, 21.0)]
    assert runtime.stats().nodes["flusher"].emitted == 3


class Keeps(Sender):
    """Sends every payload with the ``emit`` it kept in ``on_start`` or from its first message."""

    def __init__(self, kept_in: str) -> None:
        super().__init__(lambda sender, msg: None, name="sender")
        self.kept_in = kept_in
        self.send: Callable[[Any, Any], None] | None = None

    def on_start(self) -> None:
        if self.kept_in == "on_start":
            self.send = self.emit

    def on_message(self, port: str, msg: Message) -> None:
        super().on_message(port, msg)
        if self.send is None:
            self.send = self.emit
        self.send("out", msg.payload)


class TwoKeeps(Keeps):
    """A Keeps with a second output port, ``side``."""

    side = Output(None)


@pytest.mark.parametrize("kept_in", ["on_start", "first-message"])
@pytest.mark.parametrize("shape", SHAPES)
def test_an_emit_kept_and_used_in_later_chunks_counts_each_value_once(
    shape: str, kept_in: str
) -> None:
    keeper = Keeps(kept_in) if SHAPES[shape][0] is Sender else TwoKeeps(kept_in)
    graph, _, sinks = build(shape, keeper.how, capacity=16, sender=keeper)
    runtime = run(graph)
    stats = runtime.stats()
    assert (stats.nodes["sender"].received, stats.nodes["sender"].emitted) == (N, N)
    for sink in sinks:
        assert sink.payloads == list(range(N))
        edge = stats.edges[f"sender.out->{sink.name()}.in"]
        assert (edge.offered, edge.enqueued, edge.dropped) == (N, N, 0)


# -- failures part-way through a chunk ------------------------------------------------------------


@pytest.mark.parametrize("policy", ["skip", "retry"])
@pytest.mark.parametrize("capacity", [1, 4, 16])
@pytest.mark.parametrize("shape", ["lean", "two-ports"])
def test_an_emit_before_a_failure_still_holds_the_producer_back(
    shape: str, capacity: int, policy: str
) -> None:
    # The bound (docs/runtime.md) holds when the hook emits and then raises (k = 1), and when
    # the retry that follows comes due while the edge is still full.
    failed: set[Any] = set()

    def how(sender: Sender, msg: Message) -> None:
        sender.emit("out", msg.payload)
        if policy == "skip" or msg.payload not in failed:
            failed.add(msg.payload)
            raise ValueError("after emitting")

    graph, sender, [sink] = build(shape, how, items=range(300), capacity=capacity)
    sender.error_policy = "skip" if policy == "skip" else Retry(max_attempts=2, backoff=0.0)
    runtime = run(graph, clock=FakeClock())
    # (A retry calls the hook outside a chunk, with the node's full emit.)
    assert any(SHAPES[shape][2] in emitter for emitter in sender.emitters)
    # What a failed call emitted has left: under retry every value goes twice.
    copies = 1 if policy == "skip" else 2
    assert sink.payloads == [x for x in range(300) for _ in range(copies)]
    edge = runtime.stats().edges["sender.out->collect0.in"]
    if policy == "skip":
        assert edge.high_water == capacity
    else:  # one message per turn while a retry is pending: the edge may never fill
        assert edge.high_water <= capacity


class FailsAt(Node):
    """Raises (policy ``fail``) on payload ``at``; counts what it saw."""

    inp = Input(None, name="in")
    out = Output(None)

    def __init__(self, at: int) -> None:
        super().__init__(name="fails")
        self.at = at
        self.seen: list[Any] = []

    def on_message(self, port: str, msg: Message) -> None:
        self.seen.append(msg.payload)
        if msg.payload == self.at:
            raise ValueError("boom")
        self.emit("out", msg.payload)


@node(name="fails_at_2")
def fails_at_2(x: int) -> int:
    if x == 2:
        raise ValueError("boom")
    return x


@pytest.mark.parametrize("shape", ["lean", "bare", "traced", "stage", "stage-traced"])
def test_a_failure_that_ends_the_run_leaves_the_rest_of_its_chunk_queued(shape: str) -> None:
    # The node took a chunk and failed at its third message: the rest it never saw stays on
    # the edge (its depth), not counted as taken.
    graph = Subgraph()
    graph.add_node(IterSource(range(100), name="src"))
    if shape.startswith("stage"):
        graph.add_node(fails_at_2())
        target = "fails_at_2"
    else:
        failing = FailsAt(2)
        graph.add_node(failing)
        target = "fails"
    graph.connect(("src", "out"), (target, "in"), capacity=1024)
    if shape != "bare":
        graph.add_node(Collect())
        graph.connect((target, "out"), ("collect", "in"), capacity=1024)
    runtime = Runtime(clock=FakeClock(), trace=shape.endswith("traced"), fusion=False)
    runtime.register(graph)
    with pytest.raises(NodeFailed):
        runtime.run()
    stats = runtime.stats()
    edge = stats.edges[f"src.out->{target}.in"]
    assert edge.offered > 3
    assert (edge.dequeued, edge.depth, edge.dropped) == (3, edge.offered - 3, 0)
    assert stats.nodes[target].received == 3
    if not shape.startswith("stage"):
        assert failing.seen == [0, 1, 2]
