"""A seed's trace is the same in another process, whatever its string-hash seed.

Replaying a failure printed by one process (`arachne sim` in CI) happens in another (at a
desk), where Python hashes strings with another seed. Each of 8 interpreters with a different
``PYTHONHASHSEED`` simulates the same seeds of two graphs (thread-mode calls, retries, crashes
and dead letters) and prints the trace hashes: all must print the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
from arachne.sim import simulate
from tests.sim.test_scenarios import letters_graph
from tests.sim.test_simulate import fan

for seed in range(3):
    print(simulate(fan, seed).trace_hash)
    crashed = simulate(letters_graph, seed, faults=0.05, crashes=True, mode="safety")
    print(crashed.trace_hash, crashed.coverage.fired["node.crash"])
"""


def traces(hash_seed: int) -> str:
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(  # (this interpreter, a fixed program)
        [sys.executable, "-c", PROGRAM],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_every_process_gives_the_same_traces_whatever_its_hash_seed() -> None:
    with ThreadPoolExecutor(2) as pool:
        printed = list(pool.map(traces, range(8)))
    assert len(printed[0].splitlines()) == 6
    assert all(output == printed[0] for output in printed), printed
