"""Join and IntervalJoin: rows equal a nested loop over what arrived, state evicted by watermark."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arachne import IterSource, Message, Runtime, Subgraph
from arachne.observability.query import QueryPlane
from arachne.primitives import (
    EventClock,
    IntervalJoin,
    IntervalJoinNode,
    Join,
    JoinNode,
    JoinRow,
    PrimitiveError,
)
from arachne.spec import build, loads_document
from tests.runtime.nodes import Collect

side_strategy = st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 9)), max_size=12)


def run(g: Subgraph) -> Any:
    runtime = Runtime()
    runtime.register(g)
    execution = runtime.start()
    runtime.wait()
    execution.raise_if_failed()
    return execution


def arrivals_of(node: Any) -> list[tuple[str, Any]]:
    """Log what ``node`` is handed, in the order it is handed it."""
    seen: list[tuple[str, Any]] = []
    handle = node.on_message

    def logged(port: str, msg: Message) -> None:
        seen.append((port, msg.payload))
        handle(port, msg)

    node.on_message = logged
    return seen


# -- Join -------------------------------------------------------------------------------------


def nested_loop(
    arrivals: list[tuple[str, dict[str, Any]]], insert: str, emit: str
) -> list[JoinRow]:
    """The rows a join must emit, recomputed from scratch at each arrival by nested loops."""
    rows: list[JoinRow] = []
    cleared: dict[Any, int] = {}  # key -> arrivals before this index are gone (complete)
    seen_keys: list[Any] = []
    for index, (_, value) in enumerate(arrivals):
        key = value["k"]
        if key not in seen_keys:
            seen_keys.append(key)
        if emit == "final":
            continue
        prefix = arrivals[cleared.get(key, 0) : index + 1]
        kept = {
            side: keep([v for s, v in prefix if s == side and v["k"] == key], insert)
            for side in ("left", "right")
        }
        if emit == "running" or (kept["left"] and kept["right"]):
            rows += pairs(key, kept)
            if emit == "complete":
                cleared[key] = index + 1
    if emit == "final":
        for key in seen_keys:
            kept = {
                side: keep([v for s, v in arrivals if s == side and v["k"] == key], insert)
                for side in ("left", "right")
            }
            rows += pairs(key, kept)
    return rows


def keep(values: list[Any], insert: str) -> list[Any]:
    if not values:
        return []
    return {"first": values[:1], "last": values[-1:], "product": values}[insert]


def pairs(key: Any, kept: dict[str, list[Any]]) -> list[JoinRow]:
    return [
        JoinRow(key, left, right)
        for left in kept["left"] or [None]
        for right in kept["right"] or [None]
    ]


@pytest.mark.parametrize(
    ("insert", "emit"),
    list(itertools.product(("first", "last", "product"), ("complete", "final", "running"))),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lefts=side_strategy, rights=side_strategy)
def test_join_rows_equal_a_nested_loop_for_every_mode(
    insert: str, emit: str, lefts: list[tuple[str, int]], rights: list[tuple[str, int]]
) -> None:
    g = Subgraph()
    g.add_node(IterSource([{"k": k, "v": v, "side": "L"} for k, v in lefts], name="ls"))
    g.add_node(IterSource([{"k": k, "v": v, "side": "R"} for k, v in rights], name="rs"))
    join = Join.install(g, "join", key="k", insert_mode=insert, emit_mode=emit)
    out = Collect("out")
    g.add_node(out)
    g.connect(("ls", "out"), join["left"])
    g.connect(("rs", "out"), join["right"])
    g.connect(join["out"], ("out", "in"))
    node = g.instances()["join/join"]
    assert isinstance(node, JoinNode)
    arrivals = arrivals_of(node)
    run(g)
    assert len(arrivals) == len(lefts) + len(rights)
    assert out.payloads == nested_loop(arrivals, insert, emit)
    if emit == "complete":
        # complete frees a key as it emits: what is left holds one side only
        assert all(not (s["left"] and s["right"]) for s in node.state.values())


def test_join_options_are_checked_naming_the_fix() -> None:
    with pytest.raises(PrimitiveError, match="insert_mode 'all': give one of first, last"):
        Join.fragment("j", insert_mode="all")
    with pytest.raises(PrimitiveError, match="emit_mode 'eager': give one of complete, final"):
        Join.fragment("j", emit_mode="eager")


# -- IntervalJoin -----------------------------------------------------------------------------


timed_strategy = st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 40)), max_size=25)


def interval_graph(
    lefts: list[dict[str, Any]],
    rights: list[dict[str, Any]],
    *,
    lower: float,
    upper: float,
    max_delay: float,
) -> tuple[Subgraph, IntervalJoinNode, Collect, Collect]:
    g = Subgraph()
    g.add_node(IterSource(lefts, name="ls"))
    g.add_node(IterSource(rights, name="rs"))
    lc = EventClock.install(g, "lc", timestamp="t", max_delay=max_delay)
    rc = EventClock.install(g, "rc", timestamp="t", max_delay=max_delay)
    join = IntervalJoin.install(g, "join", key="k", timestamp="t", lower=lower, upper=upper)
    out, late = Collect("out"), Collect("late")
    g.add_node(out)
    g.add_node(late)
    g.connect(("ls", "out"), lc["in"])
    g.connect(("rs", "out"), rc["in"])
    g.connect(lc["out"], join["left"])
    g.connect(rc["out"], join["right"])
    g.connect(join["out"], ("out", "in"))
    g.connect(join["late"], ("late", "in"))
    node = g.instances()["join/join"]
    assert isinstance(node, IntervalJoinNode)
    return g, node, out, late


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    left=timed_strategy,
    right=timed_strategy,
    bounds=st.tuples(st.integers(-6, 6), st.integers(0, 8)),
    max_delay=st.integers(0, 8),
)
def test_interval_join_equals_a_nested_loop_and_evicts_by_watermark(
    left: list[tuple[str, int]],
    right: list[tuple[str, int]],
    bounds: tuple[int, int],
    max_delay: int,
) -> None:
    lower, upper = bounds[0], bounds[0] + bounds[1]
    lefts = [{"k": k, "t": t, "i": i} for i, (k, t) in enumerate(left)]
    rights = [{"k": k, "t": t, "i": i} for i, (k, t) in enumerate(right)]
    g, node, out, late = interval_graph(
        lefts, rights, lower=lower, upper=upper, max_delay=max_delay
    )
    # Log each arrival with the join's watermark then, and what it holds after each advance.
    arrivals: list[tuple[str, dict[str, Any], float]] = []
    handle, advance = node.on_message, node.on_watermark
    held_after: list[tuple[float, list[tuple[str, float]]]] = []

    def logged(port: str, msg: Message) -> None:
        arrivals.append((port, msg.payload, node.watermark))
        handle(port, msg)

    def watched(t: float) -> None:
        advance(t)
        held_after.append(
            (
                t,
                [
                    (side, u)
                    for side, buf in node.buffers.items()
                    for es in buf.values()
                    for u, _ in es
                ],
            )
        )

    node.on_message = logged  # type: ignore[method-assign]
    node.on_watermark = watched  # type: ignore[method-assign]
    run(g)
    assert len(arrivals) == len(lefts) + len(rights)
    on_time = [(port, item) for port, item, w in arrivals if item["t"] >= w]
    behind = [item for _, item, w in arrivals if item["t"] < w]
    # late: exactly the items that came behind the join's watermark, none lost
    assert sorted(r.item["t"] for r in late.payloads) == sorted(i["t"] for i in behind)
    # rows: every on-time pair within the interval, each once (a nested loop)
    expected = Counter(
        (a["k"], a["i"], b["i"])
        for pa, a in on_time
        for pb, b in on_time
        if pa == "left"
        and pb == "right"
        and a["k"] == b["k"]
        and a["t"] + lower <= b["t"] <= a["t"] + upper
    )
    got = Counter((row.key, row.left["i"], row.right["i"]) for row in out.payloads)
    assert got == expected
    # eviction: after each advance, nothing is held that no item still to come could pair with
    for t, held in held_after:
        for side, u in held:
            assert (u + upper >= t) if side == "left" else (u - lower >= t), (t, side, u)


def test_interval_join_options_are_checked_and_its_health_is_queried() -> None:
    with pytest.raises(PrimitiveError, match="lower 5 is above upper 1"):
        IntervalJoin.fragment("j", lower=5, upper=1)
    with pytest.raises(PrimitiveError, match="requires EventTime"):
        IntervalJoin.install(Subgraph(), "j", lower=0, upper=1)
    lefts = [{"k": "a", "t": t} for t in (1, 5, 9)]
    rights = [{"k": "a", "t": t} for t in (2, 6, 30)]
    g, node, out, _ = interval_graph(lefts, rights, lower=0, upper=2, max_delay=0)
    execution = run(g)
    assert sorted((r.left["t"], r.right["t"]) for r in out.payloads) == [(1, 2), (5, 6)]
    with QueryPlane(execution) as plane:
        health = plane.primitives().of("join").health
    assert health["rows"] == 2
    assert health["held"] == node.held()


JOIN_DOCUMENT = """
arachne: "1.0"
name: joined
nodes:
  - {id: orders, component: arachne.core.passthrough}
  - {id: payments, component: arachne.core.passthrough}
  - id: join
    component: arachne.core.join
    config: {key: order, insert_mode: last, emit_mode: complete}
edges:
  - {source: "orders:out", target: "join:left"}
  - {source: "payments:out", target: "join:right"}
"""


def test_a_join_is_usable_from_a_graph_document() -> None:
    graph = build(loads_document(JOIN_DOCUMENT, format="yaml"))
    graph.add_node(IterSource([{"order": 1, "item": "tea"}, {"order": 2, "item": "pen"}], name="o"))
    graph.add_node(IterSource([{"order": 2, "paid": 3}, {"order": 1, "paid": 5}], name="p"))
    out = Collect("out")
    graph.add_node(out)
    graph.connect(("o", "out"), ("orders", "in"))
    graph.connect(("p", "out"), ("payments", "in"))
    graph.connect(("join", "out"), ("out", "in"))
    run(graph)
    assert sorted((r.key, r.left["item"], r.right["paid"]) for r in out.payloads) == [
        (1, "tea", 5),
        (2, "pen", 3),
    ]


def _driven(node: Any, steps: list[tuple[str, Any]]) -> list[Any]:
    """Drive ``node`` by hand: ``("wm", t)`` is a watermark, ``(port, value)`` a message."""
    sent: list[Any] = []
    node.emit = lambda port, value: sent.append((port, value))
    for port, value in steps:
        if port == "wm":
            node.on_watermark(value)
        else:
            node.on_message(port, Message(value))
    return sent


@pytest.mark.parametrize("kind", ["join", "interval"])
def test_a_join_saved_at_a_checkpoint_goes_on_as_if_never_stopped(kind: str) -> None:
    from arachne.primitives.event_clock import reader

    def made() -> Any:
        if kind == "join":
            return JoinNode(reader("k", "key"), "product", "running")
        return IntervalJoinNode(reader("k", "key"), reader("t", "timestamp"), -1.0, 2.0)

    steps: list[tuple[str, Any]] = [
        ("left", {"k": ["a", 1], "t": 1.0}),
        ("right", {"k": ["a", 1], "t": 2.5}),
        ("wm", 1.5),
        ("left", {"k": "b", "t": 3.0}),
        ("right", {"k": ["a", 1], "t": 2.0}),
    ]
    later: list[tuple[str, Any]] = [
        ("right", {"k": "b", "t": 4.0}),
        ("wm", 3.5),
        ("left", {"k": ["a", 1], "t": 2.2}),
        ("right", {"k": "b", "t": 0.5}),
    ]
    whole = made()
    expected = _driven(whole, steps + later)
    first = made()
    before = _driven(first, steps)
    saved = json.loads(json.dumps(first.snapshot()))  # (what the store keeps: JSON)
    second = made()
    second.restore(saved)
    assert before + _driven(second, later) == expected
    assert second.snapshot() == whole.snapshot()
