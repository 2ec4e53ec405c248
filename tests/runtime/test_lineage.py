"""Lineage: each output names exactly the inputs, and the nodes, that produced it."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arachne import Input, IterSource, Message, Node, Output, Retry, Runtime, Subgraph, node
from arachne.components.builtins import Accumulator, Merge
from arachne.model.message import EMPTY_HEADERS, Headers
from arachne.runtime.hops import combine
from arachne.runtime.lineage import LINEAGE, Lineage, check_rate
from arachne.runtime.taints import TAINTS
from tests.runtime.nodes import Collect, Count, Relay, line
from tests.runtime.nodes import run_on_fake_clock as run


def diamond(numbers: list[int], words: list[str], modulus: int) -> tuple[Subgraph, Collect]:
    """Two sources; the first fans out to a map and a filter; all of it merges into a sink.

    The map's results are tuples and the words are strings, so each output says by its type
    which way it came; each names its input by value.
    """
    sink = Collect(name="sink")
    g = Subgraph()
    g.add_node(IterSource(numbers, name="numbers"))
    g.add_node(IterSource(words, name="words"))
    g.add_node(node(lambda x: ("doubled", x, x * 2), name="double", inputs={"in": int})())
    g.add_node(node(lambda x: x % modulus == 0, name="keep", inputs={"in": int}, filter=True)())
    g.add_node(Merge(name="merge"))
    g.add_node(sink)
    g.connect(("numbers", "out"), ("double", "in"))
    g.connect(("numbers", "out"), ("keep", "in"))
    g.connect(("double", "out"), ("merge", "in"))
    g.connect(("keep", "out"), ("merge", "in"))
    g.connect(("words", "out"), ("merge", "in"))
    g.connect(("merge", "out"), ("sink", "in"))
    return g, sink


@settings(max_examples=40, deadline=None)
@given(
    numbers=st.lists(st.integers(-1000, 1000), max_size=30),
    words=st.lists(st.text("abc", min_size=1, max_size=3), max_size=10),
    modulus=st.integers(1, 4),
)
def test_each_output_names_exactly_the_input_that_produced_it(
    numbers: list[int], words: list[str], modulus: int
) -> None:
    graph, sink = diamond(numbers, words, modulus)
    runtime = run(graph, lineage=1.0)
    lineage = runtime.execution.lineage
    assert lineage is not None
    outputs = lineage.recent("sink", last=1024)
    assert len(outputs) == len(sink.payloads)
    seen: Counter[tuple[str, int]] = Counter()
    for payload, explained in zip(sink.payloads, outputs, strict=True):
        assert explained.complete
        assert explained.node == "sink"
        [origin] = explained.origins
        assert origin.kind == "source"
        seen[(origin.node, origin.position)] += 1
        if isinstance(payload, tuple):  # through the map
            assert origin.node == "numbers"
            assert payload == ("doubled", numbers[origin.position - 1], payload[2])
            assert explained.nodes == ("numbers", "double", "merge", "sink")
        elif isinstance(payload, str):  # straight from the second source
            assert (origin.node, payload) == ("words", words[origin.position - 1])
            assert explained.nodes == ("words", "merge", "sink")
        else:  # through the filter
            assert (origin.node, payload) == ("numbers", numbers[origin.position - 1])
            assert payload % modulus == 0
            assert explained.nodes == ("numbers", "keep", "merge", "sink")
    # Every input is named as often as it produced an output, and no other is.
    expected: Counter[tuple[str, int]] = Counter()
    for position, number in enumerate(numbers, 1):
        expected[("numbers", position)] += 2 if number % modulus == 0 else 1
    for position in range(1, len(words) + 1):
        expected[("words", position)] += 1
    assert seen == expected


def test_the_message_a_sink_got_explains_itself() -> None:
    graph, sink = diamond([3, 4], [], modulus=2)
    runtime = run(graph, lineage=1.0)
    lineage = runtime.execution.lineage
    assert lineage is not None
    by_payload = {repr(msg.payload): lineage.explain(msg) for msg in sink.messages}
    kept = by_payload["4"]
    assert kept.node == "sink"  # a node is handed the message as it handles it
    assert [(o.node, o.position) for o in kept.origins] == [("numbers", 2)]
    assert kept.nodes == ("numbers", "keep", "merge", "sink")


class SumBatch(Node):
    """Sums each batch it is handed, naming the values it summed."""

    inp = Input(int, name="in")
    out = Output(None)

    def on_batch(self, port: str, msgs: list[Message]) -> None:
        values = [msg.payload for msg in msgs]
        self.emit("out", (sum(values), tuple(values)))


@settings(max_examples=20, deadline=None)
@given(numbers=st.lists(st.integers(0, 10_000), min_size=1, max_size=40, unique=True))
def test_a_value_made_from_a_whole_batch_names_every_input_of_the_batch(
    numbers: list[int],
) -> None:
    sink = Collect(name="sink")
    g = Subgraph()
    g.add_node(IterSource(numbers, name="numbers"))
    g.add_node(SumBatch(name="sum"))
    g.add_node(sink)
    g.connect(("numbers", "out"), ("sum", "in"), capacity=7)
    g.connect(("sum", "out"), ("sink", "in"))
    runtime = run(g, lineage=1.0)
    lineage = runtime.execution.lineage
    assert lineage is not None
    outputs = lineage.recent("sink", last=1024)
    assert len(outputs) == len(sink.payloads)
    for (_, values), explained in zip(sink.payloads, outputs, strict=True):
        positions = sorted(origin.position for origin in explained.origins)
        assert positions == sorted(numbers.index(value) + 1 for value in values)
        assert explained.nodes == ("numbers", "sum", "sink")


@settings(max_examples=20, deadline=None)
@given(
    numbers=st.lists(st.integers(0, 10_000), min_size=1, max_size=40, unique=True),
    count=st.integers(1, 7),
)
def test_an_accumulated_batch_names_every_input_in_it_the_last_one_too(
    numbers: list[int], count: int
) -> None:
    sink = Collect(name="sink")
    g = line(IterSource(numbers, name="numbers"), Accumulator(count=count, name="batch"), sink)
    runtime = run(g, lineage=1.0)
    lineage = runtime.execution.lineage
    assert lineage is not None
    assert len(sink.payloads[-1]) == (len(numbers) % count or count)  # the last, at the end
    for batch, msg in zip(sink.payloads, sink.messages, strict=True):
        explained = lineage.explain(msg)
        assert sorted(o.position for o in explained.origins) == sorted(
            numbers.index(value) + 1 for value in batch
        )
        assert explained.nodes == ("numbers", "batch", "sink")
        assert explained.complete


def test_combine_joins_lineage_and_labels_and_keeps_the_rest_of_the_first() -> None:
    first = Headers({LINEAGE: 3, TAINTS: ("retried",), "trace_id": "t1"})
    second = Headers({LINEAGE: (4, 3), TAINTS: ("late",)})
    joined = combine([EMPTY_HEADERS, first, second])
    assert dict(joined) == {"trace_id": "t1", LINEAGE: (3, 4), TAINTS: ("late", "retried")}
    assert combine([first]) == first
    assert combine([EMPTY_HEADERS]) is EMPTY_HEADERS
    assert combine([]) is EMPTY_HEADERS


def test_an_injected_value_is_an_origin_with_its_text() -> None:
    sink = Collect(name="sink")
    g = line(node(lambda x: x + 1, name="inc", inputs={"in": int}, outputs={"out": int})(), sink)
    runtime = Runtime(lineage=1.0)
    ex = runtime.open_execution(g)
    runtime.launch(ex)
    try:
        for value in (10, 20):
            ex.inject("inc", "in", value)
        ex.close_inputs()
        assert ex.wait(30)
    finally:
        runtime.stop()
    assert sink.payloads == [11, 21]
    lineage = ex.lineage
    assert lineage is not None
    [first, second] = lineage.recent("sink")
    assert [o.to_dict() for o in second.origins] == [
        {"id": second.origins[0].id, "node": "inc", "kind": "inject", "position": 2, "value": "20"}
    ]
    assert first.origins[0].value == "10"
    assert second.nodes == ("inc", "sink")


def test_lineage_is_off_by_default_and_then_no_message_carries_it() -> None:
    graph, sink = diamond([1, 2], ["a"], modulus=1)
    runtime = run(graph)
    assert runtime.execution.lineage is None
    assert all(LINEAGE not in msg.headers for msg in sink.messages)
    assert runtime.execution.chains  # fused as ever


@pytest.mark.parametrize("pulled", [True, False])
def test_a_rate_samples_evenly_and_unsampled_messages_carry_nothing(pulled: bool) -> None:
    numbers = list(range(40))
    sink = Collect(name="sink")
    g = Subgraph()
    g.add_node(IterSource(numbers, name="numbers") if pulled else Count(40, name="numbers"))
    g.add_node(Relay(name="relay"))  # a class node between: unsampled ones stay bare there
    g.add_node(sink)
    g.connect(("numbers", "out"), ("relay", "in"))
    g.connect(("relay", "out"), ("sink", "in"))
    runtime = run(g, lineage=0.25)
    lineage = runtime.execution.lineage
    assert lineage is not None
    outputs = lineage.recent("sink", last=1024)
    assert [o.origins[0].position for o in outputs] == list(range(1, 41, 4))
    assert {o.nodes for o in outputs} == {("numbers", "relay", "sink")}
    sampled = [msg for msg in sink.messages if msg.headers]
    assert [msg.payload for msg in sampled] == numbers[::4]
    assert sink.payloads == numbers


def test_each_source_is_sampled_evenly_on_its_own() -> None:
    sink = Collect(name="sink")
    g = Subgraph()
    g.add_node(Count(10, name="a"))
    g.add_node(Count(10, name="b"))
    g.add_node(Merge(name="both"))
    g.add_node(sink)
    g.connect(("a", "out"), ("both", "in"))
    g.connect(("b", "out"), ("both", "in"))
    g.connect(("both", "out"), ("sink", "in"))
    runtime = run(g, lineage=0.5)
    lineage = runtime.execution.lineage
    assert lineage is not None
    positions = sorted(
        (o.origins[0].node, o.origins[0].position) for o in lineage.recent("sink", 100)
    )
    assert positions == [(node, p) for node in "ab" for p in (1, 3, 5, 7, 9)]


class Keyed(Node):
    """Emits each value as a message with a header of its own."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", Message(msg.payload, key=str(msg.payload)))


def test_a_message_emitted_with_headers_of_its_own_keeps_its_lineage() -> None:
    sink = Collect(name="sink")
    g = line(IterSource([1, 2], name="numbers"), Keyed(name="keyed"), sink)
    runtime = run(g, lineage=1.0)
    lineage = runtime.execution.lineage
    assert lineage is not None
    assert [msg.headers["key"] for msg in sink.messages] == ["1", "2"]
    assert [lineage.explain(msg).nodes for msg in sink.messages] == [
        ("numbers", "keyed", "sink")
    ] * 2


def test_a_lineage_id_from_elsewhere_is_dropped_at_inject() -> None:
    sink = Collect(name="sink")
    g = line(Relay(name="relay"), sink)
    runtime = Runtime(lineage=1.0)
    ex = runtime.open_execution(g)
    runtime.launch(ex)
    try:
        ex.inject("relay", "in", Message(5, lineage=1))  # another execution's id
        ex.close_inputs()
        assert ex.wait(30)
    finally:
        runtime.stop()
    assert ex.lineage is not None
    [output] = ex.lineage.recent("sink")
    assert [(o.node, o.kind, o.value) for o in output.origins] == [("relay", "inject", "5")]
    assert output.nodes == ("relay", "sink")


def test_a_batch_function_gets_whole_batches_and_names_every_input() -> None:
    sink = Collect(name="sink")
    total = node(
        lambda xs: [sum(xs)], name="total", inputs={"in": int}, outputs={"out": int}, batch=True
    )
    g = line(IterSource(range(10), name="numbers"), total(), sink)
    plain = Collect(name="sink")
    h = Subgraph()
    h.add_node(IterSource(range(10), name="numbers"))
    h.add_node(total())
    h.add_node(plain)
    h.connect(("numbers", "out"), ("total", "in"))
    h.connect(("total", "out"), ("sink", "in"))
    runtime = run(g, lineage=1.0)
    run(h)
    assert sink.payloads == plain.payloads  # the same batches, lineage or not
    lineage = runtime.execution.lineage
    assert lineage is not None
    explained = [lineage.explain(msg) for msg in sink.messages]
    assert sorted(o.position for e in explained for o in e.origins) == list(range(1, 11))


class FailsTwice(Node):
    """Fails at 2 every time; the error policy retries it, then skips it."""

    inp = Input(int, name="in")
    error_policy = Retry(max_attempts=3, backoff=0.01, then="skip")

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.got: list[int] = []

    def on_message(self, port: str, msg: Message) -> None:
        if msg.payload == 2:
            raise ValueError("two never goes")
        self.got.append(msg.payload)


def test_failed_handlings_are_not_listed_as_outputs() -> None:
    g = Subgraph()
    g.add_node(IterSource([1, 2, 3], name="numbers"))
    sink = FailsTwice(name="sink")
    g.add_node(sink)
    g.connect(("numbers", "out"), ("sink", "in"))
    runtime = run(g, lineage=1.0)
    lineage = runtime.execution.lineage
    assert lineage is not None
    assert sink.got == [1, 3]
    assert [o.origins[0].position for o in lineage.recent("sink")] == [1, 3]


def test_lineage_follows_calls_in_threads() -> None:
    sink = Collect(name="sink")
    g = Subgraph()
    g.add_node(IterSource([1, 2, 3], name="numbers"))
    g.add_node(
        node(
            lambda x: x * 10, name="slow", inputs={"in": int}, outputs={"out": int}, mode="thread"
        )()
    )
    g.add_node(sink)
    g.connect(("numbers", "out"), ("slow", "in"))
    g.connect(("slow", "out"), ("sink", "in"))
    runtime = Runtime(lineage=1.0)
    runtime.register(g)
    runtime.run()
    lineage = runtime.execution.lineage
    assert lineage is not None
    outputs = lineage.recent("sink")
    assert [o.origins[0].position for o in outputs] == [1, 2, 3]
    assert {o.nodes for o in outputs} == {("numbers", "slow", "sink")}


def test_a_forgotten_part_of_the_history_makes_an_explanation_incomplete() -> None:
    lineage = Lineage(capacity=16)
    root = lineage.origin("src", "source")
    assert root is not None
    hop = lineage.hop("a", (root,))
    for _ in range(20):
        hop = lineage.hop("a", (hop,))
    explained = lineage.explain(hop)
    assert not explained.complete
    assert explained.origins == ()
    with pytest.raises(KeyError, match="entries"):
        lineage.explain(root)


def test_explain_says_what_it_takes() -> None:
    lineage = Lineage()
    with pytest.raises(ValueError, match="no lineage id"):
        lineage.explain(Message(1))
    with pytest.raises(TypeError, match="lineage id"):
        lineage.explain("7")  # type: ignore[arg-type]
    root = lineage.origin("src", "source")
    assert root is not None
    assert lineage.explain(Headers({LINEAGE: root})).origins[0].node == "src"
    with pytest.raises(ValueError, match="last"):
        lineage.recent("src", last=0)


@pytest.mark.parametrize("rate", [0, -0.5, 1.5, "all", float("nan")])
def test_a_bad_rate_is_refused_naming_the_range(rate: object) -> None:
    with pytest.raises(ValueError, match=r"sampling rate in \(0, 1\]"):
        check_rate(rate)
    with pytest.raises(ValueError, match="lineage"):
        Runtime(lineage=rate)  # type: ignore[arg-type]


def test_true_means_every_message_and_an_execution_may_choose_its_own() -> None:
    assert check_rate(True) == 1.0
    assert check_rate(None) is None
    graph, _ = diamond([1], [], modulus=1)
    runtime = Runtime()
    ex = runtime.open_execution(graph, lineage=0.5)
    assert ex.lineage is not None
    assert ex.lineage.rate == 0.5
    assert not ex.chains  # lineage needs every hop a real one


class Flaky(Node):
    """Fails the first try at odd values."""

    inp = Input(int, name="in")
    out = Output(int)
    error_policy = Retry(max_attempts=2, backoff=0.01)

    def __init__(self) -> None:
        super().__init__(name="flaky")
        self.tried: set[int] = set()

    def on_message(self, port: str, msg: Message) -> None:
        if msg.payload % 2 and msg.payload not in self.tried:
            self.tried.add(msg.payload)
            raise ValueError("odd fails once")
        self.emit("out", msg.payload)


def test_each_output_shows_the_taint_labels_it_carried() -> None:
    sink = Collect(name="sink")
    runtime = run(line(IterSource([1, 2, 3], name="numbers"), Flaky(), sink), lineage=1.0)
    lineage = runtime.execution.lineage
    assert lineage is not None
    shown = [(o.origins[0].position, o.taints) for o in lineage.recent("sink")]
    assert sorted(shown) == [(1, ("retried",)), (2, ()), (3, ("retried",))]
    as_json = {o.origins[0].position: o.to_dict()["taints"] for o in lineage.recent("sink")}
    assert as_json == {1: ["retried"], 2: [], 3: ["retried"]}
