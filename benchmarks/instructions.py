"""Instructions per message, counted by valgrind's callgrind: the same on every run.

``uv run --group bench python -m benchmarks.instructions [--workload W] IMPL [IMPL ...]``

Timing on a shared machine moves by tens of percent between repetitions; a difference of a
few percent (what the event bus's cached checks cost, say) cannot be read from it. Counted
instructions can: each implementation runs its case twice under callgrind, with a small and a
large message count, and the difference divided by the difference in messages is what one
message costs, start-up and imports excluded. The graphs run on a fake clock, so the chunk
sizes the scheduler picks do not follow valgrind's slowdown. Instructions are not time (cache
misses, allocation), but for the same code paths they compare like for like.

Needs valgrind (``apt install valgrind``); not run by ``.ci/run``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.impls import IMPLS
from benchmarks.impls.arachne_graph import FAKE_CLOCK_ENV
from benchmarks.snapshot import Snapshot, open_snapshot
from benchmarks.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
COLLECTED = re.compile(r"Collected : (\d+)")


def count(workload: str, impl: str, n: int, snap: Snapshot) -> int:
    """Return the instructions one run of the case executes (whole process)."""
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.case",
        workload,
        impl,
        str(n),
    ]
    env = snap.env_for(impl) | {FAKE_CLOCK_ENV: "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    found = COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or found is None:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise SystemExit(f"{workload}/{impl} failed under valgrind: {tail[0]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("impls", nargs="+", choices=list(IMPLS), metavar="IMPL")
    parser.add_argument("--workload", default="pipeline", choices=list(WORKLOADS))
    parser.add_argument("--small", type=int, default=20_000, help="messages in the small run")
    parser.add_argument("--large", type=int, default=120_000, help="messages in the large run")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt install valgrind)")
    if args.large <= args.small:
        parser.error("--large must be more than --small")
    rows: list[tuple[str, float]] = []
    with open_snapshot(ROOT) as snap:
        print(f"arachne: {snap.describe()}")
        for impl in args.impls:
            small = count(args.workload, impl, args.small, snap)
            large = count(args.workload, impl, args.large, snap)
            rows.append((impl, (large - small) / (args.large - args.small)))
    first = rows[0][1]
    print(f"\n{args.workload}: instructions per message ({args.small:,} and {args.large:,})")
    for impl, per in rows:
        print(f"  {impl:<24} {per:>10,.0f}   x{per / first:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
