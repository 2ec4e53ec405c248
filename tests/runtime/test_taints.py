"""Taints: labels travel with the data to the sink, a repairing node takes them off, and the
counts per route match what arrived."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arachne import Input, IterSource, Message, Node, Output, Retry, Runtime, Subgraph, node
from arachne.components.builtins import Dedupe
from arachne.runtime.taints import TAINTS, check_labels, labels_of, retaint
from tests.runtime.nodes import Collect, line
from tests.runtime.nodes import run_on_fake_clock as run

RETRY = Retry(max_attempts=3, backoff=0.01)


class Flaky(Node):
    """Fails the first try at each value in ``fail``, then lets it through."""

    inp = Input(int, name="in")
    out = Output(int)
    error_policy = RETRY

    def __init__(self, fail: set[int], *, name: str = "flaky", mode: str = "inline") -> None:
        super().__init__(name=name)
        self.fail = set(fail)
        self.mode = mode  # type: ignore[assignment]

    def on_message(self, port: str, msg: Message) -> None:
        if msg.payload in self.fail:
            self.fail.discard(msg.payload)
            raise ValueError(f"{msg.payload} fails once")
        self.emit("out", msg.payload)


def labels(msg: Message) -> tuple[str, ...]:
    value = msg.headers.get(TAINTS, ())
    assert isinstance(value, tuple)
    return value


def chain(*nodes: Node, source: list[int]) -> tuple[Subgraph, Collect]:
    sink = Collect(name="sink")
    return line(IterSource(source, name="src"), *nodes, sink), sink


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.integers(0, 50), min_size=1, max_size=25, unique=True),
    data=st.data(),
)
def test_a_retried_message_carries_retried_to_the_sink_and_the_counts_match(
    values: list[int], data: st.DataObject
) -> None:
    fail = set(data.draw(st.sets(st.sampled_from(values))))
    plus = node(lambda x: x + 1000, name="plus", inputs={"in": int}, outputs={"out": int})()
    graph, sink = chain(Flaky(fail), plus, source=values)
    runtime = run(graph)
    assert sorted(sink.payloads) == sorted(v + 1000 for v in values)
    tainted = {msg.payload - 1000 for msg in sink.messages if labels(msg) == ("retried",)}
    assert tainted == fail
    assert all(labels(msg) in ((), ("retried",)) for msg in sink.messages)
    counts = runtime.execution.taint_counts()
    expected = {("plus", "in", "retried"): len(fail), ("sink", "in", "retried"): len(fail)}
    assert counts == {key: n for key, n in expected.items() if n}


@settings(max_examples=20, deadline=None)
@given(
    values=st.lists(st.integers(0, 50), min_size=1, max_size=25, unique=True),
    data=st.data(),
)
def test_a_dedupe_repairs_retried_so_nothing_past_it_carries_it(
    values: list[int], data: st.DataObject
) -> None:
    fail = set(data.draw(st.sets(st.sampled_from(values))))
    graph, sink = chain(Flaky(fail), Dedupe(name="dedupe"), source=values)
    runtime = run(graph)
    assert sink.payloads == values
    assert all(TAINTS not in msg.headers for msg in sink.messages)
    counts = runtime.execution.taint_counts()
    assert counts == ({("dedupe", "in", "retried"): len(fail)} if fail else {})


def test_a_retried_function_call_taints_what_it_returns() -> None:
    tries: dict[int, int] = {}

    def fragile(x: int) -> int:
        tries[x] = tries.get(x, 0) + 1
        if x == 2 and tries[x] == 1:
            raise ValueError("two fails once")
        return x

    stage = node(
        fragile, name="fragile", inputs={"in": int}, outputs={"out": int}, error_policy=RETRY
    )
    graph, sink = chain(stage(), source=[1, 2, 3])
    runtime = run(graph)
    assert [(msg.payload, labels(msg)) for msg in sink.messages] == [
        (1, ()),
        (2, ("retried",)),
        (3, ()),
    ]
    assert runtime.execution.taint_counts() == {("sink", "in", "retried"): 1}


def test_a_call_retried_in_a_thread_taints_what_it_emits() -> None:
    graph, sink = chain(Flaky({5}, mode="thread"), source=[4, 5, 6])
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert {msg.payload: labels(msg) for msg in sink.messages} == {
        4: (),
        5: ("retried",),
        6: (),
    }


def test_fused_stages_count_the_labels_that_reached_each_of_them() -> None:
    plus = node(lambda x: x + 1, name="plus", inputs={"in": int}, outputs={"out": int})()
    odd = node(lambda x: x % 2 == 1, name="odd", inputs={"in": int}, filter=True)()
    times = node(lambda x: x * 10, name="times", inputs={"in": int}, outputs={"out": int})()
    graph, sink = chain(Flaky({0, 1, 2, 4}), plus, odd, times, source=list(range(6)))
    runtime = run(graph)
    assert runtime.execution.chains  # plus, odd and times run fused
    # 0, 2, 4 become odd and pass the filter; 1 becomes 2 and stops there.
    assert sorted(msg.payload for msg in sink.messages if labels(msg)) == [10, 30, 50]
    assert runtime.execution.taint_counts() == {
        ("plus", "in", "retried"): 4,
        ("odd", "in", "retried"): 4,
        ("times", "in", "retried"): 3,
        ("sink", "in", "retried"): 3,
    }


class Untrusted(Node):
    """A source whose values come from outside: they carry ``untrusted-input``."""

    introduces: ClassVar[frozenset[str]] = frozenset({"untrusted-input"})
    out = Output(int)

    def __init__(self) -> None:
        super().__init__(name="outside")
        self.left = [1, 2]

    def on_tick(self) -> None:
        if self.left:
            self.emit("out", self.left.pop(0))
        else:
            self.finish()


class Checked(Node):
    """Validates what it gets: repairs ``untrusted-input``, and says what it did: ``checked``."""

    introduces: ClassVar[frozenset[str]] = frozenset({"checked"})
    repairs: ClassVar[frozenset[str]] = frozenset({"untrusted-input"})
    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload)


def test_a_node_puts_its_declared_labels_on_and_takes_its_repairs_off() -> None:
    sink = Collect(name="sink")
    middle = Collect(name="middle")
    g = Subgraph()
    g.add_node(Untrusted())
    g.add_node(Checked(name="check"))
    g.add_node(sink)
    g.add_node(middle)
    g.connect(("outside", "out"), ("check", "in"))
    g.connect(("outside", "out"), ("middle", "in"))
    g.connect(("check", "out"), ("sink", "in"))
    runtime = run(g)
    assert [labels(msg) for msg in middle.messages] == [("untrusted-input",)] * 2
    assert [labels(msg) for msg in sink.messages] == [("checked",)] * 2
    assert runtime.execution.taint_counts() == {
        ("check", "in", "untrusted-input"): 2,
        ("middle", "in", "untrusted-input"): 2,
        ("sink", "in", "checked"): 2,
    }


def test_a_node_declaring_labels_is_not_fused() -> None:
    class Marked(Node):
        introduces: ClassVar[frozenset[str]] = frozenset({"late"})

    stage = node(lambda x: x, name="mark", inputs={"in": int}, outputs={"out": int})
    stage.introduces = frozenset({"late"})  # type: ignore[attr-defined]
    graph, sink = chain(stage(), source=[1, 2])
    runtime = run(graph)
    assert not runtime.execution.chains
    assert [labels(msg) for msg in sink.messages] == [("late",)] * 2
    assert Marked.introduces == frozenset({"late"})


@pytest.mark.parametrize(
    ("labels_", "message"),
    [("late", "not one string"), ({"Late"}, "lowercase word"), ({"a b"}, "lowercase word")],
)
def test_a_bad_label_is_refused_naming_the_form(labels_: Any, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        check_labels(labels_, "Node.introduces")


def test_labels_read_back_from_json_as_a_list_still_count() -> None:
    assert labels_of({TAINTS: ["late", 3]}) == ("late",)
    sink = Collect(name="sink")
    g = Subgraph()
    g.add_node(Checked(name="check"))
    g.add_node(sink)
    g.connect(("check", "out"), ("sink", "in"))
    runtime = Runtime()
    ex = runtime.open_execution(g)
    runtime.launch(ex)
    try:
        ex.inject("check", "in", Message(1, taints=["late"]))  # as a JSON body would give it
        ex.close_inputs()
        assert ex.wait(30)
    finally:
        runtime.stop()
    assert [labels(msg) for msg in sink.messages] == [("checked", "late")]
    assert ex.taint_counts() == {
        ("check", "in", "late"): 1,
        ("sink", "in", "checked"): 1,
        ("sink", "in", "late"): 1,
    }


class Keyed(Node):
    """Emits each value as a message with a header of its own."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", Message(msg.payload, key="k"))


def test_a_message_emitted_with_headers_of_its_own_keeps_the_labels() -> None:
    graph, sink = chain(Flaky({1}), Keyed(name="keyed"), source=[1, 2])
    run(graph)
    assert [(msg.headers["key"], labels(msg)) for msg in sink.messages] == [
        ("k", ("retried",)),
        ("k", ()),
    ]


def test_retaint_keeps_the_same_headers_when_nothing_changes() -> None:
    msg = Message(1, taints=("retried",))
    assert retaint(msg.headers, frozenset({"retried"}), frozenset()) is msg.headers
    cleared = retaint(msg.headers, frozenset(), frozenset({"retried"}))
    assert TAINTS not in cleared
    both = retaint(msg.headers, frozenset({"late"}), frozenset())
    assert both[TAINTS] == ("late", "retried")
