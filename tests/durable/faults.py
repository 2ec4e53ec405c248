"""Fault injection: checkpointed runs killed with SIGKILL at random moments, then resumed.

Each case is a command that writes one output file through the exactly-once JSON-lines sink.
It is run once without a store for the reference output. Then, again and again with a fresh
store: started, killed at a random moment (at most ``KILLS_PER_RUN`` times in a row), and
finally left to complete; its output must equal the reference byte for byte (no duplicate,
no gap). Each kill is one point; ``after_checkpoint`` counts the kills that left a committed
checkpoint behind, so the resume really started from the middle.

``uv run python -m tests.durable.faults --points 500`` runs the long version (the test suite
runs 50 points of the Python graph and 10 of the ``arachne run`` document).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
GRAPH = HERE / "crash_graph.py"
KILLS_PER_RUN = 5
BOUND = 120.0  # seconds a run may take before it is taken for hung (a bound, not a claim)

DOCUMENT = """\
arachne: "1.0"
name: durable-orders
nodes:
  - {id: read, component: arachne.io.jsonl-source, config: {path: orders.jsonl}}
  - {id: large, component: arachne.core.filter, config: {predicate: "value.amount > 10"}}
  - {id: total, component: arachne.core.map, config: {expression: "value.amount * value.qty"}}
  - {id: batch, component: arachne.core.accumulator, config: {count: 4}}
  - {id: write, component: arachne.io.jsonl-sink, config: {path: totals.jsonl}}
edges:
  - {source: read:out, target: large:in, capacity: 64}
  - {source: large:out, target: total:in, capacity: 64}
  - {source: total:out, target: batch:in, capacity: 64}
  - {source: batch:out, target: write:in, capacity: 64}
"""


@dataclass
class Report:
    """What a fault-injection session did."""

    points: int = 0
    after_checkpoint: int = 0
    replays: int = 0  # resumed runs replayed from their event log, output compared too
    runs: int = 0
    mismatches: list[str] = field(default_factory=list)


@dataclass
class Case:
    """A command that writes ``output`` in ``folder``, given a store path (or none)."""

    name: str
    folder: Path
    output: Path

    def command(self, store: Path | None) -> list[str]:
        raise NotImplementedError

    def replay_command(self, store: Path) -> list[str] | None:
        """The command that replays the run from its log (``None``: nothing recorded)."""
        return None


@dataclass
class GraphCase(Case):
    """The Python graph of crash_graph.py: fan-in, fusion, a thread-mode node, accumulator."""

    count: int = 5000

    def command(self, store: Path | None) -> list[str]:
        target = str(store) if store is not None else "-"
        return [sys.executable, str(GRAPH), str(self.output), target, str(self.count), "0.02"]


@dataclass
class DocumentCase(Case):
    """``arachne run --store`` on a document: jsonl source, filter, map, accumulator, sink."""

    def command(self, store: Path | None) -> list[str]:
        cli = [sys.executable, "-c", "from arachne.cli.main import main; main()", "run"]
        cli += ["graph.yaml", "-q"]
        if store is not None:
            cli += ["--store", str(store), "--checkpoint-every", "0.02", "--record", "e1"]
        return cli

    def replay_command(self, store: Path) -> list[str] | None:
        cli = [sys.executable, "-c", "from arachne.cli.main import main; main()", "replay"]
        return [*cli, str(store), "-q"]


def graph_case(folder: Path, count: int = 5000) -> GraphCase:
    """Return the Python graph's case, writing into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return GraphCase("graph", folder, folder / "out.jsonl", count)


def document_case(folder: Path, orders: int = 60_000) -> DocumentCase:
    """Return the document's case in ``folder``, with its input file written."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "graph.yaml").write_text(DOCUMENT)
    rng = random.Random(7)
    with (folder / "orders.jsonl").open("w") as file:
        for i in range(orders):
            order = {"id": i, "amount": rng.randint(1, 40), "qty": rng.randint(1, 5)}
            file.write(json.dumps(order) + "\n")
    return DocumentCase("document", folder, folder / "totals.jsonl")


def _run(case: Case, store: Path | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        case.command(store),
        cwd=case.folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _committed(store: Path) -> int:
    """Return the newest committed checkpoint in ``store`` (0: none)."""
    if not store.exists():
        return 0
    with sqlite3.connect(store) as db:
        try:
            row = db.execute("SELECT MAX(id) FROM checkpoints WHERE state = 'committed'").fetchone()
        except sqlite3.OperationalError:  # killed before the schema was written
            return 0
    return int(row[0] or 0)


def inject(case: Case, points: int, seed: int) -> Report:
    """Kill ``case``'s runs at ``points`` random moments; compare every finished output."""
    rng = random.Random(seed)
    started = time.perf_counter()
    reference = _run(case, None)
    _, err = reference.communicate(timeout=BOUND)
    if reference.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed: {err.decode()[-2000:]}")
    span = time.perf_counter() - started
    expected = case.output.read_bytes()
    saved = case.folder / "reference.out"
    shutil.copyfile(case.output, saved)
    report = Report()
    store = case.folder / "run.db"
    while report.points < points:
        report.runs += 1
        for path in (store, Path(f"{store}-wal"), Path(f"{store}-shm"), case.output):
            path.unlink(missing_ok=True)
        kills = 0
        while True:
            proc = _run(case, store)
            if kills < KILLS_PER_RUN and report.points < points:
                time.sleep(rng.uniform(0.0, span))  # a moment in a whole run, start-up included
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.communicate()  # (reaped, its pipe closed)
                    kills += 1
                    report.points += 1
                    if _committed(store):
                        report.after_checkpoint += 1
                    continue
            _, err = proc.communicate(timeout=BOUND)
            if proc.returncode != 0:
                raise RuntimeError(f"a resumed run failed: {err.decode()[-2000:]}")
            break
        if case.output.read_bytes() != expected:
            kept = case.folder / f"mismatch-{report.runs}.out"
            shutil.copyfile(case.output, kept)
            report.mismatches.append(f"run {report.runs} ({kills} kills): {kept} != {saved}")
            continue
        replay = case.replay_command(store)
        if replay is not None:  # the log holds each recorded message once, however interrupted
            case.output.unlink()
            subprocess.run(replay, cwd=case.folder, check=True, capture_output=True, timeout=BOUND)
            report.replays += 1
            if case.output.read_bytes() != expected:
                kept = case.folder / f"replay-mismatch-{report.runs}.out"
                shutil.copyfile(case.output, kept)
                report.mismatches.append(f"replay of run {report.runs}: {kept} != {saved}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=500, help="kills per case (500)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--folder", type=Path, default=Path("faults-out"))
    options = parser.parse_args()
    failed = False
    for make in (graph_case, document_case):
        case = make(options.folder / make.__name__)
        began = time.perf_counter()
        report = inject(case, options.points, options.seed)
        took = time.perf_counter() - began
        print(
            f"{case.name}: {report.points} kills in {report.runs} runs "
            f"({report.after_checkpoint} after a checkpoint), {report.replays} replayed, "
            f"{len(report.mismatches)} outputs differed, {took:.0f} s"
        )
        for line in report.mismatches:
            print("  " + line)
        failed = failed or bool(report.mismatches)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
