"""One benchmark case in this process: ``python -m benchmarks.case WORKLOAD IMPL N``.

Prints one JSON line (timing, peak RSS, latency percentiles, the check) and exits 1 if the
sink's sum or count differs from the expected value, so a wrong result can never pass as fast.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
from time import perf_counter_ns, process_time_ns
from typing import Any

from benchmarks.impls import IMPLS, load
from benchmarks.workloads import WORKLOADS


def _maxrss_kib() -> int:
    """Return ``ru_maxrss`` in KiB.

    On Linux it is carried across ``exec``: a child spawned by a 100 MB parent reports at least
    100 MB. So the table uses :func:`_peak_kib`; this raw figure is kept in the JSON.
    """
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss // 1024 if sys.platform == "darwin" else rss  # macOS counts bytes


def _proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _peak_kib() -> int:
    """Return this process image's own peak RSS in KiB (``VmHWM``, else ``ru_maxrss``)."""
    hwm = _proc_status_kib("VmHWM")
    return hwm if hwm is not None else _maxrss_kib()


def _percentile(ordered: list[int], q: float) -> float:
    """Nearest-rank percentile ``q`` (0..100) of an ascending list."""
    rank = max(1, -(-len(ordered) * q // 100))
    return float(ordered[int(rank) - 1])


def run_case(workload: str, impl: str, n: int) -> dict[str, Any]:
    """Run one case and return its record; ``ok`` says whether the result was right."""
    spec = WORKLOADS[workload]
    fn = getattr(load(impl), spec.function)
    gc.collect()
    rss_start = _proc_status_kib("VmRSS")
    cpu_start = process_time_ns()
    start = perf_counter_ns()
    tally = fn(n)
    elapsed_ns = perf_counter_ns() - start
    cpu_ns = process_time_ns() - cpu_start
    rss_peak = _peak_kib()
    ru_maxrss = _maxrss_kib()
    expected = spec.expected(n)
    got = (tally.total, tally.count)
    ok = got == expected
    record: dict[str, Any] = {
        "workload": workload,
        "impl": impl,
        "n": n,
        "hops": spec.hops,
        "ok": ok,
        "expected": list(expected),
        "got": list(got),
        "elapsed_s": elapsed_ns / 1e9,
        "cpu_s": cpu_ns / 1e9,
        "msgs_per_s": n / (elapsed_ns / 1e9),
        "ns_per_hop": elapsed_ns / (n * spec.hops),
        "p50_us": None,
        "p99_us": None,
        "peak_rss_kib": rss_peak,
        "start_rss_kib": rss_start,
        "ru_maxrss_kib": ru_maxrss,
        "note": tally.note,
    }
    arachne = sys.modules.get("arachne")
    if arachne is not None:
        record["arachne_from"] = str(arachne.__file__)
    if spec.latency:
        if len(tally.latencies_ns) != tally.count:
            record["ok"] = False
            record["note"] = f"{len(tally.latencies_ns)} latencies for {tally.count} messages"
        ordered = sorted(tally.latencies_ns)
        if ordered:
            record["p50_us"] = _percentile(ordered, 50) / 1e3
            record["p99_us"] = _percentile(ordered, 99) / 1e3
    return record


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in WORKLOADS or argv[1] not in IMPLS:
        print(
            f"usage: python -m benchmarks.case WORKLOAD IMPL N\n"
            f"  WORKLOAD: {', '.join(WORKLOADS)}\n  IMPL: {', '.join(IMPLS)}",
            file=sys.stderr,
        )
        return 2
    record = run_case(argv[0], argv[1], int(argv[2]))
    print(json.dumps(record), flush=True)
    if not record["ok"]:
        print(
            f"{argv[0]}/{argv[1]}: expected (sum, count) {tuple(record['expected'])}, "
            f"got {tuple(record['got'])} {record['note']}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
