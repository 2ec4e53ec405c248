"""``arachne run DOC --hosts N``: a graph document split over N worker processes (or Ray actors).

The document's nodes are spread over partitions ``h0`` to ``h(N-1)`` in the order of its
topology (``arachne.distributed.documents.spread``); each runs in a worker process of its own
and the links that cross become TCP mesh links (with ``--ray``, each runs in a Ray actor and
the links go through Ray). ``--shard NODE=KEY`` runs a node as one replica per process
instead, each item going to the replica that owns its key. What leaves the document's
output nodes is printed as a single-process run prints it. ``--store DIR`` checkpoints every
process's partition into its own SQLite file in folder ``DIR``; the same command run again
after a crash resumes each from its checkpoint. Feeds (``--input``, ``--inject``), the
event log and the live views are not available across processes yet; they are refused,
named.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arachne.cli.writer import Writer
from arachne.distributed.documents import document_unit, spread
from arachne.distributed.processes import ClusterError, ProcessCluster

if TYPE_CHECKING:
    from rich.console import Console

    from arachne.cli.run import RunOptions
    from arachne.distributed.ray_cluster import RayCluster

__all__ = ["run_on_hosts"]


def _refused(options: RunOptions) -> list[str]:
    asked = {
        "--input": bool(options.inputs),
        "--inject": bool(options.injects),
        "--to": options.to is not None,
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


def run_on_hosts(path: Path, options: RunOptions, err: Console) -> int:
    """Run the document at ``path`` over ``options.hosts`` workers; return the exit status.

    Raises ``SpecError`` for an invalid document and ``ValueError`` for options that do not
    go with ``--hosts``, before any worker starts.
    """
    hosts = options.hosts or 1
    refused = _refused(options)
    if refused:
        raise ValueError(
            f"{', '.join(refused)} cannot be combined with --hosts yet: a run across processes "
            "takes its values from the document's own sources and has no event log, live "
            "views, code components, tracing or type checks so far; run without --hosts for them"
        )
    store = options.store
    if store is not None and store.exists() and not store.is_dir():
        raise ValueError(
            f"--store {store}: with --hosts, --store names a folder (one SQLite file per "
            "process goes there), and this is a file; give a folder"
        )

    unit = document_unit(path, taps=True)
    placement = spread(unit, hosts)
    shards = _shards(options.shards, list(placement.partitions), unit.to_graph().nodes)
    writer = Writer(options.tag, flush=True)
    lost = 0

    def output(node: str, port: str, value: Any) -> None:
        nonlocal lost
        try:
            writer(node, port, value)
        except ValueError as exc:
            lost += 1
            err.print(f"[yellow]warning:[/] {exc}", highlight=False)

    source = {"document": str(path.resolve()), "taps": True}
    common: dict[str, Any] = {
        "on_output": output,
        "shards": shards,
        "store": store,
        "checkpoint_every": options.checkpoint_every or 1.0,
        "fresh": options.fresh,
        # (what the processes' arachne loggers say is logged here, at this command's level)
        "log_level": logging.getLogger("arachne").getEffectiveLevel(),
    }
    cluster: ProcessCluster | RayCluster
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
    try:
        reports = cluster.run(timeout=options.timeout)
    except ClusterError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return 1
    if not options.quiet:
        what = "Ray actor" if options.ray else "process"
        _summary(err, reports, time.perf_counter() - started, what)
    return 1 if lost else 0


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
