"""What observability costs: pipeline throughput with metrics off, on, and on under a scrape.

``uv run python -m benchmarks.observability [--quick] [--check] [--json PATH]
[--method runs|slices|both] [--seconds S] [--repeat R] [--slice S] [--rounds R]``

The pipeline workload (``source -> double -> keep -> inc -> sink``, ``workloads.py``) in two
styles, since what metrics cost per message differs between them:

- **functions**: ``benchmarks.impls.arachne_graph``'s ``@node`` functions under
  ``Runtime(fusion=False)``, so every hop is a real edge that latency probes can sample;
- **classes**: ``benchmarks.impls.arachne_classes``'s ``Node`` subclasses (``on_message``
  per message, the sink adding item by item) under ``Runtime()``'s defaults.

Each in three configurations, all in this one process:

- **off**: ``Runtime(metrics=False)``, the baseline (the event bus is there, nobody listens);
- **on**: ``metrics=True`` (the default): every activation timed, latency sampled by probes
  into HDR histograms, the bus there with no subscriber;
- **scraped**: ``metrics=True`` and ``serve_metrics(runtime, 0)``, and a GET of
  ``http://127.0.0.1:PORT/metrics`` (``urllib``, from another thread than the execution's)
  every ``--scrape-every`` seconds (1 s) of the run. Each scrape reads ``Execution.stats()``
  on the execution's loop between two activations.

Two ways to interleave them, both run by default (``--method``):

- **runs**: whole runs of ``runtime.run()`` over a source of N ints, N sized at the start (from
  a warm-up with metrics off) so that a run with metrics off takes ``--seconds`` (6 s; quick
  2 s); repetitions interleaved (off, on, scraped, off, on, scraped, ...), ``--repeat`` of
  each (5; quick 1). Timed: ``runtime.run()`` alone. Each run's sum and count are checked.
- **slices**: the three configurations run side by side, each on its own runtime's loop
  thread (``runtime.start()``), and take turns: one is resumed for ``--slice`` seconds
  (0.25 s) while the other two are paused, and its sink's count is read at both ends of the
  slice (``Tally.count``, divided by the share of messages the filter keeps). ``--rounds``
  slices each (80; quick 12), the order rotated every round; the scraped one is scraped once
  per ``--scrape-every`` seconds of its own running time. Slices are summed into units of one
  scrape period each (4 slices), so every unit of the scraped one holds one scrape and the
  three sums of a unit span the same seconds of the machine.

Each row is a configuration's median msgs/s over its runs (or units); ``vs off`` divides it by
the baseline's median; ``paired`` is the median of each repetition's (or unit's) own ratio to
the baseline measured beside it, the figure the verdict uses: cost = 1 - paired, against the
budgets of the issue (metrics, latency sampling and the bus with no subscriber: at most 5%; with
a scrape every second: at most 10%). ``95% interval`` is a distribution-free confidence interval
of that median (from the ranks of the paired ratios); a verdict ending in ``?`` has the budget
inside it: the run could not tell. ``others`` is the CPU time other processes used, per second
of the run (``/proc/stat``). ``--check`` exits 1 when a median cost is over its budget in any
table; without it the run only reports.

Timing cannot resolve a few percent on every machine: on a 2-core virtual machine a fixed
pure-Python loop took 75 to 160 ms from one second to the next with nothing else running
(``others`` 0), and single slices moved by 20-40%. There, read the interval, or count
instructions and cache misses under callgrind (``benchmarks/instructions.py`` runs on a fake
clock, on which the probes, one per node per millisecond, hardly fire).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import arachne
from arachne import IterSource, Runtime, Subgraph, node
from arachne.observability.prometheus import serve_metrics
from arachne.runtime import Execution, ExecutionState
from benchmarks.impls import arachne_classes
from benchmarks.impls.arachne_graph import _chain, _mapper
from benchmarks.report import machine_line
from benchmarks.snapshot import fingerprint, git_head
from benchmarks.workloads import WORKLOADS, Tally, double, inc, keep

CONFIGS = ("off", "on", "scraped")
"""In this order within a repetition; ``off`` is the baseline of every ratio."""

BUDGETS = {"on": 0.05, "scraped": 0.10}
"""Largest share of the baseline's throughput each configuration may cost (the issue's goals)."""

WAIT = 30.0
"""Seconds before a scrape, a state change or a stop counts as failed."""

ENDLESS = 10**15
"""Source length in the slices method: more than any run reaches; the run is cancelled."""

_SHARE = 3000
KEPT = WORKLOADS["pipeline"].expected(_SHARE)[1] / _SHARE
"""Share of the source's messages that reach the sink (2/3: the filter drops x % 3 == 0).

The slices method counts at the sink (``Tally.count``, a plain int read between two of its
calls) and divides by this, so both methods report messages from the source per second; what
the edges hold at either end of a slice (3 x 1024 at most) is under 1% of a slice, either way.
"""

Build = Callable[[int], tuple[Subgraph, Tally, dict[str, Any]]]


def functions_pipeline(n: int) -> tuple[Subgraph, Tally, dict[str, Any]]:
    """``arachne_graph``'s pipeline: ``@node`` maps, a filter and a batch sink; no fusion."""
    tally = Tally()
    g = Subgraph()
    _chain(
        g,
        IterSource(range(n), name="source"),
        _mapper(double, "double"),
        node(keep, name="keep", filter=True)(),
        _mapper(inc, "inc"),
        node(tally.add_all, name="sink", batch=True)(),
    )
    return g, tally, {"fusion": False}


def classes_pipeline(n: int) -> tuple[Subgraph, Tally, dict[str, Any]]:
    """``arachne_classes``'s pipeline: one ``Node`` subclass per stage, ``Runtime()``'s defaults."""
    tally = Tally()
    g = Subgraph()
    _chain(
        g,
        IterSource(range(n), name="source"),
        arachne_classes.Double(name="double"),
        arachne_classes.Keep(name="keep"),
        arachne_classes.Inc(name="inc"),
        arachne_classes.Sink(tally.add),
    )
    return g, tally, {}


PIPELINES: dict[str, Build] = {"functions": functions_pipeline, "classes": classes_pipeline}


def _busy_seconds() -> float | None:
    """Return the CPU seconds every process has used so far (``/proc/stat``), or ``None``."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Wall time, this process's CPU time and other processes' CPU time over a span."""

    def __init__(self) -> None:
        self.wall, self.cpu, self.busy = time.perf_counter(), time.process_time(), _busy_seconds()

    def read(self) -> tuple[float, float, float | None]:
        """Return (wall seconds, our CPU seconds, others' CPU seconds per wall second)."""
        wall = time.perf_counter() - self.wall
        cpu = time.process_time() - self.cpu
        busy = _busy_seconds()
        if busy is None or self.busy is None or wall <= 0:
            return wall, cpu, None
        return wall, cpu, max(0.0, busy - self.busy - cpu) / wall


def scrape(url: str) -> tuple[float, int]:
    """GET ``url``; return the seconds it took and the size of the body."""
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=WAIT) as response:  # noqa: S310  # our own server
        body = response.read()
    return time.perf_counter() - began, len(body)


class Scraper:
    """Scrapes ``url`` every ``period`` seconds from a thread of its own until :meth:`stop`.

    The first scrape comes one period after the start, then on a fixed schedule (a slow
    scrape delays the next one, never adds one).
    """

    def __init__(self, url: str, period: float) -> None:
        self.url, self.period = url, period
        self.seconds: list[float] = []
        self.sizes: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scraper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(WAIT)

    def _loop(self) -> None:
        due = time.perf_counter() + self.period
        while not self._stop.wait(max(0.0, due - time.perf_counter())):
            try:
                seconds, size = scrape(self.url)
            except OSError as exc:
                self.errors.append(repr(exc))
            else:
                self.seconds.append(seconds)
                self.sizes.append(size)
            due = max(due + self.period, time.perf_counter())


@dataclass
class Record:
    """One measured run (method ``runs``) or slice (method ``slices``)."""

    method: str
    pipeline: str
    config: str
    repetition: int
    messages: int
    elapsed_s: float
    cpu_s: float
    others: float | None
    msgs_per_s: float
    ok: bool = True
    scrape_ms: list[float] = field(default_factory=list)
    scrape_bytes: int = 0
    errors: list[str] = field(default_factory=list)


def _check_timed(runtime: Runtime, config: str, record: Record) -> None:
    """Fail ``record`` unless the sink's busy time reads as ``config`` says metrics are."""
    timed = runtime.stats().nodes["sink"].busy_seconds > 0
    if timed != (config != "off"):
        record.ok = False
        record.errors.append(f"metrics={config != 'off'} but the sink's busy time says {timed}")


# -- method runs: whole runs, one after another ------------------------------------------------


def run_once(pipeline: str, config: str, n: int, repetition: int, scrape_every: float) -> Record:
    """Build the pipeline, run it once to the end in ``config``, return what was measured."""
    graph, tally, options = PIPELINES[pipeline](n)
    runtime = Runtime(metrics=config != "off", **options)
    runtime.register(graph)
    scraper: Scraper | None = None
    server = None
    if config == "scraped":
        server, _ = serve_metrics(runtime, 0)
        scraper = Scraper(f"http://127.0.0.1:{server.server_port}/metrics", scrape_every)
    gc.collect()
    if scraper is not None:
        scraper.start()
    meter = Meter()
    runtime.run()
    elapsed, cpu, others = meter.read()
    record = Record("runs", pipeline, config, repetition, n, elapsed, cpu, others, n / elapsed)
    if scraper is not None and server is not None:
        scraper.stop()
        server.shutdown()
        server.server_close()
        record.scrape_ms = [s * 1000 for s in scraper.seconds]
        record.scrape_bytes = max(scraper.sizes, default=0)
        record.errors.extend(scraper.errors)
        record.ok = not scraper.errors
    want = WORKLOADS["pipeline"].expected(n)
    if (tally.total, tally.count) != want:
        record.ok = False
        record.errors.append(f"got {(tally.total, tally.count)}, expected {want}")
    _check_timed(runtime, config, record)
    return record


def size_runs(seconds: float) -> dict[str, int]:
    """Return each pipeline's N for a run of about ``seconds`` with metrics off (a warm-up)."""
    sizes: dict[str, int] = {}
    for pipeline in PIPELINES:
        n = 100_000
        while True:
            record = run_once(pipeline, "off", n, -1, 1.0)
            if record.elapsed_s >= 0.5:
                break
            n *= 4
        sizes[pipeline] = max(1000, int(round(record.msgs_per_s * seconds, -3)))
    return sizes


def measure_runs(sizes: dict[str, int], repeat: int, scrape_every: float) -> list[Record]:
    """Run every (pipeline, configuration) ``repeat`` times, configurations interleaved."""
    records: list[Record] = []
    for repetition in range(repeat):
        for pipeline, n in sizes.items():
            for config in CONFIGS:
                record = run_once(pipeline, config, n, repetition, scrape_every)
                records.append(record)
                _progress(record, f"{repetition + 1}/{repeat}")
    return records


# -- method slices: the three side by side, taking turns -----------------------------------------


def _wait_for(ex: Execution, *states: ExecutionState) -> None:
    deadline = time.perf_counter() + WAIT
    while ex.state not in states:
        if time.perf_counter() > deadline:
            raise SystemExit(f"execution {ex.id} is {ex.state.value}, not {states[0].value}")
        time.sleep(0.001)


class Contender:
    """One configuration's runtime in the slices method: started once, then paused and resumed."""

    def __init__(self, pipeline: str, config: str, scrape_every: float) -> None:
        self.config = config
        graph, self.tally, options = PIPELINES[pipeline](ENDLESS)
        self.runtime = Runtime(metrics=config != "off", **options)
        self.runtime.register(graph)
        self.server = None
        self.url = ""
        if config == "scraped":
            self.server, _ = serve_metrics(self.runtime, 0)
            self.url = f"http://127.0.0.1:{self.server.server_port}/metrics"
        self.period = scrape_every
        self.ran = 0.0  # seconds of running time measured so far (when scrapes fall due)
        self.execution = self.runtime.start()
        _wait_for(self.execution, ExecutionState.RUNNING)
        self.pause()

    def pause(self) -> None:
        self.execution.pause()
        _wait_for(self.execution, ExecutionState.PAUSED)

    def slice(self, seconds: float, settle: float) -> tuple[int, Meter, list[float], list[int]]:
        """Run ``settle`` + ``seconds``; return (messages from the source, meter, scrapes).

        A scrape falls due every ``period`` seconds of this contender's measured time, the
        first half a period in.
        """
        self.execution.resume()
        time.sleep(settle)
        count, meter = self.tally.count, Meter()
        scrape_ms: list[float] = []
        sizes: list[int] = []
        end = meter.wall + seconds
        if self.url:
            due = (self.ran // self.period + 0.5) * self.period  # in running time
            if due < self.ran:
                due += self.period
            while True:
                at = meter.wall + due - self.ran
                if at >= end:
                    break
                time.sleep(max(0.0, at - time.perf_counter()))
                took, size = scrape(self.url)
                scrape_ms.append(took * 1000)
                sizes.append(size)
                due += self.period
        time.sleep(max(0.0, end - time.perf_counter()))
        counted = round((self.tally.count - count) / KEPT)
        self.ran += seconds
        return counted, meter, scrape_ms, sizes

    def close(self, record: Record | None) -> None:
        """Cancel the run, check its counters into ``record``, and stop the server."""
        self.runtime.stop(drain=False, timeout=WAIT)
        self.runtime.shutdown(timeout=WAIT)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if record is None:
            return
        received = self.runtime.stats().nodes["sink"].received
        if received != self.tally.count:
            record.ok = False
            record.errors.append(f"sink received {received}, counted {self.tally.count}")
        _check_timed(self.runtime, self.config, record)


def measure_slices(pipeline: str, rounds: int, seconds: float, scrape_every: float) -> list[Record]:
    """Give each configuration ``rounds`` slices of ``seconds``, in turns; a record per unit.

    A unit is as many rounds as make one scrape period of running time (4 of 0.25 s for a
    scrape every second), so each of the scraped one's units holds one scrape; within a unit
    the three take turns slice by slice, so their sums span the same seconds of the machine.
    """
    contenders = [Contender(pipeline, config, scrape_every) for config in CONFIGS]
    group = max(1, round(scrape_every / seconds))
    units = max(1, rounds // group)
    settle = min(0.1, seconds / 4)
    records: list[Record] = []
    try:
        for contender in contenders:  # warm-up: every part of the pipeline has run once
            contender.slice(seconds, settle)
            contender.pause()
        for unit in range(units):
            sums = {
                c.config: Record("slices", pipeline, c.config, unit, 0, 0, 0, 0, 0)
                for c in contenders
            }
            for turn in range(group):
                shift = (unit * group + turn) % len(contenders)
                for contender in contenders[shift:] + contenders[:shift]:
                    gc.collect()
                    counted, meter, scrape_ms, sizes = contender.slice(seconds, settle)
                    elapsed, cpu, others = meter.read()
                    contender.pause()
                    total = sums[contender.config]
                    total.messages += counted
                    total.elapsed_s += elapsed
                    total.cpu_s += cpu
                    if others is None or total.others is None:
                        total.others = None
                    else:
                        total.others += others * elapsed
                    total.scrape_ms += scrape_ms
                    total.scrape_bytes = max(total.scrape_bytes, *sizes, 0)
            for contender in contenders:
                total = sums[contender.config]
                total.msgs_per_s = total.messages / total.elapsed_s
                if total.others is not None:
                    total.others /= total.elapsed_s
                records.append(total)
                _progress(total, f"{unit + 1}/{units}")
    finally:
        for contender in contenders:
            last = [r for r in records if r.config == contender.config]
            contender.close(last[-1] if last else None)
    return records


# -- figures -----------------------------------------------------------------------------------


def _progress(record: Record, where: str) -> None:
    scrapes = f", {len(record.scrape_ms)} scrapes" if record.config == "scraped" else ""
    others = "" if record.others is None else f", others {record.others:.2f} CPU"
    failed = "" if record.ok else "  FAILED: " + "; ".join(record.errors)
    print(
        f"  {record.method} [{where}] {record.pipeline:<9} {record.config:<7} "
        f"{record.msgs_per_s:>11,.0f} msgs/s  {record.elapsed_s:6.2f} s{scrapes}{others}{failed}",
        flush=True,
    )


def summarize(records: list[Record]) -> list[dict[str, Any]]:
    """Return one row per (method, pipeline, configuration): medians, ratios, the verdict.

    ``ratio`` is the median msgs/s over the baseline's median msgs/s; ``paired`` is the median
    of each repetition's own ratio to the baseline of the same repetition, which cancels
    drift slower than a repetition; the verdict reads ``paired``.
    """
    groups: dict[tuple[str, str, str], list[Record]] = {}
    for record in records:
        groups.setdefault((record.method, record.pipeline, record.config), []).append(record)
    rows: list[dict[str, Any]] = []
    for (method, pipeline, config), recs in groups.items():
        base = {r.repetition: r.msgs_per_s for r in groups[(method, pipeline, "off")]}
        rate = statistics.median(r.msgs_per_s for r in recs)
        base_rate = statistics.median(base.values())
        ratios = sorted(r.msgs_per_s / base[r.repetition] for r in recs)
        paired = statistics.median(ratios)
        low, high = _median_interval(ratios)
        rates = [r.msgs_per_s for r in recs]
        others = [r.others for r in recs if r.others is not None]
        scrape_ms = [ms for r in recs for ms in r.scrape_ms]
        budget = BUDGETS.get(config)
        row: dict[str, Any] = {
            "method": method,
            "pipeline": pipeline,
            "config": config,
            "repeats": len(recs),
            "ok": all(r.ok for r in recs),
            "msgs_per_s": rate,
            "spread": (max(rates) - min(rates)) / rate,
            "others": statistics.median(others) if others else None,
            "ratio": rate / base_rate,
            "paired": paired,
            "cost": 1 - paired,
            "cost_low": 1 - high,
            "cost_high": 1 - low,
            "budget": budget,
            "within_budget": None if budget is None else 1 - paired <= budget,
            "seconds": sum(r.elapsed_s for r in recs),
            "scrapes": len(scrape_ms) if config == "scraped" else None,
            "scrape_ms_p50": statistics.median(scrape_ms) if scrape_ms else None,
            "scrape_ms_max": max(scrape_ms) if scrape_ms else None,
            "scrape_bytes": max(r.scrape_bytes for r in recs) or None,
        }
        rows.append(row)
    return rows


def _median_interval(ordered: list[float]) -> tuple[float, float]:
    """Return a ~95% confidence interval of the median of ``ordered`` (sorted), by ranks.

    Distribution-free (binomial ranks, normal approximation); with fewer than 6 values it is
    the whole range.
    """
    n = len(ordered)
    k = max(0, math.floor((n - 1.96 * math.sqrt(n)) / 2))
    return ordered[k], ordered[n - 1 - k]


def _verdict(row: dict[str, Any]) -> str:
    if not row["ok"]:
        return "FAILED"
    budget = row["budget"]
    if budget is None:
        return "baseline"
    verdict = "ok" if row["within_budget"] else "OVER"
    if row["cost_low"] <= budget < row["cost_high"]:
        verdict += "?"  # the budget lies inside the interval: too noisy to tell
    return verdict


def format_table(rows: list[dict[str, Any]]) -> str:
    """Return the table: one line per (method, pipeline, configuration)."""
    head = (
        f"{'method':<7} {'pipeline':<10} {'config':<8} {'msgs/s':>11} {'spread':>7} "
        f"{'others':>6} {'vs off':>7} {'paired':>7} {'cost':>6} {'95% interval':>15} "
        f"{'budget':>6} {'verdict':<8} scrapes"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        budget = "" if row["budget"] is None else f"{row['budget']:.0%}"
        interval = ""
        if row["budget"] is not None:
            interval = f"{row['cost_low']:.1%}..{row['cost_high']:.1%}"
        others = "" if row["others"] is None else f"{row['others']:.2f}"
        scrapes = ""
        if row["scrapes"] is not None:
            scrapes = (
                f"{row['scrapes']} in {row['seconds']:.0f} s, p50 {row['scrape_ms_p50'] or 0:.0f}"
                f" ms, max {row['scrape_ms_max'] or 0:.0f} ms, {row['scrape_bytes'] or 0:,} B"
            )
        lines.append(
            f"{row['method']:<7} {row['pipeline']:<10} {row['config']:<8} "
            f"{row['msgs_per_s']:>11,.0f} {row['spread']:>6.1%} {others:>6} "
            f"{row['ratio']:>7.3f} {row['paired']:>7.3f} {row['cost']:>6.1%} {interval:>15} "
            f"{budget:>6} {_verdict(row):<8} {scrapes}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.observability", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--method", choices=("runs", "slices", "both"), default="both")
    parser.add_argument("--seconds", type=float, help="runs: a run with metrics off (6 s)")
    parser.add_argument("--repeat", type=int, help="runs: repetitions per configuration (5)")
    parser.add_argument("--slice", type=float, help="slices: seconds per slice (0.25)")
    parser.add_argument("--rounds", type=int, help="slices: slices per configuration (80)")
    parser.add_argument("--scrape-every", type=float, default=1.0, help="seconds (1)")
    parser.add_argument("--quick", action="store_true", help="short runs, few repetitions")
    parser.add_argument("--check", action="store_true", help="exit 1 if a budget is missed")
    parser.add_argument("--json", type=Path, metavar="PATH", help="save every record and the rows")
    args = parser.parse_args(argv)
    seconds = args.seconds or (2.0 if args.quick else 6.0)
    repeat = args.repeat or (1 if args.quick else 5)
    slice_s = args.slice or 0.25
    rounds = args.rounds or (12 if args.quick else 80)
    methods = ("runs", "slices") if args.method == "both" else (args.method,)
    src = Path(arachne.__file__).resolve().parent
    version = f"commit {git_head(src)}, src {fingerprint(src)}"  # as imported, at the start
    print(machine_line())
    print(f"arachne: {version} ({src})")
    records: list[Record] = []
    sizes: dict[str, int] = {}
    if "runs" in methods:
        sizes = size_runs(seconds)
        print(
            f"runs: {seconds:g} s per run with metrics off ("
            + ", ".join(f"{name} N={n:,}" for name, n in sizes.items())
            + f"), {repeat} of each, a scrape every {args.scrape_every:g} s in 'scraped'"
        )
        records += measure_runs(sizes, repeat, args.scrape_every)
    if "slices" in methods:
        print(
            f"slices: {rounds} slices of {slice_s:g} s per configuration, in turns, summed "
            f"per {args.scrape_every:g} s of running time (one scrape each in 'scraped')"
        )
        for pipeline in PIPELINES:
            records += measure_slices(pipeline, rounds, slice_s, args.scrape_every)
    rows = summarize(records)
    print()
    print(format_table(rows))
    failed = [row for row in rows if not row["ok"]]
    over = [row for row in rows if row["within_budget"] is False]
    for row in over:
        print(
            f"OVER BUDGET ({row['method']}): {row['pipeline']} {row['config']} costs "
            f"{row['cost']:.1%} of the throughput with metrics off (budget {row['budget']:.0%})"
        )
    if not over and not failed:
        print("every configuration within its budget (5% metrics on, 10% scraped every second)")
    if args.json is not None:
        payload = {
            "machine": machine_line(),
            "arachne": version,
            "options": {k: str(v) for k, v in vars(args).items()},
            "sizes": sizes,
            "records": [asdict(record) for record in records],
            "summary": rows,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"raw results: {args.json}")
    if failed:
        return 1
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
