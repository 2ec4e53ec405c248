"""Window: out + late account for every item, results equal a batch recompute, state freed."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arachne import GraphError, IterSource, NodeFailed, Runtime, SpecError, Subgraph
from arachne.primitives import (
    EventClock,
    Late,
    PrimitiveError,
    Session,
    Sliding,
    Tumbling,
    Window,
    WindowMeta,
    WindowNode,
    WindowResult,
)
from arachne.spec import build, loads_document
from tests.runtime.nodes import Collect

KEYS = ("a", "b", "c")

items_strategy = st.lists(
    st.tuples(st.sampled_from(KEYS), st.integers(0, 60), st.integers(-5, 9)),
    max_size=40,
)
window_strategy = st.one_of(
    st.builds(Tumbling, st.integers(1, 12).map(float)),
    st.builds(
        lambda size, slide: Sliding(float(size), float(min(slide, size))),
        st.integers(1, 12),
        st.integers(1, 12),
    ),
    st.builds(Session, st.integers(1, 8).map(float)),
)
aggregate_strategy = st.sampled_from(
    ["count", "sum", "min", "max", "mean", "first", "last", "list"]
)


def windowed(
    items: list[dict[str, Any]],
    window: Any,
    *,
    max_delay: float,
    lateness: float,
    aggregate: Any = "count",
    late_port: bool = True,
) -> tuple[Subgraph, Collect, Collect, Collect]:
    g = Subgraph()
    g.add_node(IterSource(items, name="src"))
    clock = EventClock.install(g, "clock", timestamp="t", max_delay=max_delay)
    win = Window.install(
        g,
        "win",
        window=window,
        key="k",
        timestamp="t",
        value="v",
        aggregate=aggregate,
        allowed_lateness=lateness,
    )
    out, late, meta = Collect("out"), Collect("late"), Collect("meta")
    for sink in (out, late, meta):
        g.add_node(sink)
    g.connect(("src", "out"), clock["in"])
    g.connect(clock["out"], win["in"])
    g.connect(win["out"], ("out", "in"))
    if late_port:
        g.connect(win["late"], ("late", "in"))
    g.connect(win["meta"], ("meta", "in"))
    return g, out, late, meta


def run(g: Subgraph) -> None:
    runtime = Runtime()
    runtime.register(g)
    execution = runtime.start()
    runtime.wait()
    execution.raise_if_failed()


# -- the reference: the same stream, computed in one batch ------------------------------------


def on_time(
    items: list[dict[str, Any]], max_delay: float, lateness: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split ``items`` as the watermark does: late when behind it by more than ``lateness``."""
    highest, kept, late = -math.inf, [], []
    for item in items:
        (late if item["t"] < highest - max_delay - lateness else kept).append(item)
        highest = max(highest, item["t"])
    return kept, late


def batch(items: list[dict[str, Any]], window: Any, aggregate: str) -> set[tuple[Any, ...]]:
    """Return every window's (key, start, end, count, value) computed over ``items`` at once."""
    groups: dict[tuple[Any, float, float], list[Any]] = defaultdict(list)
    if isinstance(window, Session):
        by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in items:
            by_key[item["k"]].append(item)
        for key, mine in by_key.items():
            times = sorted({item["t"] for item in mine})
            runs: list[list[float]] = []
            for t in times:
                if runs and t < runs[-1][-1] + window.gap:
                    runs[-1].append(t)
                else:
                    runs.append([t])
            for span in runs:
                start, end = span[0], span[-1] + window.gap
                groups[(key, float(start), float(end))] = [
                    item["v"] for item in mine if span[0] <= item["t"] <= span[-1]
                ]
    else:
        size = window.size
        slide = window.slide if isinstance(window, Sliding) else size
        for item in items:
            start = math.floor(item["t"] / slide) * slide
            while start + size > item["t"]:
                groups[(item["k"], float(start), float(start + size))].append(item["v"])
                start -= slide
    return {
        (key, start, end, len(values), reduce(values, aggregate))
        for (key, start, end), values in groups.items()
    }


def reduce(values: list[Any], aggregate: str) -> Any:
    return {
        "count": lambda: len(values),
        "sum": lambda: sum(values),
        "min": lambda: min(values),
        "max": lambda: max(values),
        "mean": lambda: sum(values) / len(values),
        "first": lambda: values[0],
        "last": lambda: values[-1],
        "list": lambda: tuple(values),  # (in arrival order, as each window keeps them)
    }[aggregate]()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=items_strategy,
    window=window_strategy,
    aggregate=aggregate_strategy,
    max_delay=st.integers(0, 6),
    lateness=st.integers(0, 4),
)
def test_out_and_late_account_for_every_item_and_match_a_batch_recompute(
    raw: list[tuple[str, int, int]], window: Any, aggregate: str, max_delay: int, lateness: int
) -> None:
    items = [{"k": k, "t": t, "v": v} for k, t, v in raw]
    g, out, late, meta = windowed(
        items, window, max_delay=max_delay, lateness=lateness, aggregate=aggregate
    )
    run(g)
    results = [r for r in out.payloads if isinstance(r, WindowResult)]
    lates = [r for r in late.payloads if isinstance(r, Late)]
    assert len(results) == len(out.payloads)
    assert len(lates) == len(late.payloads)
    kept, behind = on_time(items, max_delay, lateness)
    # late: exactly the items behind the watermark, each once, none dropped unseen
    assert [r.item for r in lates] == behind
    assert all(r.time < r.watermark - lateness for r in lates)
    # out + late == input: every on-time item is counted in its windows (once, unless windows
    # overlap: a sliding window counts an item in each window covering it)
    if not isinstance(window, Sliding):
        assert sum(r.count for r in results) + len(lates) == len(items)
    # the results equal a batch computation over the on-time items
    got = {
        (r.key, r.start, r.end, r.count, tuple(r.value) if aggregate == "list" else r.value)
        for r in results
    }
    assert len(got) == len(results)
    assert got == batch(kept, window, aggregate)
    # meta: one per closed window, saying the same span and count
    assert sorted((m.key, m.start, m.end, m.count) for m in meta.payloads) == sorted(
        (r.key, r.start, r.end, r.count) for r in results
    )
    assert all(isinstance(m, WindowMeta) for m in meta.payloads)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=items_strategy,
    window=window_strategy,
    max_delay=st.integers(0, 6),
    lateness=st.integers(0, 4),
)
def test_window_state_is_freed_within_one_watermark_advance(
    raw: list[tuple[str, int, int]], window: Any, max_delay: int, lateness: int
) -> None:
    items = [{"k": k, "t": t, "v": v} for k, t, v in raw]
    g, _, _, _ = windowed(items, window, max_delay=max_delay, lateness=lateness)
    node = g.instances()["win/window"]
    assert isinstance(node, WindowNode)
    advances: list[tuple[float, list[float]]] = []
    closes = node.on_watermark

    def watched(t: float) -> None:
        closes(t)
        advances.append((t, open_ends(node)))

    node.on_watermark = watched  # type: ignore[method-assign]
    run(g)
    for t, ends in advances:
        # after the step that moved the watermark to t, no window that t closes is held
        assert all(end > t - lateness for end in ends), (t, ends)
    assert node.held() == 0  # and the end of the stream closed the rest
    if items:
        assert advances  # (the watermark did move)


def open_ends(node: WindowNode) -> list[float]:
    """Return the end of every window ``node`` holds now."""
    ends = [slot[0] for slot in node.open.values()]
    if isinstance(node.window, Session):
        ends += [s[1] + node.window.gap for sessions in node.sessions.values() for s in sessions]
    return ends


def test_a_list_aggregate_and_a_function_see_the_window_items() -> None:
    items = [{"k": "a", "t": t, "v": t * 10} for t in (1, 2, 11, 3)]
    g, out, _, _ = windowed(items, Tumbling(10), max_delay=8, lateness=0, aggregate="list")
    run(g)
    assert [(r.start, r.value) for r in out.payloads] == [(0.0, [10, 20, 30]), (10.0, [110])]
    g, out, _, _ = windowed(items, Tumbling(10), max_delay=8, lateness=0, aggregate=sorted)
    run(g)
    assert [r.value for r in out.payloads] == [[10, 20, 30], [110]]


def test_unsafe_or_unclear_options_are_refused_naming_the_fix() -> None:
    cases = {
        "window": ({"window": "hourly"}, "give Tumbling(size), Sliding(size, slide)"),
        "size": ({"window": Tumbling(0)}, "window size 0: give seconds of event time above 0"),
        "slide": ({"window": Sliding(5, 10)}, "use a slide <= size"),
        "lateness": (
            {"window": Session(5), "allowed_lateness": -1},
            "allowed_lateness -1: give seconds of event time, >= 0",
        ),
        "aggregate": ({"window": Session(5), "aggregate": "median"}, "give one of count, sum"),
    }
    for name, (options, says) in cases.items():
        with pytest.raises(PrimitiveError) as refused:
            Window.fragment("win", **options)
        assert says in str(refused.value), name


def test_a_changed_window_is_a_changed_option_in_the_manifest() -> None:
    def shown(window: Any) -> Any:
        mark = Window.fragment("win", window=window).unit.primitive
        assert mark is not None
        return mark.options["window"]

    assert (
        shown(Tumbling(10))
        == shown({"tumbling": 10.0})
        == {"tumbling": {"size": 10.0, "align": 0.0}}
    )
    assert shown(Tumbling(10)) != shown(Tumbling(20))
    assert shown({"sliding": {"size": 10, "slide": 5}}) == {
        "sliding": {"size": 10.0, "slide": 5.0, "align": 0.0}
    }
    assert shown(Session(30)) == {"session": {"gap": 30.0}}
    with pytest.raises(PrimitiveError, match="window align 'noon'"):
        Window.fragment("win", window=Tumbling(10, "noon"))  # type: ignore[arg-type]


def test_a_window_needs_event_time_installed_first() -> None:
    with pytest.raises(PrimitiveError) as refused:
        Window.install(Subgraph(), "win", window=Tumbling(10))
    assert "requires EventTime" in str(refused.value)
    assert "install EventClock first" in str(refused.value)


def test_a_late_port_that_leads_nowhere_is_refused_before_the_run() -> None:
    g, _, _, _ = windowed([], Tumbling(10), max_delay=0, lateness=0, late_port=False)
    with pytest.raises(GraphError) as refused:
        Runtime().open_execution(g)
    assert "Window 'win': late items leave by its 'late' port, which leads nowhere" in str(
        refused.value
    )


def test_an_item_without_a_time_goes_to_the_error_policy() -> None:
    g, _, _, _ = windowed([{"k": "a", "t": 1, "v": 1}], Tumbling(10), max_delay=0, lateness=0)
    g.add_node(IterSource([{"k": "a", "v": 2}], name="src2"))
    g.connect(("src2", "out"), ("clock", "in"))
    runtime = Runtime()
    runtime.register(g)
    execution = runtime.start()
    runtime.wait()
    with pytest.raises(NodeFailed) as failed:
        execution.raise_if_failed()
    assert "timestamp 't' is not a field of dict" in str(failed.value.__cause__)


DOCUMENT = """
arachne: "1.0"
name: windowed
nodes:
  - {id: intake, component: arachne.core.passthrough}
  - {id: clock, component: arachne.core.event_clock, config: {timestamp: t, max_delay: 2}}
  - id: win
    component: arachne.core.window
    config: {window: {tumbling: 10}, key: k, timestamp: t, aggregate: sum, value: t}
edges:
  - {source: "intake:out", target: "clock:in"}
  - {source: "clock:out", target: "win:in"}
"""


def test_windows_are_usable_from_a_graph_document() -> None:
    with pytest.raises(SpecError, match="Window 'win': late items leave by its 'late' port"):
        build(loads_document(DOCUMENT, format="yaml"))
    text = DOCUMENT.replace("nodes:\n", "nodes:\n  - {id: late, component: arachne.core.logger}\n")
    text += '  - {source: "win:late", target: "late:in"}\n'
    graph = build(loads_document(text, format="yaml"))
    values = [{"k": "a", "t": 1}, {"k": "a", "t": 4}, {"k": "b", "t": 2}, {"k": "a", "t": 12}]
    graph.add_node(IterSource([*values, {"k": "a", "t": 3}], name="src"))
    out, late = Collect("out"), Collect("kept_late")
    graph.add_node(out)
    graph.add_node(late)
    graph.connect(("src", "out"), ("intake", "in"))
    graph.connect(("win", "out"), ("out", "in"))
    graph.connect(("late", "out"), ("kept_late", "in"))
    run(graph)
    assert {(r.key, r.start, r.value) for r in out.payloads} == {
        ("a", 0.0, 5),
        ("b", 0.0, 2),
        ("a", 10.0, 12),
    }
    assert [r.item for r in late.payloads] == [{"k": "a", "t": 3}]


def test_a_document_sets_a_primitives_error_policy_with_errors() -> None:
    text = DOCUMENT.replace(
        "config: {timestamp: t, max_delay: 2}}",
        "config: {timestamp: t, max_delay: 2}, errors: skip}",
    )
    text = text.replace("nodes:\n", "nodes:\n  - {id: late, component: arachne.core.logger}\n")
    text += '  - {source: "win:late", target: "late:in"}\n'
    graph = build(loads_document(text, format="yaml"))
    stamper = graph.instances()["clock/stamper"]
    assert stamper.error_policy == "skip"
    graph.add_node(IterSource([{"k": "a", "t": 1}, {"k": "a"}, {"k": "a", "t": 2}], name="src"))
    out = Collect("out")
    graph.add_node(out)
    graph.connect(("src", "out"), ("intake", "in"))
    graph.connect(("win", "out"), ("out", "in"))
    run(graph)  # (the item with no time was skipped, the run went on)
    assert [(r.key, r.value) for r in out.payloads] == [("a", 3)]
    refused = DOCUMENT.replace(
        "component: arachne.core.passthrough}",
        "component: arachne.core.passthrough}\n  - {id: ks, component: arachne.core.kill_switch, "
        "errors: skip}",
    )
    with pytest.raises(SpecError, match="the KillSwitch primitive, which has no error policy"):
        build(loads_document(refused, format="yaml"))


def test_keys_that_are_lists_group_and_others_that_cannot_are_named() -> None:
    items = [{"k": ["a", 1], "t": 1, "v": 1}, {"k": ["a", 1], "t": 2, "v": 1}]
    g, out, _, _ = windowed(items, Tumbling(10), max_delay=0, lateness=0)
    run(g)
    assert [(r.key, r.count) for r in out.payloads] == [(("a", 1), 2)]
    g, _, _, _ = windowed([{"k": {1, 2}, "t": 1, "v": 1}], Tumbling(10), max_delay=0, lateness=0)
    runtime = Runtime()
    runtime.register(g)
    execution = runtime.start()
    runtime.wait()
    with pytest.raises(NodeFailed) as failed:
        execution.raise_if_failed()
    assert "cannot group items; give a key option that reads a string" in str(
        failed.value.__cause__
    )


def test_a_window_with_no_event_clock_before_it_is_warned_about() -> None:
    g = Subgraph()
    g.add_node(IterSource([{"t": 1}], name="src"))
    g.add_node(IterSource([{"t": 1}], name="other"))
    clock = EventClock.install(g, "clock", timestamp="t")
    win = Window.install(g, "win", window=Tumbling(10), timestamp="t")
    sink = Collect("sink")
    g.add_node(sink)
    g.connect(("other", "out"), clock["in"])
    g.connect(clock["out"], ("sink", "in"))
    g.connect(("src", "out"), win["in"])  # (straight from a source: no watermark comes)
    g.connect(win["out"], ("sink", "in"))
    g.connect(win["late"], ("sink", "in"))
    warned = [i for i in g.validate() if "no EventClock is upstream of its 'in'" in i.message]
    assert [i.severity for i in warned] == ["warning"]
    fine, _, _, _ = windowed([], Tumbling(10), max_delay=0, lateness=0)
    assert not [i for i in fine.validate() if "no EventClock" in i.message]
