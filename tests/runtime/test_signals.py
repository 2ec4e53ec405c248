"""SIGINT/SIGTERM stop a command-line run gracefully; a second signal cancels it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys
    from arachne import Input, Node, Output, Runtime, Subgraph

    class Forever(Node):
        out = Output(int)
        def __init__(self):
            self.i = 0
        def on_tick(self):
            self.emit("out", self.i)
            self.i += 1

    class Sink(Node):
        inp = Input(int, name="in")
        def __init__(self):
            self.n = 0
        def on_message(self, port, msg):
            self.n += 1
            if self.n == 1000:
                print("ready", flush=True)
        def on_finish(self):
            print("finished", flush=True)
        def on_stop(self):
            print("stopped", flush=True)

    g = Subgraph()
    g.add_node(Forever())
    g.add_node(Sink())
    g.connect(("forever", "out"), ("sink", "in"), capacity=8)
    rt = Runtime()
    rt.register(g)
    rt.run()
    print("state", rt.execution.state.value, flush=True)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_run_gracefully(signum: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out.split() == ["finished", "stopped", "state", "completed"]
