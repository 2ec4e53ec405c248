"""A graph run partitioned across processes on this machine, joined by TCP mesh links.

:class:`ProcessCluster` is the coordinator: it starts one worker process per partition
(``python -m arachne.distributed.processes``), tells each what to build, collects the port
each listens on, hands every worker the table of peers, and waits for them to finish. The
graph is built in every worker from the same source: a ``module:function`` that returns a
``Subgraph`` (called with ``kwargs``), or a graph document. Every worker splits it by the same
placement, so they agree on the channels without being told.

Between coordinator and worker, one JSON object per line: the worker's orders on its
standard input (with the cluster's token, which never appears on a command line), then the
peers' table; on its standard output ``{"listening": port}`` and finally ``{"done": ...}`` with
its links' counters, or ``{"failed": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from arachne.distributed.channels import LinkOptions
from arachne.distributed.host import MeshHost
from arachne.distributed.placement import Placement, partition_graph, plan
from arachne.distributed.tcp import TcpTransport
from arachne.model.subgraph import Subgraph
from arachne.runtime.execution import Execution

__all__ = ["ClusterError", "ProcessCluster", "build_unit"]

START_TIMEOUT = 60.0
"""Seconds a worker may take to start listening."""


class ClusterError(RuntimeError):
    """A worker could not start, failed, or ended without saying how."""


def build_unit(source: Mapping[str, Any]) -> Subgraph:
    """Build the graph ``source`` names.

    ``{"builder": "pkg.mod:fn", "kwargs": {...}}`` calls a function that returns a
    ``Subgraph``; ``{"document": "path.yaml"}`` builds a graph document.
    """
    if "document" in source:
        from arachne.components.registry import Registry
        from arachne.spec import build, read_document

        return build(read_document(Path(source["document"])), Registry.default())
    target = source.get("builder")
    if not isinstance(target, str) or ":" not in target:
        raise ValueError(f"builder must be 'module:function' returning a Subgraph, got {target!r}")
    module_name, _, function = target.partition(":")
    made = getattr(importlib.import_module(module_name), function)(**source.get("kwargs", {}))
    if not isinstance(made, Subgraph):
        raise TypeError(f"{target} returned {type(made).__name__}, not a Subgraph")
    return made


class ProcessCluster:
    """Run a graph split by ``placement`` in one worker process per partition.

    ``source`` says how every worker builds the graph (see :func:`build_unit`); ``options``
    sets how links frame and pace. :meth:`run` returns each partition's report.
    """

    def __init__(
        self,
        source: Mapping[str, Any],
        placement: Placement | Mapping[str, Sequence[str]],
        *,
        options: LinkOptions | None = None,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(placement, Placement):
            placement = Placement.of(placement)
        self.placement = placement
        self.source = dict(source)
        plan(build_unit(self.source).to_graph(), placement)  # refused here, not in a worker
        self.options = options if options is not None else LinkOptions()
        self.python = python
        self.env = {**os.environ, **(env or {})}
        self.token = secrets.token_hex(16)
        self.ports: dict[str, int] = {}

    def run(self, timeout: float | None = None) -> dict[str, dict[str, Any]]:
        """Start the workers, run the graph to its end, return each partition's report."""
        names = list(self.placement.partitions)
        procs: dict[str, subprocess.Popen[str]] = {}
        try:
            for name in names:
                proc = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
                    [self.python, "-m", "arachne.distributed.processes"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env=self.env,
                )
                procs[name] = proc
                orders = {
                    "source": self.source,
                    "placement": {k: list(v) for k, v in self.placement.partitions.items()},
                    "default": self.placement.default,
                    "partition": name,
                    "token": self.token,
                    "options": asdict(self.options),
                }
                _say(proc, orders, name)
            for name, proc in procs.items():
                self.ports[name] = int(_hear(proc, name, "listening"))
            peers = {name: ["127.0.0.1", port] for name, port in self.ports.items()}
            for name, proc in procs.items():
                _say(proc, {"peers": peers}, name)
            deadline = None if timeout is None else time.monotonic() + timeout
            reports = {}
            for name, proc in procs.items():
                reports[name] = _ended(proc, name, deadline)
            return reports
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                for stream in (proc.stdin, proc.stdout):
                    if stream is not None:
                        with contextlib.suppress(OSError):  # (a pipe the worker broke)
                            stream.close()


def _say(proc: subprocess.Popen[str], message: Mapping[str, Any], name: str) -> None:
    if proc.stdin is None:
        raise ClusterError(f"worker {name!r} has no pipe for its orders")
    try:
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
    except (BrokenPipeError, ValueError):
        raise ClusterError(
            f"worker {name!r} ended before it took its orders (exit {proc.wait()})"
        ) from None


def _hear(proc: subprocess.Popen[str], name: str, key: str) -> Any:
    if proc.stdout is None:
        raise ClusterError(f"worker {name!r} has no pipe to answer on")
    line = proc.stdout.readline()
    if not line:
        raise ClusterError(f"worker {name!r} ended before it said {key!r} (exit {proc.wait()})")
    message = json.loads(line)
    if "failed" in message:
        raise ClusterError(f"worker {name!r} failed: {message['failed']}")
    if key not in message:
        raise ClusterError(f"worker {name!r} said {line.strip()!r}, expected {key!r}")
    return message[key]


def _ended(proc: subprocess.Popen[str], name: str, deadline: float | None) -> dict[str, Any]:
    wait = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        raise ClusterError(f"worker {name!r} did not finish in time") from None
    report: dict[str, Any] = _hear(proc, name, "done")
    return report


# -- the worker ----------------------------------------------------------------------------------


async def _work(orders: Mapping[str, Any], stdin: IO[str], stdout: IO[str]) -> dict[str, Any]:
    name = orders["partition"]
    placement = Placement.of(orders["placement"], default=orders.get("default"))
    sub = build_unit(orders["source"])
    split = plan(sub.to_graph(), placement)
    transport = TcpTransport(orders["token"])
    options = LinkOptions(**orders["options"])
    host = MeshHost(name, transport, options=options)
    graph, instances = partition_graph(split, name, sub.instances(), host)
    port = await transport.listen()
    stdout.write(json.dumps({"listening": port}) + "\n")
    stdout.flush()
    line = await asyncio.get_running_loop().run_in_executor(None, stdin.readline)
    peers = json.loads(line)["peers"]
    transport.peers = {peer: (address, int(p)) for peer, (address, p) in peers.items()}
    execution = Execution(graph, instances, execution_id=name)
    began = time.perf_counter()
    try:
        await execution.run()
    finally:
        host.send_replies()
        await transport.close()
    return {
        "seconds": time.perf_counter() - began,
        "links": host.links(),
        "nodes": {nid: s.emitted for nid, s in execution.stats().nodes.items()},
    }


def main() -> int:
    """Run one partition as the coordinator's orders (on standard input) say."""
    stdout = sys.stdout
    sys.stdout = sys.stderr  # what nodes print must not mix with the coordinator's protocol
    try:
        orders = json.loads(sys.stdin.readline())
        report = asyncio.run(_work(orders, sys.stdin, stdout))
    except Exception as exc:  # (reported to the coordinator, which raises it)
        stdout.write(json.dumps({"failed": f"{type(exc).__name__}: {exc}"}) + "\n")
        stdout.flush()
        return 1
    stdout.write(json.dumps({"done": report}) + "\n")
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
