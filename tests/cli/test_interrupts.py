"""Ctrl-C and --timeout never leave ``arachne run`` waiting without end.

The first Ctrl-C drains, the second cancels, and if the cancel cannot take effect within
``CANCEL_GRACE`` (a node blocked in a call holds the loop) the process exits at once.
"""

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest
from rich.console import Console

from arachne import Input, IterSource, Message, Node, Runtime, Subgraph
from arachne.cli import run as cli_run
from tests.cli.conftest import ROOT, write_document

ARACHNE = str(Path(sys.executable).parent / "arachne")
BOUND = 10.0  # seconds: a bound on a hang, not a timing claim


def said(stream: IO[bytes], words: bytes) -> bool:
    """Read ``stream`` until a line holds ``words``; False if none came within ``BOUND``."""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        line = stream.readline()
        if not line:
            return False
        if words in line:
            return True
    return False


def test_two_ctrl_c_end_a_run_whose_every_value_times_out(tmp_path: Path) -> None:
    """A map expression that loops for ever on every value (stopped by its time limit)."""
    doc = write_document(
        tmp_path / "g.json",
        [
            {
                "id": "spin",
                "component": "arachne.core.map",
                "config": {"expression": "(() => { while (true) {} })()"},
            }
        ],
        [],
    )
    values = "".join(f"{i}\n" for i in range(1000))
    proc = subprocess.Popen(
        [ARACHNE, "run", str(doc), "-q"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stderr is not None
    try:
        proc.stdin.write(values.encode())
        proc.stdin.close()
        assert said(proc.stderr, b"skipped"), "the run never got to the expression"
        proc.send_signal(signal.SIGINT)
        assert said(proc.stderr, b"interrupted"), "the first Ctrl-C was not taken"
        proc.send_signal(signal.SIGINT)
        proc.wait(BOUND)  # without the fix: about 100 s (1,000 values, 0.1 s each)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode != 0


def test_a_cancel_that_cannot_take_effect_ends_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    entered = threading.Event()

    class Blocked(Node):
        inp = Input(int, name="in")

        def on_message(self, port: str, msg: Message) -> None:
            entered.set()
            release.wait(BOUND)  # an inline call blocked in I/O: the loop waits with it

    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        release.set()  # what a real exit would end; here the run may finish

    monkeypatch.setattr(os, "_exit", fake_exit)
    graph = Subgraph()
    graph.add_node(IterSource(range(3), schema=int, name="source"))
    graph.add_node(Blocked(), name="blocked")
    graph.connect(("source", "out"), ("blocked", "in"))
    runtime = Runtime()
    runtime.register(graph)
    execution = runtime.start()
    assert entered.wait(BOUND)
    cli_run.cancel_or_exit(execution, Console(file=io.StringIO()))
    assert exits == [130]
    assert runtime.shutdown(timeout=BOUND)
