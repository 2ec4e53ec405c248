"""The machine line, medians across repetitions, ratios to the baseline, and the table."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.impls import BASELINE

METRICS = ("msgs_per_s", "ns_per_hop", "p50_us", "p99_us", "peak_rss_kib")
"""Figures reported per case; each is also given as a ratio to the baseline."""

_COLUMNS = (
    ("msgs/s", "msgs_per_s", "{:,.0f}"),
    ("ns/hop", "ns_per_hop", "{:,.0f}"),
    ("p50 us", "p50_us", "{:,.1f}"),
    ("p99 us", "p99_us", "{:,.1f}"),
    ("peak RSS KiB", "peak_rss_kib", "{:,.0f}"),
)


def machine_line() -> str:
    """Return 'cpu: MODEL, N cores, Python X.Y.Z (implementation)'."""
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"cpu: {model}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}"
    )


def summarize(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group the per-repetition records by (workload, impl): median of each figure, ratios.

    A ratio is the implementation's median divided by the baseline's median for the same
    workload in the same run, whatever the figure: msgs/s below 1 is slower than the loop,
    ns/hop, latency and RSS above 1 are slower or bigger.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in records:
        groups.setdefault((rec["workload"], rec["impl"]), []).append(rec)
    rows: list[dict[str, Any]] = []
    for (workload, impl), recs in groups.items():
        row: dict[str, Any] = {"workload": workload, "impl": impl, "repeats": len(recs)}
        row["ok"] = all(r["ok"] for r in recs)
        for metric in METRICS:
            values = [r[metric] for r in recs if r.get(metric) is not None]
            row[metric] = statistics.median(values) if values and row["ok"] else None
        times = [r["elapsed_s"] for r in recs if r.get("elapsed_s")]
        # How far apart the repetitions were: (slowest - fastest) / median elapsed time.
        row["spread"] = (max(times) - min(times)) / statistics.median(times) if times else None
        notes = sorted({r["note"] for r in recs if r.get("note")})
        row["note"] = "; ".join(notes)
        rows.append(row)
    baselines = {row["workload"]: row for row in rows if row["impl"] == BASELINE}
    for row in rows:
        base = baselines.get(row["workload"])
        for metric in METRICS:
            value = row[metric]
            reference = base[metric] if base is not None else None
            row[f"{metric}_ratio"] = value / reference if value is not None and reference else None
    return rows


def _cell(fmt: str, value: float | None) -> str:
    return "-" if value is None else fmt.format(value)


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"x{value:.3g}" if value < 1000 else f"x{value:,.0f}"


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Return the summary as an aligned plain-text table, one line per (workload, impl)."""
    header = ["workload", "impl"]
    for title, _, _ in _COLUMNS:
        header += [title, "vs loop"]
    header += ["spread", "ok", "note"]
    lines = [header]
    for row in rows:
        cells = [row["workload"], row["impl"]]
        for _, key, fmt in _COLUMNS:
            cells += [_cell(fmt, row[key]), _ratio(row[f"{key}_ratio"])]
        spread = row["spread"]
        cells += ["-" if spread is None else f"{spread:.0%}", "yes" if row["ok"] else "NO"]
        cells.append(row["note"])
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    left = {0, 1, len(header) - 2, len(header) - 1}
    out = []
    for line in lines:
        parts = [
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(parts).rstrip())
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
