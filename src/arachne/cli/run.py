"""``arachne run``: a graph document run end to end, with feeds, printed outputs and a summary."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live

from arachne.cli.feeds import Feed, parse_inject, read_json_lines
from arachne.cli.progress import Rates, live_table, summary_table
from arachne.cli.session import attach_feeds, attach_printers, default_target
from arachne.components import Registry
from arachne.model.error_record import ERROR_PORT
from arachne.runtime import Runtime
from arachne.spec import analyze, build, read_document

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from arachne.model.subgraph import Subgraph
    from arachne.runtime.execution import Execution
    from arachne.runtime.stats import ExecutionStats
    from arachne.spec import GraphDocument

__all__ = ["RunOptions", "execute", "run_document"]

REFRESH = 0.25
"""Seconds between redraws of the live display."""


@dataclass(slots=True)
class RunOptions:
    """What ``arachne run`` was asked for on the command line."""

    inputs: list[str] = field(default_factory=list)
    injects: list[str] = field(default_factory=list)
    to: str | None = None
    tag: bool = False
    progress: bool | None = None
    timeout: float | None = None
    quiet: bool = False


class Writer:
    """Writes each value that leaves the graph as one JSON line."""

    def __init__(self, tag: bool) -> None:
        self.tag = tag
        self.count = 0

    def __call__(self, node: str, port: str, value: Any) -> None:
        """Print ``value`` (with its node and port when tagging)."""
        data = {"node": node, "port": port, "value": value} if self.tag else value
        out = sys.stdout  # looked up each time: the live display swaps it for a proxy
        out.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        self.count += 1


def run_document(path: Path, options: RunOptions, err: Console, stdin: IO[str]) -> int:
    """Run the document at ``path``; return the exit status (0 completed, 1 otherwise).

    Raises ``SpecError`` for an invalid document and ``ValueError`` for bad options, before
    anything runs.
    """
    return execute(read_document(path), options, err, stdin)


def execute(
    doc: GraphDocument,
    options: RunOptions,
    err: Console,
    stdin: IO[str] | None,
    feeds: Iterable[Feed] = (),
) -> int:
    """Run ``doc`` with ``feeds`` plus what ``options`` ask for; return the exit status."""
    report = analyze(doc)
    graph = build(doc, Registry.default())
    attach_feeds(graph, doc, [*feeds, *_feeds(options, report.inputs, graph, doc, stdin)])
    writer = Writer(options.tag)
    attach_printers(graph, doc, report.outputs, writer)
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.execution
    started = time.perf_counter()
    show = options.progress if options.progress is not None else err.is_terminal
    try:
        runtime.start()
        _watch(ex, err, started, options.timeout, show and not options.quiet)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted: stopping (Ctrl-C again to cancel)[/]")
        try:
            ex.request_stop(drain=True)
            ex.wait()
        except KeyboardInterrupt:
            ex.request_stop(drain=False)
            ex.wait()
    finally:
        runtime.shutdown()
        sys.stdout.flush()
    elapsed = time.perf_counter() - started
    if not options.quiet:
        err.print(summary_table(ex.stats(), elapsed, writer.count))
    if ex.error is not None:
        err.print(f"[red]error:[/] {ex.error}")
        return 1
    lost = _lost(doc, ex.stats())
    if lost:
        err.print(
            f"[red]error:[/] {lost:,} message(s) failed and went nowhere (see the warnings); "
            "connect the nodes' 'error' ports to keep them"
        )
        return 1
    return 0 if ex.state.value == "completed" else 1


def _lost(doc: GraphDocument, stats: ExecutionStats) -> int:
    """Count messages skipped after a failure by nodes whose ``error`` port is not linked."""
    routed = {edge.source.node for edge in doc.edges if edge.source.port == ERROR_PORT}
    return sum(node.skipped for node_id, node in stats.nodes.items() if node_id not in routed)


def _feeds(
    options: RunOptions,
    inputs: Sequence[str],
    graph: Subgraph,
    doc: GraphDocument,
    stdin: IO[str] | None,
) -> list[Feed]:
    feeds: dict[tuple[str, str | None], list[Any]] = {}
    for option in options.injects:
        node, port, value = parse_inject(option)
        feeds.setdefault((node, port), []).append(value)
    result = [Feed(n, p, values, f"--inject {n}") for (n, p), values in feeds.items()]
    sources = list(options.inputs)
    implicit = not sources and not options.injects and stdin is not None and not stdin.isatty()
    if implicit and _one_target(graph, doc, inputs) is not None:
        sources = ["-"]
    for source in sources:
        node, port = _target(options.to, graph, doc, inputs)
        if source != "-":
            values = _lines_of(Path(source))
        elif stdin is not None:
            values = read_json_lines(stdin, "stdin")
        else:
            raise ValueError("--input -: there is no stdin here; give a file")
        result.append(Feed(node, port, values, f"--input {source}"))
    return result


def _one_target(graph: Subgraph, doc: GraphDocument, inputs: Sequence[str]) -> str | None:
    try:
        return default_target(graph, doc, inputs)
    except ValueError:
        return None


def _target(
    to: str | None, graph: Subgraph, doc: GraphDocument, inputs: Sequence[str]
) -> tuple[str, str | None]:
    if to:
        node, _, port = to.partition(":")
        return node, port or None
    return default_target(graph, doc, inputs), None


def _lines_of(path: Path) -> Any:
    if not path.is_file():
        raise ValueError(f"--input {path}: no such file; give a JSON-lines file or '-' for stdin")

    def values() -> Any:
        with path.open(encoding="utf-8") as stream:
            yield from read_json_lines(stream, str(path))

    return values()


def _watch(ex: Execution, err: Console, started: float, timeout: float | None, show: bool) -> None:
    deadline = None if timeout is None else started + timeout
    rates = Rates()
    live = Live(console=err, auto_refresh=False, redirect_stdout=True) if show else None
    with live if live is not None else contextlib.nullcontext():
        while not ex.wait(REFRESH):
            if live is not None:
                stats = ex.stats()
                rates.update(stats)
                live.update(live_table(stats, rates, time.perf_counter() - started), refresh=True)
            if deadline is not None and time.perf_counter() >= deadline:
                err.print(f"[yellow]--timeout {timeout} s reached: stopping[/]")
                ex.request_stop(drain=False)
                ex.wait()
                return
