"""A partition's worker process: what ``ProcessCluster`` starts, one per partition.

``python -m arachne.distributed.worker`` reads its orders from standard input (one JSON
object: what to build, the placement, its partition, the cluster's token, the link options),
listens for its peers, says ``{"listening": port}``, reads the peers' table, and runs its
partition; while it runs it answers ``{"query": n}`` lines with its host's health, and it
ends with ``{"done": report}`` or ``{"failed": "..."}``. What its nodes print goes to standard
error, so it never mixes with these lines. Given a ``log_level``, what the ``arachne``
loggers say at it goes to the coordinator as ``{"log": {...}}`` lines, logged there again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from arachne.distributed.documents import OutputTap
from arachne.distributed.host import MeshHost
from arachne.distributed.processes import move_op, open_partition
from arachne.distributed.remote_logs import forward
from arachne.distributed.tcp import TcpTransport
from arachne.runtime.state import ExecutionState

__all__ = ["main"]

log = logging.getLogger("arachne.distributed")


class _Answering:
    """The worker's end of the pipes: writes one line at a time, answers queries on the loop."""

    def __init__(self, stdout: IO[str], host: MeshHost, manifest: str) -> None:
        self._stdout = stdout
        self._lock = threading.Lock()
        self._host = host
        self._manifest = manifest
        self._loop = asyncio.get_running_loop()
        self._printed: list[str] = []  # (lines of values printed in this turn of the loop)

    def write(self, message: Mapping[str, Any]) -> None:
        line = json.dumps(message) + "\n"
        with self._lock:
            self._stdout.write(line)
            self._stdout.flush()

    def health(self) -> dict[str, Any]:
        """Return the host's health, its times on the wall clock, with the manifest hash."""
        return {"manifest": self._manifest, **self._host.health(wall=True)}

    def listen(
        self,
        stdin: IO[str],
        orphaned: Callable[[], None],
        new_peers: Callable[[Mapping[str, Any]], None],
        move: Callable[[Mapping[str, Any]], None],
    ) -> None:
        """Answer each ``{"query": n}`` line until the pipe closes (a thread of its own).

        A ``{"peers": {...}}`` line (a peer restarted) goes to ``new_peers`` on the loop, a
        ``{"move": {...}}`` line (a step of an ownership move) to ``move``.
        The pipe closes when the coordinator is gone (it died, or it closed the cluster):
        ``orphaned`` is then called on the loop, so no worker outlives its coordinator.
        """
        with contextlib.suppress(ValueError, OSError):
            for line in stdin:
                try:
                    message = json.loads(line)
                    asked = message.get("query")
                    peers = message.get("peers")
                    step = message.get("move")
                except (ValueError, AttributeError):
                    continue
                if isinstance(peers, dict):
                    with contextlib.suppress(RuntimeError):
                        self._loop.call_soon_threadsafe(new_peers, peers)
                if isinstance(step, dict):
                    with contextlib.suppress(RuntimeError):
                        self._loop.call_soon_threadsafe(move, step)
                if asked is not None:
                    with contextlib.suppress(RuntimeError):  # (the loop closed: run over)
                        self._loop.call_soon_threadsafe(self._answer, asked)
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(orphaned)

    def _answer(self, asked: object) -> None:
        self.write({"answer": asked, "health": self.health()})

    def output(self, node: str, port: str, value: Any) -> None:
        """Send a value an output tap took to the coordinator (``ValueError``: no JSON form).

        The lines of one turn of the loop leave together, flushed at its end (or by
        :meth:`flush`): one write for many values.
        """
        try:
            line = json.dumps({"print": [node, port, value]}, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"a value from {node}:{port} has no JSON form ({exc}); emit JSON data"
            ) from None
        with self._lock:
            self._printed.append(line)
            if len(self._printed) == 1:
                self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the values printed and not yet written (a tap's checkpoint calls it too)."""
        with self._lock:
            printed, self._printed = self._printed, []
            if printed:
                self._stdout.write("\n".join(printed) + "\n")
                self._stdout.flush()


async def _work(orders: Mapping[str, Any], stdin: IO[str], stdout: IO[str]) -> dict[str, Any]:
    name = orders["partition"]
    transport = TcpTransport(orders["token"])
    part = open_partition(orders, transport)
    host = part.host
    pipes = _Answering(stdout, host, part.manifest)
    for node in part.instances.values():
        if isinstance(node, OutputTap):
            node.sink, node.flush = pipes.output, pipes.flush
    level = orders.get("log_level")
    unforward = None
    if isinstance(level, str | int):  # (the coordinator logs what the arachne loggers say)
        unforward = forward(lambda data: pipes.write({"log": data}), level)
    port = await transport.listen()
    pipes.write({"listening": port})
    pipes.write({"incarnation": host.epoch})
    line = await asyncio.get_running_loop().run_in_executor(None, stdin.readline)
    peers = json.loads(line)["peers"]
    transport.peers = {peer: (address, int(p)) for peer, (address, p) in peers.items()}
    execution = part.execution()

    def orphaned() -> None:
        if unforward is not None:  # (nothing reads the pipe now: say it on stderr)
            unforward()
        if not execution.done:
            log.warning("partition %s: its coordinator is gone; the run is cancelled", name)
            execution.request_stop(drain=False)

    def new_peers(peers: Mapping[str, Any]) -> None:  # (a peer restarted on a new port)
        transport.peers = {peer: (address, int(p)) for peer, (address, p) in peers.items()}

    def move(step: Mapping[str, Any]) -> None:  # (a step of an ownership move, on the loop)
        try:
            answer = {"moved": step.get("id"), "result": move_op(step, part.instances, execution)}
            json.dumps(answer)  # (JSON data only; said here, not lost in the write)
        except Exception as exc:  # (the coordinator raises it, naming the step)
            answer = {"moved": step.get("id"), "error": f"{type(exc).__name__}: {exc}"}
        pipes.write(answer)

    listening = (stdin, orphaned, new_peers, move)
    threading.Thread(target=pipes.listen, args=listening, name="queries", daemon=True).start()
    began = time.perf_counter()
    host.start()
    try:
        await execution.run()
        if execution.state is ExecutionState.COMPLETED:
            host.completed()
            if host.checkpointed or host.lends:  # (a receiver may ask again: items, payloads)
                await host.settled()
    finally:
        with contextlib.suppress(OSError, ValueError):  # (the coordinator may be gone)
            pipes.flush()
        host.send_replies()
        host.close()
        await transport.close()
        part.close()
    return part.report(execution, time.perf_counter() - began)


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
