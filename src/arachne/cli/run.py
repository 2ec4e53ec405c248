"""``arachne run``: a graph document run end to end, with feeds, printed outputs and a summary."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import sqlite3
import stat
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from arachne.cli.dashboard import linger, serve_dashboard
from arachne.cli.feeds import Feed, collect_feeds
from arachne.cli.info import load_registry
from arachne.cli.progress import Rates, live_table, summary_table
from arachne.cli.session import (
    CHECKER,
    attach_feeds,
    attach_printers,
    default_target,
    unfed_inputs,
)
from arachne.cli.watch import LOOK, DocumentWatcher
from arachne.cli.writer import Held, HeldLogs, Writer
from arachne.durable import SqliteStore
from arachne.durable.event_log import DEFAULT_KEEP, EventLog
from arachne.durable.replay import replay_into
from arachne.durable.runs import Run
from arachne.model.error_record import ERROR_PORT
from arachne.runtime import Runtime
from arachne.spec import analyze, build, read_document

if TYPE_CHECKING:
    from collections.abc import Iterable
    from wsgiref.simple_server import WSGIServer

    from arachne.model.manifest import Manifest
    from arachne.runtime.execution import Execution
    from arachne.runtime.stats import ExecutionStats
    from arachne.spec import GraphDocument

__all__ = ["RunOptions", "execute", "run_document"]

REFRESH = 0.25
"""Seconds between redraws of the live display."""

CANCEL_GRACE = 1.0
"""Seconds a cancel (a second Ctrl-C, ``--timeout``) may take before the process just exits."""

Draw = Callable[["ExecutionStats"], RenderableType]
"""What the live display shows of a snapshot: ``--progress``'s table or ``--top``'s view."""


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
    check_types: bool = False
    components: list[str] = field(default_factory=list)
    allow_code: bool = False  # run code components (their code runs in confined workers)
    trace: bool = False
    lineage: float | None = None  # the share of messages whose lineage is recorded
    metrics_port: int | None = None
    top: bool = False
    watch: Path | None = None  # the document to reload into the run when it changes
    dashboard: int | None = None  # the port to serve the run's dashboard on (0: any free)
    store: Path | None = None  # the SQLite file to checkpoint into (and resume from)
    checkpoint_every: float | None = None  # seconds between checkpoints (1 with a store)
    fresh: bool = False  # start the stored run over instead of resuming it
    upgrade: bool = False  # resume the stored run with a changed graph, its state following
    record: list[str] = field(default_factory=list)  # edges whose messages the log keeps
    log_keep: int | None = None  # entries of the event log kept (a million with a store)
    document_text: str | None = None  # the document as written, kept with the run
    replay: EventLog | None = None  # feed the graph this log's recorded messages
    hosts: int | None = None  # run split over this many worker processes (TCP mesh links)
    shards: list[str] = field(default_factory=list)  # with hosts: NODE=KEY, sharded by key
    ray: bool = False  # with hosts: the processes are Ray actors (the ray extra)


def run_document(path: Path, options: RunOptions, err: Console, stdin: IO[str]) -> int:
    """Run the document at ``path``; return the exit status (0 completed, 1 otherwise).

    Raises ``SpecError`` for an invalid document and ``ValueError`` for bad options, before
    anything runs.
    """
    doc = read_document(path)
    if options.store is not None:
        options.document_text = path.read_text(encoding="utf-8")
    return execute(doc, options, err, stdin)


def execute(
    doc: GraphDocument,
    options: RunOptions,
    err: Console,
    stdin: IO[str] | None,
    feeds: Iterable[Feed] = (),
) -> int:
    """Run ``doc`` with ``feeds`` plus what ``options`` ask for; return the exit status."""
    _check_store_options(doc, options)
    store = _open_store(options.store)
    try:
        return _execute(doc, options, err, stdin, feeds, store)
    finally:
        if store is not None:
            store.close()


def _execute(
    doc: GraphDocument,
    options: RunOptions,
    err: Console,
    stdin: IO[str] | None,
    feeds: Iterable[Feed],
    store: SqliteStore | None,
) -> int:
    report = analyze(doc)
    registry = load_registry(options.components, allow_code=options.allow_code)
    graph = build(doc, registry)

    def pick() -> str | None:
        try:
            return default_target(graph, doc, report.inputs)
        except ValueError:
            return None

    piped = stdin is not None and not stdin.isatty()
    asked = collect_feeds(options.injects, options.inputs, options.to, pick, stdin_piped=piped)
    feeds = [*feeds, *asked]
    attach_feeds(graph, doc, feeds)
    if piped and not any(feed.path == "-" for feed in feeds) and has_data(stdin):
        reason = (
            "values come from --inject or --input; add --input - to read it as well"
            if options.injects or options.inputs
            else "the graph has no single input node; add --input - --to NODE"
        )
        err.print(f"[yellow]note:[/] standard input is not read: {reason}")
    for port in unfed_inputs(graph, report.inputs, feeds):  # the run would end at once
        err.print(
            f"[yellow]note:[/] nothing feeds input node {port.split(':')[0]!r}; give it values "
            f"with --inject {port}=JSON, --input FILE (--to {port}) or a pipe: "
            "echo 21 | arachne run ...",
            highlight=False,
        )
    # Reading a pipe, each value is flushed as it leaves, so a consumer downstream sees it.
    writer = Writer(options.tag, flush=any(feed.path == "-" for feed in asked))
    attach_printers(graph, doc, report.outputs, writer)
    runtime = Runtime(
        check_types=options.check_types,
        trace=options.trace,
        lineage=options.lineage,
        store=_WithDocument(store, options) if store is not None else None,
        checkpoint_every=options.checkpoint_every or 1.0,
        fresh_runs=options.fresh,
        upgrade_runs=options.upgrade,
        record=options.record,
        run_name=doc.name,
    )
    runtime.register(graph)
    if logging.getLogger("arachne.events").isEnabledFor(logging.INFO):
        # Asked for detail (--log-level INFO or DEBUG): the run's events as log records too.
        from arachne.observability.logs import log_events

        log_events(runtime)
    metrics = _serve_metrics(runtime, options.metrics_port, err)
    ex = runtime.execution
    if options.replay is not None:
        counts = replay_into(ex, options.replay)
        fed = ", ".join(f"{edge} ({count:,})" for edge, count in counts.items())
        err.print(
            f"replaying run {options.replay.run!r}: recorded messages into {fed}", highlight=False
        )
    if ex.checkpointer is not None and getattr(ex.checkpointer.target, "resumed", False):
        latest = ex.checkpointer.target.latest()
        carried = getattr(ex.checkpointer.target, "carried", None)
        if carried is not None:
            err.print(
                f"run {doc.name!r} resumes with a changed graph; what changed:\n"
                + textwrap.indent(carried.text(), "  "),
                highlight=False,
            )
        err.print(
            f"resuming run {doc.name!r} from checkpoint {latest[0]} in {options.store} "
            "(--fresh starts it over)"
            if latest is not None
            else f"run {doc.name!r} in {options.store} took no checkpoint: it starts over",
            highlight=False,
        )
    board = serve_dashboard(runtime, ex, doc, registry, options.dashboard, err)
    started = time.perf_counter()
    show = options.progress if options.progress is not None else err.is_terminal
    draw = (
        _top_view(ex, doc.name)
        if options.top  # shown even with --quiet: asked for by name
        else _progress_view(started)
        if show and not options.quiet
        else None
    )
    watcher = (
        DocumentWatcher(options.watch, doc, ex, registry, writer, err)
        if options.watch is not None
        else None
    )
    signals: list[int] = []  # what interrupted the run, if anything
    try:
        with sigterm_interrupts(signals):  # kept through the drain: a second signal cancels
            try:
                runtime.start()
                ex.close_inputs()  # values come through the feeds' nodes, never through inject
                look = watcher.poll if watcher is not None else None
                _watch(
                    ex, err, started, options.timeout, draw, writer, final=options.top, look=look
                )
            except KeyboardInterrupt:
                if not signals:
                    signals.append(signal.SIGINT)
                err.print("[yellow]interrupted: stopping (Ctrl-C again to cancel)[/]")
                try:
                    ex.request_stop(drain=True)
                    ex.wait()
                except KeyboardInterrupt:
                    err.print("[yellow]interrupted again: cancelling[/]")
                    cancel_or_exit(ex, err)
            finally:
                runtime.shutdown(timeout=CANCEL_GRACE)
                if metrics is not None:
                    metrics.shutdown()
                    metrics.server_close()
                sys.stdout.flush()
        status = _conclude(ex, options, err, writer, watcher, doc, started, signals)
    except BaseException:
        if board is not None:
            board.close()
        raise
    if board is not None:
        linger(board, err, interrupted=bool(signals))
    return status


def _conclude(
    ex: Execution,
    options: RunOptions,
    err: Console,
    writer: Writer,
    watcher: DocumentWatcher | None,
    doc: GraphDocument,
    started: float,
    signals: list[int],
) -> int:
    """Print the run's summary and what went wrong; return the exit status."""
    elapsed = time.perf_counter() - started
    if not options.quiet:
        # The document's nodes as they are at the end (--watch may have changed them).
        shown = {node.id for node in (watcher.doc if watcher is not None else doc).nodes}
        err.print(summary_table(ex.stats(), elapsed, writer.count, shown))
    checkpointer = ex.checkpointer
    if checkpointer is not None and not options.quiet:
        since = (
            f"resumed from checkpoint {checkpointer.restored}, " if checkpointer.restored else ""
        )
        err.print(
            f"checkpoints: {since}last {checkpointer.last}; sinks {ex.delivery} ({options.store})",
            highlight=False,
        )
    if ex.error is not None:
        err.print(f"[red]error:[/] {ex.error}")
        return 1
    unfit = _unfit(ex)
    lost = _lost(ex) - writer.refused - unfit
    if unfit:
        err.print(
            f"[red]error:[/] {unfit:,} input value(s) did not fit the port they feed and were "
            "left out (see the warnings)"
        )
    if writer.refused:
        err.print(
            f"[red]error:[/] {writer.refused:,} output value(s) had no JSON form and were not "
            "printed (see the warnings); emit JSON data from output nodes"
        )
    if lost:
        err.print(
            f"[red]error:[/] {lost:,} message(s) failed and went nowhere (see the warnings); "
            "connect the nodes' 'error' ports to keep them"
        )
    if signals:
        # The conventional status of a process ended by a signal: a script can tell an
        # interrupted run (its output drained, but not all of its input) from a finished one.
        name = signal.Signals(signals[0]).name
        err.print(f"[yellow]interrupted by {name}: the run {ex.state.value} early[/]")
        return 128 + signals[0]
    if lost or writer.refused or unfit:
        return 1
    return 0 if ex.state.value == "completed" else 1


class _WithDocument:
    """The store of ``--store``, keeping the document's text with the run (for replay)."""

    def __init__(self, store: SqliteStore, options: RunOptions) -> None:
        self.store = store
        self.options = options

    def open_run(
        self,
        name: str,
        *,
        checksum: str | None,
        fresh: bool = False,
        manifest: Manifest | None = None,
        upgrade: bool = False,
    ) -> Run:
        return self.store.open_run(
            name,
            checksum=checksum,
            fresh=fresh,
            manifest=manifest,
            upgrade=upgrade,
            document=self.options.document_text,
            log_keep=self.options.log_keep or DEFAULT_KEEP,
        )


def _check_store_options(doc: GraphDocument, options: RunOptions) -> None:
    """Refuse options that need ``--store`` without it, and ``--record`` of no such edge."""
    if options.store is None:
        given = [
            flag
            for flag, value in (
                ("--fresh", options.fresh),
                ("--upgrade", options.upgrade),
                ("--record", options.record),
                ("--checkpoint-every", options.checkpoint_every),
                ("--log-keep", options.log_keep),
            )
            if value
        ]
        if given:
            raise ValueError(f"{', '.join(given)} work on a stored run: add --store FILE")
        return
    edges = [edge.id for edge in doc.edges]
    for edge in options.record:
        if edge not in edges:
            raise ValueError(
                f"--record {edge}: the document has no edge {edge!r}; its edges: "
                f"{', '.join(edges) or 'none'}"
            )


def _open_store(path: Path | None) -> SqliteStore | None:
    """Open the store ``--store`` names (``ValueError`` naming the fix if it cannot be)."""
    if path is None:
        return None
    try:
        return SqliteStore(path)
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        raise ValueError(
            f"--store {str(path)!r}: {exc}; give a SQLite file Arachne may write"
        ) from None


def _serve_metrics(runtime: Runtime, port: int | None, err: Console) -> WSGIServer | None:
    """Serve Prometheus metrics on 127.0.0.1:``port`` for the run, if asked."""
    if port is None:
        return None
    from arachne.observability.prometheus import serve_metrics

    server, _ = serve_metrics(runtime, port)
    err.print(f"metrics at http://127.0.0.1:{server.server_port}/metrics", highlight=False)
    return server


def has_data(stdin: IO[str] | None) -> bool:
    """Whether ``stdin`` is a pipe or a non-empty file (``/dev/null`` and terminals are not)."""
    try:
        info = os.fstat(stdin.fileno()) if stdin is not None else None
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    if info is None:
        return False
    return stat.S_ISFIFO(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_size > 0)


def cancel_or_exit(ex: Execution, err: Console) -> None:
    """Cancel the run; if it has not ended ``CANCEL_GRACE`` seconds later, end the process.

    A cancel takes effect between two calls of the nodes' hooks, so an inline call blocked
    in I/O (or a C extension) would hold it, and the process, for as long as it blocks; the
    user asked twice, so the process ends at once instead (exit status 130).
    """
    ex.request_stop(drain=False)
    if ex.wait(CANCEL_GRACE):
        return
    err.print(
        f"[red]the run did not end within {CANCEL_GRACE:g} s of the cancel (a node is blocked "
        "in a call): exiting now[/]"
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _unfit(ex: Execution) -> int:
    """Count input lines (``--input``, stdin) the command's checks left out."""
    nodes = ex.stats().nodes
    return sum(node.skipped for node_id, node in nodes.items() if node_id.startswith(CHECKER))


def _lost(ex: Execution) -> int:
    """Count messages skipped after a failure by nodes whose ``error`` port is not linked."""
    links = ex.graph.links.values()
    routed = {link.source.node for link in links if link.source.port == ERROR_PORT}
    stats = ex.stats().nodes
    return sum(node.skipped for node_id, node in stats.items() if node_id not in routed)


@contextlib.contextmanager
def sigterm_interrupts(signals: list[int]) -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while the run lasts: a graceful stop, outputs flushed.

    The first signal received is noted in ``signals`` (SIGINT is noted where its
    ``KeyboardInterrupt`` is caught).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        if not signals:
            signals.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _progress_view(started: float) -> Draw:
    rates = Rates()

    def draw(stats: ExecutionStats) -> RenderableType:
        rates.update(stats)
        return live_table(stats, rates, time.perf_counter() - started)

    return draw


def _top_view(ex: Execution, name: str) -> Draw:
    from arachne.observability.top import TopView

    return TopView(" · ".join(filter(None, (ex.graph.name or name, ex.id)))).update


def _watch(
    ex: Execution,
    err: Console,
    started: float,
    timeout: float | None,
    draw: Draw | None,
    writer: Writer | None = None,
    *,
    final: bool = False,
    look: Callable[[], object] | None = None,
) -> None:
    """Wait for the run to end (or time out), showing ``draw``'s display meanwhile, if any.

    With ``final``, the display is drawn once more when the run has ended (``--top``): off a
    terminal, where rich's ``Live`` prints only its last frame, that frame shows the end.
    ``look`` is called between two waits (``--watch``'s look at the document).
    """
    deadline = None if timeout is None else started + timeout
    # Values go to stdout; the display takes it over only when it is the same terminal.
    over_stdout = sys.stdout.isatty()
    live = (
        Live(console=err, auto_refresh=False, redirect_stdout=over_stdout, redirect_stderr=False)
        if draw is not None
        else None
    )
    held = Held()

    def print_held() -> None:
        lines = held.drain()
        if lines and live is not None:
            live.console.print(Text("\n".join(lines)), soft_wrap=True)

    def redraw() -> None:
        if live is not None and draw is not None:
            print_held()
            live.update(draw(ex.stats()), refresh=True)

    with live if live is not None else contextlib.nullcontext():
        try:
            # Values are held only when stdout and the display share the terminal.
            shared = over_stdout and sys.stderr.isatty()
            with _holding(held, writer if shared else None, on=live is not None):
                _refresh_until_done(ex, err, redraw, started, deadline, print_held, look)
                if final:
                    redraw()
        finally:
            print_held()  # what came after the last redraw (nothing is held any more)


def _refresh_until_done(
    ex: Execution,
    err: Console,
    redraw: Callable[[], None],
    started: float,
    deadline: float | None,
    print_held: Callable[[], None],
    look: Callable[[], object] | None = None,
) -> None:
    """Redraw the display (printing held lines above it) until the run ends or times out."""
    wait = REFRESH if look is None else min(REFRESH, LOOK)
    while not ex.wait(wait):
        if look is not None:
            print_held()  # values printed before the reload's report
            look()
        redraw()
        if deadline is not None and time.perf_counter() >= deadline:
            print_held()  # before a cancel that may end the process at once
            err.print(f"[yellow]--timeout {deadline - started:g} s reached: stopping[/]")
            cancel_or_exit(ex, err)
            return


@contextlib.contextmanager
def _holding(held: Held, writer: Writer | None, *, on: bool) -> Iterator[None]:
    """While a live display runs, keep values and node logs for its next redraw."""
    if not on:
        yield
        return
    logger = logging.getLogger("arachne")
    handlers = list(logger.handlers)
    # Only the command's own handler is held; one an application added keeps its way.
    cli = [handler for handler in handlers if getattr(handler, "arachne_cli", None)]
    plain = [handler for handler in cli if getattr(handler, "arachne_cli", None) == "plain"]
    held_logs = HeldLogs(held, plain[0].formatter if plain else None)  # JSON stays JSON
    for handler in cli:
        for log_filter in handler.filters:
            held_logs.addFilter(log_filter)
    logger.handlers = [handler for handler in handlers if handler not in cli] + [held_logs]
    if writer is not None:
        writer.held = held
    try:
        yield
    finally:
        if writer is not None:
            writer.held = None
        logger.handlers = handlers
