"""The live view of one execution (``arachne top``, ``arachne run --top``): rates, latency, queues.

A frame is worked out from two snapshots (``render``) and laid out by rich at whatever width it
is given, so it is tested without a terminal. ``TopView`` keeps the previous snapshot between
two refreshes. ``read_metrics`` turns what ``arachne run --metrics-port`` serves back into
snapshots, so ``arachne top`` shows a run in another process the same way.

Per node: messages taken in and emitted per second, p99 latency, the shares of the time since
the previous frame it was busy and held back by a full output (of its whole life, for the
first frame), and its errors. Per edge: its queue against its capacity and, for a full
``block`` edge, the node holding it back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client.parser import text_string_to_metric_families
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from arachne.runtime.stats import (
    Backpressure,
    EdgeStats,
    ExecutionStats,
    LatencyStats,
    NodeStats,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console, ConsoleOptions, RenderResult

__all__ = ["EdgeRow", "Frame", "NodeRow", "Scrape", "TopView", "read_metrics", "render"]

EDGE_ROWS = 8
"""Edges a frame lists at most: held back ones first, then the fullest."""

_BAR = 10  # cells of an edge's queue bar
_GAP = 3  # cells between two columns: padding, divider, padding (SIMPLE_HEAD, no edges)


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One node's line: rates in messages per second, shares of time from 0 to 1.

    A rate is ``None`` when there is no time to divide by or its counter never moved (the
    input rate of a source, say).
    """

    id: str
    received: float | None
    emitted: float | None
    p99: float | None
    busy: float
    held: float
    errors: int


@dataclass(frozen=True, slots=True)
class EdgeRow:
    """One edge's line: its queue and, when a full ``block`` edge, the node holding it back."""

    id: str
    depth: int
    capacity: int
    cause: str | None


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of the view, a rich renderable laid out for the width it is printed at.

    Ids too long for their column are cut in the middle (``numbers.o…even.in``), no line is
    wider than the console and none wraps.
    """

    title: str
    state: str
    elapsed: float
    activations: int
    nodes: tuple[NodeRow, ...]
    edges: tuple[EdgeRow, ...]
    backpressure: tuple[Backpressure, ...]
    more_edges: int = 0

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        causes = {found.cause for found in self.backpressure}
        parts: list[Text | Table] = [*self._header(width), _node_table(self.nodes, causes, width)]
        if self.edges:
            parts.append(_edge_table(self.edges, self.more_edges, width))
        yield Group(*parts)

    def _header(self, width: int) -> list[Text]:
        line = Text()
        line.append(self.title, "bold")
        line.append(
            f" · {self.state} · {self.elapsed:,.1f} s · {self.activations:,} activations",
            "dim",
        )
        held = Text()
        if self.backpressure:
            edges: dict[str, int] = {}
            for found in self.backpressure:
                edges[found.cause] = edges.get(found.cause, 0) + 1
            held.append("backpressure: ")
            for index, (cause, count) in enumerate(edges.items()):
                held.append("; " if index else "")
                held.append(f"held by {cause}", "bold red")
                held.append(f" ({count} edge{'s' if count > 1 else ''})")
        else:
            held.append("no backpressure", "dim green")
        for text in (line, held):
            text.no_wrap = True
            text.overflow = "ellipsis"
            text.truncate(width, overflow="ellipsis")
        return [line, held]


def render(
    stats: ExecutionStats,
    previous: ExecutionStats | None = None,
    *,
    span: float | None = None,
    backpressure: Sequence[Backpressure] | None = None,
    title: str | None = None,
    edge_rows: int = EDGE_ROWS,
) -> Frame:
    """Return the frame for ``stats``, with rates and shares since ``previous``.

    ``span`` is the seconds between the two snapshots (default: the difference of their
    ``elapsed``; without ``previous``, rates are averages over ``stats.elapsed``).
    ``backpressure`` defaults to ``stats.backpressure``; a snapshot read back from Prometheus
    passes the causes it was given (its edges do not say which nodes they join).
    """
    before = previous.nodes if previous is not None else {}
    if span is None:
        span = stats.elapsed - (previous.elapsed if previous is not None else 0.0)
    found = tuple(stats.backpressure if backpressure is None else backpressure)
    nodes = tuple(_node_row(node, before.get(node.id), span) for node in stats.nodes.values())
    causes = {item.edge: item.cause for item in found}
    order = sorted(
        enumerate(stats.edges.values()),
        key=lambda pair: (pair[1].id not in causes, -_fill(pair[1]), pair[0]),
    )
    edges = tuple(
        EdgeRow(edge.id, edge.depth, edge.capacity, causes.get(edge.id))
        for _, edge in order[:edge_rows]
    )
    return Frame(
        title or stats.id,
        stats.state,
        stats.elapsed,
        stats.activations,
        nodes,
        edges,
        found,
        max(len(order) - edge_rows, 0),
    )


class TopView:
    """The view of one execution across refreshes: each frame's rates are since the last."""

    def __init__(self, title: str | None = None, *, edge_rows: int = EDGE_ROWS) -> None:
        self._title = title
        self._edge_rows = edge_rows
        self._previous: ExecutionStats | None = None
        self._at: float | None = None

    def update(
        self,
        stats: ExecutionStats,
        *,
        now: float | None = None,
        backpressure: Sequence[Backpressure] | None = None,
    ) -> Frame:
        """Return the frame for ``stats``; keep it as the previous snapshot for the next.

        ``now`` (a monotonic clock's reading) times the span between two frames; without it,
        the snapshots' ``elapsed`` does.
        """
        span = None if now is None or self._at is None else now - self._at
        frame = render(
            stats,
            self._previous,
            span=span,
            backpressure=backpressure,
            title=self._title,
            edge_rows=self._edge_rows,
        )
        self._previous, self._at = stats, now
        return frame


def _node_row(node: NodeStats, before: NodeStats | None, span: float) -> NodeRow:
    def rate(now: int, was: int) -> float | None:
        return (now - was) / span if span > 0 and now else None

    busy, held, idle = node.busy_seconds, node.backpressured_seconds, node.idle_seconds
    if before is not None:
        busy -= before.busy_seconds
        held -= before.backpressured_seconds
        idle -= before.idle_seconds
    life = busy + held + idle
    if life <= 0:  # nothing timed since the previous frame: its whole life instead
        busy, held = node.busy_fraction, node.backpressured_fraction
    else:
        busy, held = busy / life, held / life
    return NodeRow(
        node.id,
        rate(node.received, before.received if before else 0),
        rate(node.emitted, before.emitted if before else 0),
        node.latency.p99 if node.latency.count else None,
        busy,
        held,
        node.errors,
    )


def _fill(edge: EdgeStats) -> float:
    return edge.depth / edge.capacity if edge.capacity > 0 else 0.0


# -- layout -----------------------------------------------------------------------------------


def _table() -> Table:
    return Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        width=None,
        expand=False,
        caption_justify="left",
    )


def _node_table(rows: Sequence[NodeRow], causes: set[str], width: int) -> Table:
    cells = [
        (
            _rate(row.received),
            _rate(row.emitted),
            _seconds(row.p99),
            _percent(row.busy),
            _percent(row.held),
            _count(row.errors),
        )
        for row in rows
    ]
    heads = ("in/s", "out/s", "p99", "busy", "held", "errors")
    least = (6, 6, 6, 4, 4, 6)  # the usual widths, so columns do not jitter between frames
    widths = [max([least[i], *(len(cell[i]) for cell in cells)]) for i in range(len(heads))]
    id_width = max(width - sum(widths) - _GAP * len(heads), 4)
    table = _table()
    table.add_column("node", no_wrap=True, overflow="ellipsis", max_width=id_width)
    for head, cells_width in zip(heads, widths, strict=True):
        table.add_column(head, justify="right", no_wrap=True, min_width=cells_width)
    for row, cell in zip(rows, cells, strict=True):
        name = Text(_shorten(row.id, id_width), "bold red" if row.id in causes else "")
        busy = Text(cell[3], "bold" if row.busy >= 0.9 else "")
        held = Text(cell[4], "yellow" if row.held >= 0.1 else "")
        errors = Text(cell[5], "red" if row.errors else "")
        table.add_row(name, cell[0], cell[1], cell[2], busy, held, errors)
    return table


def _edge_table(rows: Sequence[EdgeRow], more: int, width: int) -> Table:
    queues = [f"{_count(row.depth)}/{_count(row.capacity)}" for row in rows]
    queue_width = max([len("depth/cap"), *(len(queue) for queue in queues)])
    held = [f"held by {row.cause}" for row in rows if row.cause is not None]
    columns = 4 if held else 3
    room = max(width - _BAR - queue_width - _GAP * (columns - 1), 8)
    cause_width = min(max(len(text) for text in held), room // 2) if held else 0
    id_width = room - cause_width
    table = _table()
    if more:
        table.caption = f"… {more} more edge{'s' if more > 1 else ''}"
    table.add_column("edge", no_wrap=True, overflow="ellipsis", max_width=id_width)
    table.add_column("queue", no_wrap=True, width=_BAR)
    table.add_column("depth/cap", justify="right", no_wrap=True, min_width=queue_width)
    if held:
        table.add_column("cause", no_wrap=True, overflow="ellipsis", max_width=cause_width)
    for row, queue in zip(rows, queues, strict=True):
        cells: list[Text | str] = [_shorten(row.id, id_width), _bar(row), queue]
        if held:
            cause = (
                Text("held by ", "red") + Text(_shorten(row.cause, cause_width - 8), "bold red")
                if row.cause is not None
                else Text("")
            )
            cells.append(cause)
        table.add_row(*cells)
    return table


def _bar(row: EdgeRow) -> Text:
    share = min(row.depth / row.capacity, 1.0) if row.capacity > 0 else 0.0
    filled = max(round(share * _BAR), 1 if row.depth else 0)
    style = "red" if share >= 1 else "yellow" if share >= 0.5 else "green"
    return Text("█" * filled, style) + Text("░" * (_BAR - filled), "dim")


def _shorten(text: str, width: int) -> str:
    """Return ``text``, cut in the middle with an ellipsis if it is wider than ``width``."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    keep = width - 1
    return text[: (keep + 1) // 2] + "…" + text[len(text) - keep // 2 :]


def _rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    if rate < 10:
        return f"{rate:.1f}"
    return f"{rate:,.0f}" if rate < 10_000 else _count(round(rate))


def _count(count: int) -> str:
    if count < 100_000:
        return f"{count:,}"
    if count < 10_000_000:
        return f"{count / 1000:.0f}k"
    return f"{count / 1_000_000:.0f}M"


def _seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if math.isinf(seconds):
        return "∞"
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 0.01:
        return f"{seconds * 1e3:.1f}ms"
    if seconds < 1:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds:.2f}s" if seconds < 60 else f"{seconds:,.0f}s"


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


# -- reading Prometheus text back -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scrape:
    """One execution read back from ``/metrics``, with the backpressure causes it gave.

    What the endpoint does not export stays at 0 (an edge's source, target and policy, a
    node's state); ``state`` is ``running`` (the endpoint answers while the run goes) and
    ``elapsed`` the longest life the nodes account for (0 with ``Runtime(metrics=False)``).
    Latency percentiles are the upper bounds of the histogram buckets they fall in.
    """

    graph: str
    stats: ExecutionStats
    backpressure: tuple[Backpressure, ...]


@dataclass(slots=True)
class _Run:
    """What one execution's samples say, gathered family by family."""

    nodes: dict[str, dict[str, float]] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)  # node -> le -> count
    edges: dict[str, dict[str, float]] = field(default_factory=dict)
    held: list[Backpressure] = field(default_factory=list)
    scheduler: dict[str, float] = field(default_factory=dict)


def read_metrics(text: str) -> list[Scrape]:
    """Return each execution in Prometheus ``text`` (as ``arachne run --metrics-port`` serves).

    Raises ``ValueError`` for text that is not in the Prometheus exposition format.
    """
    runs: dict[tuple[str, str], _Run] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if "graph" not in labels or "execution" not in labels:
                continue
            run = runs.setdefault((labels["graph"], labels["execution"]), _Run())
            name = sample.name.removesuffix("_total")
            if name.startswith("arachne_node_latency_seconds"):
                kind = name.removeprefix("arachne_node_latency_seconds_")
                key = labels.get("le", kind) if kind == "bucket" else kind
                run.latency.setdefault(labels["node"], {})[key] = sample.value
            elif name.startswith("arachne_node_"):
                node = run.nodes.setdefault(labels["node"], {})
                node[name.removeprefix("arachne_node_")] = sample.value
            elif name == "arachne_edge_backpressured":
                cause = labels["cause"]
                run.held.append(Backpressure(labels["edge"], cause, (cause,)))
            elif name.startswith("arachne_edge_"):
                edge = run.edges.setdefault(labels["edge"], {})
                edge[name.removeprefix("arachne_edge_")] = sample.value
            elif name.startswith("arachne_scheduler_"):
                run.scheduler[name.removeprefix("arachne_scheduler_")] = sample.value
    return [_scrape(graph, execution, run) for (graph, execution), run in runs.items()]


def _scrape(graph: str, execution: str, run: _Run) -> Scrape:
    nodes = {
        node_id: _node(node_id, values, run.latency.get(node_id, {}))
        for node_id, values in run.nodes.items()
    }
    blocked = {found.edge for found in run.held}
    edges = {
        edge_id: _edge(edge_id, values, edge_id in blocked) for edge_id, values in run.edges.items()
    }
    lives = [n.busy_seconds + n.backpressured_seconds + n.idle_seconds for n in nodes.values()]
    stats = ExecutionStats(
        id=execution,
        state="running",
        nodes=nodes,
        edges=edges,
        activations=int(run.scheduler.get("activations", 0)),
        ready=int(run.scheduler.get("ready_nodes", 0)),
        loop_lag=run.scheduler.get("loop_lag_seconds", 0.0),
        elapsed=max(lives, default=0.0),
    )
    return Scrape(graph, stats, tuple(sorted(run.held, key=lambda found: found.edge)))


def _node(node_id: str, values: dict[str, float], latency: dict[str, float]) -> NodeStats:
    def count(name: str) -> int:
        return int(values.get(name, 0))

    return NodeStats(
        id=node_id,
        state="",
        received=count("received"),
        emitted=count("emitted"),
        ticks=0,
        unrouted=0,
        errors=count("errors"),
        retried=count("retried"),
        skipped=count("skipped"),
        dead_lettered=count("dead_lettered"),
        in_flight=count("in_flight"),
        invocations=count("invocations"),
        busy_seconds=values.get("busy_seconds", 0.0),
        backpressured_seconds=values.get("backpressured_seconds", 0.0),
        idle_seconds=values.get("idle_seconds", 0.0),
        latency=_latency(latency),
    )


def _latency(values: dict[str, float]) -> LatencyStats:
    samples = int(values.get("count", 0))
    total = values.get("sum", 0.0)
    buckets = sorted(
        (float(bound), int(count))
        for bound, count in values.items()
        if bound not in ("count", "sum", "+Inf")
    )

    def percentile(share: float) -> float:
        wanted = share * samples
        for bound, count in buckets:
            if count >= wanted:
                return bound
        return math.inf  # beyond the last bound

    if not samples:
        return LatencyStats(buckets=tuple(buckets))
    return LatencyStats(
        count=samples,
        mean=total / samples,
        p50=percentile(0.5),
        p90=percentile(0.9),
        p99=percentile(0.99),
        sum=total,
        buckets=tuple(buckets),
    )


def _edge(edge_id: str, values: dict[str, float], blocked: bool) -> EdgeStats:
    def count(name: str) -> int:
        return int(values.get(name, 0))

    depth = count("depth")
    return EdgeStats(
        id=edge_id,
        source="",
        target="",
        capacity=count("capacity"),
        overflow="block" if blocked else "",
        priority=0,
        control=False,
        depth=depth,
        offered=count("dequeued") + count("dropped") + count("coalesced") + depth,
        enqueued=count("enqueued"),
        dequeued=count("dequeued"),
        dropped=count("dropped"),
        coalesced=count("coalesced"),
        failed=0,
        high_water=depth,
        blocked_seconds=values.get("blocked_seconds", 0.0),
        closed=False,
        blocked_spells=count("blocked_spells"),
    )
