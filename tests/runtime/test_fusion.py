"""Fusion keeps every observable behaviour: outputs, order, counters and error policies."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arachne import DeadLetters, IterSource, NodeFailed, Runtime, Subgraph, node
from tests.runtime.nodes import Collect

COUNTERS = ("enqueued", "dequeued", "dropped", "offered", "depth", "closed")
NODE_COUNTERS = ("received", "emitted", "errors", "skipped", "dead_lettered", "unrouted")


def make_stage(kind: str, k: int, policy: str) -> Any:
    if kind == "add":
        return node(lambda x: x + k, name=f"add{k}", inputs={"in": int}, outputs={"out": int})
    if kind == "keep":
        return node(
            lambda x: x if x % k else None,
            name=f"keep{k}",
            inputs={"in": int},
            outputs={"out": int},
        )

    if kind == "batch":
        return node(
            lambda xs: [x + k for x in xs if x % k],
            name=f"batch{k}",
            inputs={"in": int},
            outputs={"out": int},
            batch=True,
        )
    if kind == "pred":
        return node(lambda x: x % k, name=f"pred{k}", inputs={"in": int}, filter=True)
    if kind == "fragile_pred":

        def picky(x: int) -> bool:
            if x % k == 1:
                raise ValueError(f"{x} leaves 1 modulo {k}")
            return x % 2 == 0

        return node(picky, name=f"picky{k}", error_policy=policy, filter=True)

    def fragile(x: int) -> int:
        if x % k == 0:
            raise ValueError(f"{x} is a multiple of {k}")
        return x * 2

    return node(fragile, name=f"fragile{k}", error_policy=policy)


def build(stages: list[tuple[str, int, str]], n: int, letters: bool) -> tuple[Subgraph, Collect]:
    graph = Subgraph()
    graph.add_node(IterSource(range(n), name="src", schema=int))
    previous = "src"
    for index, (kind, k, policy) in enumerate(stages):
        unit = make_stage(kind, k, policy)(name=f"s{index}")
        graph.add_node(unit)
        graph.connect((previous, "out"), (f"s{index}", "in"), capacity=4)
        if kind.startswith("fragile") and letters:
            graph.add_node(DeadLetters(name=f"dead{index}"))
            graph.connect((f"s{index}", "error"), (f"dead{index}", "in"))
        previous = f"s{index}"
    sink = Collect()
    graph.add_node(sink)
    graph.connect((previous, "out"), ("collect", "in"), capacity=3)
    return graph, sink


def observe(stages: list[tuple[str, int, str]], n: int, fusion: bool) -> tuple[Any, ...]:
    letters = any(policy == "dead_letter" for _, _, policy in stages)
    graph, sink = build(stages, n, letters)
    runtime = Runtime(fusion=fusion, quantum=5)
    runtime.register(graph)
    runtime.run()
    stats = runtime.stats()
    edges = {e: tuple(getattr(s, c) for c in COUNTERS) for e, s in stats.edges.items()}
    nodes = {n: tuple(getattr(s, c) for c in NODE_COUNTERS) for n, s in stats.nodes.items()}
    assert (runtime.execution.chains != []) == (fusion and bool(stages))
    return sink.payloads, edges, nodes


STAGES = st.lists(
    st.tuples(
        st.sampled_from(["add", "keep", "fragile", "pred", "fragile_pred", "batch"]),
        st.integers(2, 7),
        st.sampled_from(["skip", "dead_letter"]),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(STAGES, st.integers(0, 60))
def test_fused_and_unfused_runs_are_indistinguishable(
    stages: list[tuple[str, int, str]], n: int
) -> None:
    assert observe(stages, n, fusion=True) == observe(stages, n, fusion=False)


def test_fused_internal_edges_never_hold_a_message_and_the_tail_stays_bounded() -> None:
    graph, sink = build([("add", 1, "skip"), ("keep", 2, "skip")], 1000, letters=False)
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    stats = runtime.stats()
    assert sink.payloads == [x + 1 for x in range(1000) if (x + 1) % 2]
    assert stats.edges["src.out->s0.in"].high_water == 1
    assert stats.edges["s0.out->s1.in"].high_water == 1
    assert stats.edges["s1.out->collect.in"].high_water <= 3


def test_a_full_tail_edge_blocks_the_head_of_the_chain() -> None:
    graph, sink = build([("add", 1, "skip"), ("add", 2, "skip")], 1000, letters=False)
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    tail = runtime.stats().edges["s1.out->collect.in"]
    assert sink.payloads == [x + 3 for x in range(1000)]
    assert tail.high_water == 3
    assert tail.blocked_seconds > 0


def test_a_failing_stage_under_fail_names_itself() -> None:
    @node
    def boom(x: int) -> int:
        if x == 3:
            raise RuntimeError("no threes")
        return x

    graph = Subgraph()
    graph.add_node(IterSource(range(5), name="src", schema=int))
    graph.add_node(boom())
    graph.add_node(Collect())
    graph.connect(("src", "out"), ("boom", "in"))
    graph.connect(("boom", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    with pytest.raises(NodeFailed, match="'boom'.*no threes"):
        runtime.run()
    assert runtime.execution.chains


def test_one_function_class_used_twice_in_a_chain() -> None:
    @node
    def inc(x: int) -> int:
        return x + 1

    graph = Subgraph()
    graph.add_node(IterSource(range(10), name="src", schema=int))
    graph.add_node(inc(name="a"))
    graph.add_node(inc(name="b"))
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("a", "in"))
    graph.connect(("a", "out"), ("b", "in"))
    graph.connect(("b", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [x + 2 for x in range(10)]
    assert runtime.stats().nodes["a"].emitted == 10


def test_headers_survive_a_fused_chain_when_tracing() -> None:
    graph, sink = build([("add", 1, "skip"), ("add", 2, "skip")], 5, letters=False)
    runtime = Runtime(trace=True)
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [3, 4, 5, 6, 7]
    assert [m.headers["seq"] for m in sink.messages] == [1, 2, 3, 4, 5]


def test_a_fan_out_ends_a_chain() -> None:
    @node
    def double(x: int) -> int:
        return 2 * x

    graph = Subgraph()
    graph.add_node(IterSource(range(4), name="src", schema=int))
    graph.add_node(double())
    left, right = Collect("left"), Collect("right")
    graph.add_node(left)
    graph.add_node(right)
    graph.connect(("src", "out"), ("double", "in"))
    graph.connect(("double", "out"), ("left", "in"))
    graph.connect(("double", "out"), ("right", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert left.payloads == right.payloads == [0, 2, 4, 6]


@pytest.mark.parametrize("fusion", [True, False])
def test_a_chain_may_end_in_a_function_sink(fusion: bool) -> None:
    seen: list[int] = []

    @node
    def keep_even(x: int) -> int | None:
        return x if x % 2 == 0 else None

    @node
    def record(x: int) -> None:
        seen.append(x)

    graph = Subgraph()
    graph.add_node(IterSource(range(100), name="src", schema=int))
    graph.add_node(keep_even())
    graph.add_node(record())
    graph.connect(("src", "out"), ("keep_even", "in"), capacity=8)
    graph.connect(("keep_even", "out"), ("record", "in"), capacity=8)
    runtime = Runtime(fusion=fusion)
    runtime.register(graph)
    runtime.run()
    assert seen == list(range(0, 100, 2))
    stats = runtime.stats()
    assert stats.nodes["record"].received == 50
    assert stats.nodes["record"].emitted == 0
    assert stats.edges["keep_even.out->record.in"].dequeued == 50


def adder(i: int) -> Any:
    return lambda x: x + i


def fan_graph(n: int, sink_fn: bool) -> tuple[Subgraph, list[int], Collect]:
    seen: list[int] = []
    graph = Subgraph()
    graph.add_node(IterSource(range(n), name="src", schema=int))
    for i in range(4):
        graph.add_node(node(adder(i), name=f"b{i}", inputs={"in": int})())
        graph.connect(("src", "out"), (f"b{i}", "in"), capacity=5)
    collect = Collect()
    if sink_fn:
        graph.add_node(node(seen.append, name="sink", inputs={"in": int})())
    else:
        graph.add_node(collect, name="sink")
    for i in range(4):
        graph.connect((f"b{i}", "out"), ("sink", "in"), capacity=5)
    return graph, seen, collect


@pytest.mark.parametrize("sink_fn", [True, False])
def test_fan_out_and_fan_in_fused_or_not_give_the_same_counts(sink_fn: bool) -> None:
    results = []
    for fusion in (True, False):
        graph, seen, collect = fan_graph(300, sink_fn)
        runtime = Runtime(fusion=fusion, quantum=7)
        runtime.register(graph)
        runtime.run()
        stats = runtime.stats()
        got = seen if sink_fn else collect.payloads
        edges = {e: (s.enqueued, s.dequeued, s.depth) for e, s in stats.edges.items()}
        nodes = {k: (s.received, s.emitted, s.unrouted) for k, s in stats.nodes.items()}
        results.append((sorted(got), edges, nodes))
        assert all(s.high_water <= 5 for s in stats.edges.values())
    assert results[0] == results[1]
    assert results[0][0] == sorted(x + i for x in range(300) for i in range(4))


def test_a_stage_that_raises_mid_batch_resumes_after_the_failed_value_exactly_once() -> None:
    calls: list[int] = []

    @node(error_policy="skip")
    def shaky(x: int) -> int:
        calls.append(x)
        if x in (3, 4, 250):
            raise ValueError("unlucky")
        return x

    @node(filter=True, error_policy="skip")
    def odd(x: int) -> bool:
        if x == 7:
            raise ValueError("no sevens")
        return x % 2 == 1

    graph = Subgraph()
    graph.add_node(IterSource(range(300), name="src", schema=int))
    graph.add_node(shaky())
    graph.add_node(odd())
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("shaky", "in"))
    graph.connect(("shaky", "out"), ("odd", "in"))
    graph.connect(("odd", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert runtime.execution.chains
    assert calls == list(range(300))
    kept = [x for x in range(300) if x % 2 == 1 and x not in (3, 7)]
    assert sink.payloads == kept
    stats = runtime.stats().nodes
    assert (stats["shaky"].errors, stats["shaky"].emitted) == (3, 297)
    assert (stats["odd"].errors, stats["odd"].received, stats["odd"].emitted) == (1, 297, len(kept))


def test_filter_nodes_pass_the_payload_itself_and_keep_the_input_schema() -> None:
    @node(filter=True)
    def big(x: int) -> bool:
        return x > 2

    unit = big()
    assert unit.input_specs()["in"].schema is int
    assert unit.output_specs()["out"].schema is int
    graph = Subgraph()
    graph.add_node(IterSource(range(6), name="src", schema=int))
    graph.add_node(unit)
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("big", "in"))
    graph.connect(("big", "out"), ("collect", "in"))
    for fusion in (True, False):
        runtime = Runtime(fusion=fusion)
        runtime.register(graph)
        sink.payloads.clear()
        runtime.run()
        assert sink.payloads == [3, 4, 5]


@pytest.mark.parametrize(
    "fn",
    [lambda: None, lambda a, b: a, lambda x: (yield x)],
    ids=["no-parameter", "two-parameters", "generator"],
)
def test_a_filter_must_be_a_plain_one_parameter_function(fn: Any) -> None:
    with pytest.raises(TypeError, match=r"filter=True|takes 2 parameters"):
        node(fn, filter=True)


def batch_graph(policy: str, n: int) -> tuple[Subgraph, Collect, DeadLetters]:
    @node(batch=True, error_policy=policy)
    def tens(xs: list[int]) -> list[int]:
        if 7 in xs:
            raise ValueError("a seven in the batch")
        return [x * 10 for x in xs]

    graph = Subgraph()
    graph.add_node(IterSource(range(n), name="src", schema=int))
    graph.add_node(tens())
    sink, letters = Collect(), DeadLetters(name="dead")
    graph.add_node(sink)
    graph.add_node(letters)
    graph.connect(("src", "out"), ("tens", "in"))
    graph.connect(("tens", "out"), ("collect", "in"))
    graph.connect(("tens", "error"), ("dead", "in"))
    return graph, sink, letters


@pytest.mark.parametrize("fusion", [True, False])
def test_a_batch_stage_gets_whole_batches_and_fails_as_one(fusion: bool) -> None:
    graph, sink, letters = batch_graph("dead_letter", 20)
    runtime = Runtime(fusion=fusion, quantum=8, batch=8)
    runtime.register(graph)
    runtime.run()
    assert bool(runtime.execution.chains) == fusion
    assert sink.payloads == [x * 10 for x in range(8, 20)]  # batches 0-7, 8-15, 16-19
    assert [record.payload for record in letters.records] == list(range(8))
    stats = runtime.stats().nodes["tens"]
    assert (stats.received, stats.emitted, stats.errors, stats.dead_lettered) == (20, 12, 1, 8)


def test_a_batch_node_types_its_ports_by_the_lists_items() -> None:
    @node(batch=True)
    def total(xs: list[int]) -> list[float]:
        return [sum(xs) / 2]

    unit = total()
    assert unit.input_specs()["in"].schema is int
    assert unit.output_specs()["out"].schema is float
    with pytest.raises(TypeError, match="filter=True or batch=True"):
        node(lambda xs: xs, filter=True, batch=True)
    with pytest.raises(TypeError, match="batch=True"):
        node(lambda: [1], batch=True)


def observe_batch_chain(fusion: bool, trace: bool) -> tuple[Any, ...]:
    @node(error_policy="skip")
    def fragile(x: int) -> int:
        if x % 3 == 0:
            raise ValueError("a multiple of three")
        return x

    @node(batch=True)
    def twice(xs: list[int]) -> list[int]:
        return [y for x in xs for y in (x, x)]

    graph = Subgraph()
    graph.add_node(IterSource(range(10), name="src", schema=int))
    graph.add_node(fragile())
    graph.add_node(twice())
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("fragile", "in"))
    graph.connect(("fragile", "out"), ("twice", "in"))
    graph.connect(("twice", "out"), ("collect", "in"))
    runtime = Runtime(fusion=fusion, trace=trace)
    runtime.register(graph)
    runtime.run()
    stats = runtime.stats()
    nodes = {n: tuple(getattr(s, c) for c in NODE_COUNTERS) for n, s in stats.nodes.items()}
    edges = {e: (s.enqueued, s.dequeued) for e, s in stats.edges.items()}
    return sorted(sink.payloads), nodes, edges


@pytest.mark.parametrize("trace", [True, False])
def test_a_chain_with_a_batch_stage_counts_like_the_unfused_graph(trace: bool) -> None:
    fused = observe_batch_chain(True, trace)
    assert fused == observe_batch_chain(False, trace)
    assert fused[1]["fragile"][:3] == (10, 6, 4)  # received, emitted, errors
    assert fused[1]["twice"][:2] == (6, 12)


@pytest.mark.parametrize("fusion", [True, False])
def test_a_batch_function_returning_garbage_is_handled_by_its_policy(fusion: bool) -> None:
    @node(batch=True, error_policy="skip")
    def broken(xs: list[int]) -> list[int]:
        return 5  # type: ignore[return-value]

    graph = Subgraph()
    graph.add_node(IterSource(range(5), name="src", schema=int))
    graph.add_node(broken())
    graph.connect(("src", "out"), ("broken", "in"))
    runtime = Runtime(fusion=fusion)
    runtime.register(graph)
    runtime.run()
    assert runtime.stats().nodes["broken"].skipped == 5


def test_a_batch_function_changing_its_list_changes_nothing_else() -> None:
    @node(batch=True)
    def greedy(xs: list[int]) -> list[int]:
        kept = list(xs)
        xs.clear()
        return kept

    graph = Subgraph()
    graph.add_node(IterSource(range(3000), name="src", schema=int))
    sinks = []
    for name in ("a", "b"):
        graph.add_node(greedy(name=f"greedy_{name}"))
        sink = Collect(name=f"sink_{name}")
        sinks.append(sink)
        graph.add_node(sink)
        graph.connect(("src", "out"), (f"greedy_{name}", "in"))
        graph.connect((f"greedy_{name}", "out"), (f"sink_{name}", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert [len(sink.payloads) for sink in sinks] == [3000, 3000]


def test_a_batch_function_cannot_run_in_a_process_or_async_mode() -> None:
    for mode in ("process", "async"):
        with pytest.raises(TypeError, match="inline or in a thread"):
            node(lambda xs: xs, batch=True, mode=mode)
