"""Run the benchmark matrix, each case in its own process, and print the table.

``uv run --group bench python -m benchmarks.run [--quick] [--repeat N] [--workloads a,b]
[--impls x,y] [--json PATH]``. The baseline (``loop``) always runs, since every ratio is
taken against it in the same run. Exits 1 if any case gave a wrong result or crashed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.impls import BASELINE, IMPLS
from benchmarks.report import format_table, machine_line, summarize
from benchmarks.snapshot import Snapshot, fingerprint, open_snapshot
from benchmarks.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent


def _names(value: str, known: dict[str, Any], what: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in names if v not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repetition (CI)")
    parser.add_argument("--repeat", type=int, help="repetitions per case (default 3, quick 1)")
    parser.add_argument(
        "--workloads",
        type=lambda v: _names(v, WORKLOADS, "workload"),
        default=list(WORKLOADS),
        help=f"comma-separated subset of: {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--impls",
        type=lambda v: _names(v, IMPLS, "implementation"),
        default=list(IMPLS),
        help=f"comma-separated subset of: {', '.join(IMPLS)} ({BASELINE} is always added)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="save raw and summary results")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds before a case counts as failed"
    )
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if BASELINE not in args.impls:
        args.impls.insert(0, BASELINE)
    return args


def run_one(workload: str, impl: str, n: int, snap: Snapshot, timeout: float) -> dict[str, Any]:
    """Run one case in a fresh interpreter and return its JSON record (a failed one if it broke)."""
    cmd = [sys.executable, "-m", "benchmarks.case", workload, impl, str(n)]
    failed: dict[str, Any] = {"workload": workload, "impl": impl, "n": n, "ok": False}
    try:
        proc = subprocess.run(  # noqa: S603  # our own interpreter and module, no shell
            cmd, cwd=ROOT, env=snap.env_for(impl), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return failed | {"note": f"timed out after {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    try:
        record: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        record = {}
    if proc.returncode != 0 or not record.get("ok"):
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        return failed | record | {"ok": False, "note": tail[0][:200]}
    return record


def run_matrix(args: argparse.Namespace, snap: Snapshot) -> list[dict[str, Any]]:
    """Run every case ``args.repeat`` times and return the records, reporting progress."""
    records: list[dict[str, Any]] = []
    # Repetitions outermost, so drift over the run spreads over every case alike.
    for rep in range(args.repeat):
        for workload in args.workloads:
            spec = WORKLOADS[workload]
            n = spec.quick_size if args.quick else spec.size
            for impl in args.impls:
                record = run_one(workload, impl, n, snap, args.timeout)
                record["repeat"] = rep
                records.append(record)
                status = "ok" if record["ok"] else f"FAILED: {record.get('note', '')}"
                elapsed = record.get("elapsed_s")
                took = f"{elapsed:.3f} s" if elapsed is not None else "-"
                print(
                    f"  [{rep + 1}/{args.repeat}] {workload:<15} {impl:<16} n={n:<9,} "
                    f"{took:>10}  {status}",
                    file=sys.stderr,
                    flush=True,
                )
    return records


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_line()
    mode = "quick" if args.quick else "full"
    started = time.perf_counter()
    with open_snapshot(ROOT) as snap:
        source = snap.describe()
        print(machine, f"arachne: {source}", sep="\n")
        print(f"mode: {mode}, repetitions: {args.repeat}, median reported", flush=True)
        records = run_matrix(args, snap)
    rows = summarize(records)
    print()
    print(format_table(rows))
    print(
        f"\nratios: each figure divided by the '{BASELINE}' figure of the same workload, this run"
    )
    print(f"total wall time: {time.perf_counter() - started:.1f} s")
    if fingerprint(ROOT / "src") != snap.hash:
        print(f"note: src/ changed during the run; every case imported the copy {snap.hash}")
    if args.json is not None:
        payload = {"machine": machine, "source": source, "mode": mode, "repeat": args.repeat}
        payload |= {"runs": records, "summary": rows}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"raw results: {args.json}")
    failures = [r for r in rows if not r["ok"]]
    for row in failures:
        print(f"WRONG OR FAILED: {row['workload']}/{row['impl']}: {row['note']}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
