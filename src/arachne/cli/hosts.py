"""``arachne run DOC --hosts N``: a graph document split over N worker processes (or Ray actors).

The document's nodes are spread over partitions ``h0`` to ``h(N-1)`` in the order of its
topology (``arachne.distributed.documents.spread``); each runs in a worker process of its own
and the links that cross become TCP mesh links (with ``--ray``, each runs in a Ray actor and
the links go through Ray). ``--shard NODE=KEY`` runs a node as one replica per process
instead, each item going to the replica that owns its key. ``--inject`` and ``--input``
feed it as they feed one process: every process builds the document with the same feed
nodes (:func:`fed_document`), each feed placed with the node it feeds; standard input and
``/dev/fd/N`` are relayed through named pipes. What leaves the document's output nodes is
printed as a single-process run prints it, and what the processes log is logged here.
``--store DIR`` checkpoints every process's partition into its own SQLite file in folder
``DIR``; the same command run again after a crash resumes each from its checkpoint. The
event log and the live views are not available across processes yet; they are refused,
named.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from arachne.cli.feeds import Feed, collect_feeds
from arachne.cli.run import has_data, sigterm_interrupts
from arachne.cli.session import CHECKER, attach_feeds, default_target, unfed_inputs
from arachne.cli.writer import Writer
from arachne.distributed.documents import TAP_PREFIX, document_unit, spread
from arachne.distributed.placement import Placement
from arachne.distributed.processes import ClusterError, ProcessCluster
from arachne.model.error_record import ERROR_PORT
from arachne.model.subgraph import Subgraph
from arachne.spec import analyze, read_document

if TYPE_CHECKING:
    from rich.console import Console

    from arachne.cli.run import RunOptions
    from arachne.distributed.ray_cluster import RayCluster

__all__ = ["fed_document", "run_on_hosts"]

PIPE_LOOK: Final = 0.02
"""Seconds between looks for the process that reads a relayed input's named pipe."""

RELAY_CHUNK: Final = 1 << 16
"""The most bytes of a relayed input copied at once."""


def _refused(options: RunOptions) -> list[str]:
    asked = {
        "--record": bool(options.record),
        "--upgrade": options.upgrade,
        "--watch": options.watch is not None,
        "--dashboard": options.dashboard is not None,
        "--top": options.top,
        "--metrics-port": options.metrics_port is not None,
        "--components": bool(options.components),
        "--allow-code": options.allow_code,
        "--lineage": options.lineage is not None,
        "--trace": options.trace,
        "--check-types": options.check_types,
    }
    return [flag for flag, given in asked.items() if given]


def _shards(
    given: list[str], partitions: list[str], nodes: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Read ``--shard NODE=KEY`` options: each node sharded by ``KEY`` over every process."""
    shards: dict[str, dict[str, Any]] = {}
    for text in given:
        node, sep, key = text.partition("=")
        if not sep or not node or not key:
            raise ValueError(f"--shard {text!r}: write NODE=KEY, e.g. --shard totals=symbol")
        if node not in nodes:
            raise ValueError(
                f"--shard {text!r}: no node {node!r}; the document's nodes are "
                f"{', '.join(n for n in nodes if not n.startswith('output-tap-'))}"
            )
        if node in shards:
            raise ValueError(f"--shard {text!r}: node {node!r} is sharded twice; give it once")
        shards[node] = {"key": int(key) if key.isdigit() else key, "owners": partitions}
    return shards


def run_on_hosts(
    path: Path, options: RunOptions, err: Console, stdin: IO[str] | None = None
) -> int:
    """Run the document at ``path`` over ``options.hosts`` workers; return the exit status.

    Raises ``SpecError`` for an invalid document and ``ValueError`` for options that do not
    go with ``--hosts``, before any worker starts.
    """
    refused = _refused(options)
    if refused:
        raise ValueError(
            f"{', '.join(refused)} cannot be combined with --hosts yet: a run across processes "
            "takes values from the document's own sources, --inject and --input, and has no "
            "event log, live views, code components, tracing or type checks so far; run "
            "without --hosts for them"
        )
    store = options.store
    if store is not None and store.exists() and not store.is_dir():
        raise ValueError(
            f"--store {store}: with --hosts, --store names a folder (one SQLite file per "
            "process goes there), and this is a file; give a folder"
        )

    unit = document_unit(path, taps=True)
    relays = _Relays(stdin)
    try:
        return _run(path, options, err, unit, relays)
    finally:
        relays.close()


def _run(path: Path, options: RunOptions, err: Console, unit: Subgraph, relays: _Relays) -> int:
    hosts = options.hosts or 1
    store = options.store
    feeds = _feeds(path, unit, options, err, relays)
    if relays.relayed and store is not None:
        raise ValueError(
            f"--store {store}: a split run fed from standard input (or /dev/fd) cannot be "
            "resumed, its input being gone after a crash; give --input FILE, or run without "
            "--store"
        )
    fed = fed_document(str(path.resolve()), feeds)  # (checks the values before any start)
    placement = _with_feeds(spread(unit, hosts), unit, fed)
    shards = _shards(options.shards, list(placement.partitions), unit.to_graph().nodes)
    # Reading a pipe, each value is flushed as it leaves (a consumer downstream sees it).
    writer = Writer(options.tag, flush=relays.live)
    lost = 0
    gone = threading.Event()  # (standard output was closed: what is printed goes nowhere)
    cluster: ProcessCluster | RayCluster

    def output(node: str, port: str, value: Any) -> None:
        nonlocal lost
        if gone.is_set():
            return
        try:
            writer(node, port, value)
        except ValueError as exc:
            lost += 1
            err.print(f"[yellow]warning:[/] {exc}", highlight=False)
        except BrokenPipeError:  # (| head, say: its reader has what it wanted)
            gone.set()
            err.print("[yellow]warning:[/] standard output was closed: the run stops")
            cluster.close()

    source: dict[str, Any] = {"document": str(path.resolve()), "taps": True}
    if feeds:  # (every process builds the document with the same feeds' nodes)
        kwargs = {"path": str(path.resolve()), "feeds": feeds}
        source = {"builder": "arachne.cli.hosts:fed_document", "kwargs": kwargs}
    common: dict[str, Any] = {
        "on_output": output,
        "shards": shards,
        "store": store,
        "checkpoint_every": options.checkpoint_every or 1.0,
        "fresh": options.fresh,
        # (what the processes' arachne loggers say is logged here, at this command's level)
        "log_level": logging.getLogger("arachne").getEffectiveLevel(),
    }
    if options.ray:
        from arachne.distributed.ray_cluster import RayCluster, ray_module

        try:
            ray_module()
        except ImportError as exc:
            raise ValueError(f"--ray: {exc}") from None
        cluster = RayCluster(source, placement, **common)
    else:
        cluster = ProcessCluster(source, placement, **common)
    started = time.perf_counter()
    relays.start()
    signals: list[int] = []
    try:
        with sigterm_interrupts(signals):  # (SIGTERM stops as Ctrl-C does: outputs flushed)
            reports = cluster.run(timeout=options.timeout)
    except ClusterError as exc:
        if gone.is_set():
            return 1
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        sys.stdout.flush()
        number = signals[0] if signals else signal.SIGINT
        err.print(f"[yellow]interrupted by {signal.Signals(number).name}: the run stopped[/]")
        return 128 + number
    finally:
        sys.stdout.flush()
    failed = relays.failures()
    for message in failed:
        err.print(f"[red]error:[/] {message}", highlight=False)
    if not options.quiet:
        what = "Ray actor" if options.ray else "process"
        _summary(err, reports, time.perf_counter() - started, what)
    return 1 if _said_skips(err, reports, fed) or lost or failed else 0


def _said_skips(err: Console, reports: Mapping[str, Mapping[str, Any]], fed: Subgraph) -> int:
    """Say what the processes skipped, as one process's run says it; return how many."""
    links = fed.to_graph().links.values()
    routed = {link.source.node for link in links if link.source.port == ERROR_PORT}
    unfit = unprinted = failed = 0
    for report in reports.values():
        for node_id, count in report.get("skipped", {}).items():
            if node_id.startswith(CHECKER):
                unfit += count
            elif node_id.startswith(TAP_PREFIX):
                unprinted += count
            elif node_id.split("~")[0] not in routed:  # (a replica, node~owner: its node's)
                failed += count
    said = (
        (unfit, "input line(s) did not fit the port they feed and were left out"),
        (unprinted, "output value(s) had no JSON form and were not printed"),
        (failed, "message(s) failed and went nowhere; connect the nodes' 'error' ports"),
    )
    for count, what in said:
        if count:
            err.print(f"[red]error:[/] {count:,} {what} (see the warnings)", highlight=False)
    return unfit + unprinted + failed


def fed_document(path: str, feeds: list[dict[str, Any]]) -> Subgraph:
    """Build the document at ``path`` with its output taps and the command line's feeds.

    What every process builds (a ``module:function`` builder): the feeds' sources and
    checkers are added as one process adds them (``session.attach_feeds``), so all agree.
    ``ValueError`` names an injected value that does not fit its port.
    """
    unit = document_unit(Path(path), taps=True)
    if feeds:
        made = [
            Feed(f["node"], f.get("port"), f["label"], values=f.get("values"), path=f.get("path"))
            for f in feeds
        ]
        attach_feeds(unit, read_document(Path(path)), made)
    return unit


def _feeds(
    path: Path, unit: Subgraph, options: RunOptions, err: Console, relays: _Relays
) -> list[dict[str, Any]]:
    """Return the feeds ``--inject``, ``--input`` and ``--to`` ask for, as plain data.

    Standard input (``--input -``, or a pipe into a graph with one input node) and inputs
    only this command can open (``/dev/fd/N``, a shell's ``<(...)``) are relayed through
    named pipes (``relays``) to the process of the node each feeds.
    """
    doc = read_document(path)
    inputs = analyze(doc).inputs

    def pick() -> str | None:
        try:
            return default_target(unit, doc, inputs)
        except ValueError:
            return None

    asked = collect_feeds(
        options.injects, options.inputs, options.to, pick, stdin_piped=relays.piped
    )
    if sum(feed.path == "-" for feed in asked) > 1:
        raise ValueError("--input -: give standard input once")
    if relays.piped and asked and not any(f.path == "-" for f in asked) and has_data(relays.stdin):
        err.print(
            "[yellow]note:[/] standard input is not read: values come from --inject or "
            "--input; add --input - to read it as well"
        )
    for port in unfed_inputs(unit, inputs, asked):  # (the run would end at once)
        err.print(
            f"[yellow]note:[/] nothing feeds input node {port.split(':')[0]!r}; give it values "
            f"with --inject {port}=JSON or --input FILE (--to {port})",
            highlight=False,
        )
    return [
        {
            "node": feed.node,
            "port": feed.port,
            "label": feed.label,
            "values": None if feed.values is None else list(feed.values),
            # (read where its source runs: a worker's or an actor's directory may differ)
            "path": None if feed.path is None else relays.where(feed.path),
        }
        for feed in asked
    ]


def _with_feeds(placement: Placement, unit: Subgraph, fed: Subgraph) -> Placement:
    """Return ``placement`` with each node the feeds added placed with the node it feeds."""
    added = set(fed.to_graph().nodes) - set(unit.to_graph().nodes)
    if not added:
        return placement
    graph = fed.to_graph()
    where = {n: part for part, nodes in placement.partitions.items() for n in nodes}
    parts = {part: list(nodes) for part, nodes in placement.partitions.items()}
    for node_id in sorted(added):
        target = node_id
        while target in added:  # (a feed's source, through its checker, to the node it feeds)
            target = graph.links_from(target)[0].target.node
        parts[where[target]].append(node_id)
    return Placement.of(parts)


def _summary(err: Console, reports: dict[str, dict[str, Any]], seconds: float, what: str) -> None:
    many = what if len(reports) == 1 else ("processes" if what == "process" else f"{what}s")
    err.print(f"ran on {len(reports)} {many} in {seconds:.2f} s", highlight=False)
    for name, report in sorted(reports.items(), key=lambda kv: int(kv[0][1:])):
        ran = [n for n in report["nodes"] if not n.startswith(("link_in_", "link_out_"))]
        nodes = ", ".join(ran) or "(nothing)"
        sent = [row for row in report["links"] if row["role"] == "send"]
        frames = sum(row["sent"] for row in sent)
        resent = sum(row["resent"] for row in sent)
        resumed = report.get("resumed")
        since = "" if resumed is None else f"; resumed from checkpoint {resumed}"
        err.print(
            f"  {name}: {nodes}; {len(sent)} link(s) out, {frames} frame(s) sent, {resent} "
            f"resent{since}",
            highlight=False,
        )


class _Relays:
    """The inputs only this command can read, each relayed to a process through a named pipe.

    Standard input, and paths naming one of this process's own descriptors (``/dev/fd/N``,
    which a shell's ``<(...)`` gives): a worker opening the same path would find its own.
    """

    OWN: Final = ("/dev/fd/", "/proc/self/fd/", "/dev/stdin")

    def __init__(self, stdin: IO[str] | None) -> None:
        self.stdin = stdin
        self.piped = stdin is not None and not stdin.isatty()
        self.live = False  # (a pipe feeds the run: what it prints is flushed line by line)
        self._relays: list[_Relay] = []

    @property
    def relayed(self) -> bool:
        """Whether any input is relayed (it cannot be read again after a crash)."""
        return bool(self._relays)

    def where(self, path: str) -> str:
        """Return the path a process reads for input ``path`` (a relay's pipe if needed)."""
        if path == "-":
            stdin = self.stdin
            if stdin is None:
                raise ValueError("--input -: this command has no standard input; give a file")
            relay = _Relay("standard input", lambda: getattr(stdin, "buffer", stdin))
        elif path.startswith(self.OWN):
            relay = _Relay(path, lambda: open(path, "rb"), close=True)  # noqa: SIM115
        else:
            return str(Path(path).resolve())  # (a worker's or an actor's directory may differ)
        self._relays.append(relay)
        self.live = self.live or not Path(path).is_file()
        return relay.path

    def start(self) -> None:
        """Start copying every input into its pipe."""
        for relay in self._relays:
            relay.start()

    def failures(self) -> list[str]:
        """Say which inputs could not be read to their end, and why."""
        return [f"reading {r.name} failed: {r.error}" for r in self._relays if r.error]

    def close(self) -> None:
        """Stop copying and remove the pipes."""
        for relay in self._relays:
            relay.close()


class _Relay:
    """One input copied, as bytes, into a named pipe that a process's feed reads.

    The pipe is made at once (its path told to the processes); :meth:`start` copies what
    arrives in a thread once the reader has opened it, so the pipe's own buffer is the only
    one between them and a slow graph holds this command's reading back. The bytes go as
    they are: the feed decodes and checks each line, as one process's does. :meth:`close`
    stops the copy (the reader gone, it ends on the broken pipe) and removes the pipe; an
    error reading the input is kept in :attr:`error`.
    """

    def __init__(self, name: str, stream: Callable[[], Any], *, close: bool = False) -> None:
        if not hasattr(os, "mkfifo"):  # pragma: no cover  (POSIX has named pipes)
            raise ValueError("--hosts relays this input through a named pipe; give a file")
        self.name = name
        self._stream = stream
        self._close = close
        self._folder = tempfile.mkdtemp(prefix="arachne-input-")
        self.path = str(Path(self._folder) / "input.jsonl")
        os.mkfifo(self.path, 0o600)
        self._done = threading.Event()
        self.error: str | None = None

    def start(self) -> None:
        """Copy the input into the pipe, from a thread."""
        threading.Thread(target=self._copy, name="input-relay", daemon=True).start()

    def _copy(self) -> None:
        fd = None
        while fd is None and not self._done.is_set():
            try:  # (non-blocking: no reader yet is ENXIO, looked at again shortly)
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    self.error = str(exc)
                    return
                self._done.wait(PIPE_LOOK)
        if fd is None:
            return
        os.set_blocking(fd, True)
        try:
            stream = self._stream()
        except OSError as exc:
            self.error = str(exc)
            os.close(fd)
            return
        read = getattr(stream, "read1", stream.read)  # (what has come, not a full chunk)
        try:
            while not self._done.is_set():
                chunk = read(RELAY_CHUNK)
                if not chunk:
                    break
                os.write(fd, chunk if isinstance(chunk, bytes) else chunk.encode("utf-8"))
        except BrokenPipeError:
            pass  # (the feed's process is gone: the run says why)
        except (OSError, ValueError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            os.close(fd)
            if self._close:
                stream.close()

    def close(self) -> None:
        """Stop copying and remove the pipe."""
        self._done.set()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.rmdir(self._folder)
