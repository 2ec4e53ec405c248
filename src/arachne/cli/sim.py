"""``arachne sim``: a graph document run under deterministic simulation, seed after seed.

Each seed builds the document afresh, feeds it the ``--inject`` values and runs it on virtual
time with every choice made by the seed (``arachne.sim``). The report says how many seeds
completed, each failure with the command that replays it, whether every seed reproduced
(``--twice``), how much faster than real time the runs went, and which fault points, always
and sometimes were reached.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from arachne.cli.feeds import Feed, parse_inject
from arachne.cli.session import attach_feeds
from arachne.sim import explore
from arachne.spec import build, read_document

if TYPE_CHECKING:
    from pathlib import Path
    from typing import TextIO

    from arachne.components.registry import Registry
    from arachne.model.subgraph import Subgraph
    from arachne.sim import Exploration, Mode

__all__ = ["SimOptions", "sim_document"]


@dataclass(slots=True)
class SimOptions:
    """What ``arachne sim`` was asked for on the command line."""

    seeds: int = 100
    seed: int | None = None  # one seed only (a replay)
    faults: float = 0.0
    crashes: bool = False
    mode: Mode = "liveness"
    twice: bool = False
    injects: list[str] = field(default_factory=list)


def sim_document(path: Path, options: SimOptions, registry: Registry, out: TextIO) -> int:
    """Simulate the document at ``path`` over the seeds asked; print the report; 0 if all passed.

    ``SpecError`` or ``ValueError`` naming the fix, before any run, for a bad document or option.
    """
    if options.seeds < 1:
        raise ValueError(f"--seeds {options.seeds}: run at least one seed")
    if not 0 <= options.faults <= 1:
        raise ValueError(f"--faults {options.faults}: a probability from 0 to 1")
    document = read_document(path)
    feeds = []
    for option in options.injects:
        node, port, value = parse_inject(option)
        feeds.append(Feed(node, port, f"--inject {option}", values=[value]))

    def make() -> Subgraph:
        unit = build(document, registry)
        attach_feeds(unit, document, feeds)
        return unit

    make()  # (a document or a feed that does not build is refused here, once, not per seed)
    seeds = [options.seed] if options.seed is not None else range(options.seeds)
    explored = explore(
        make,
        seeds,
        twice=options.twice,
        faults=options.faults,
        crashes=options.crashes,
        mode=options.mode,
    )
    _report(path, options, explored, out)
    return 1 if explored.failures or explored.unreproducible else 0


def _report(path: Path, options: SimOptions, explored: Exploration, out: TextIO) -> None:
    results = explored.results
    failed = explored.failures
    out.write(
        f"{len(results)} seed{'s' if len(results) != 1 else ''}: "
        f"{len(results) - len(failed)} passed, {len(failed)} failed\n"
    )
    if options.twice:
        unrepro = explored.unreproducible
        out.write(
            "every seed reproduced its trace\n"
            if not unrepro
            else f"NOT reproducible: seeds {', '.join(map(str, unrepro))}\n"
        )
    virtual = sum(result.virtual_seconds for result in results)
    real = sum(result.real_seconds for result in results)
    ratios = [result.compression for result in results if result.virtual_seconds > 0]
    faster = f" (median {statistics.median(ratios):.0f}x faster)" if ratios else ""
    out.write(f"virtual time {virtual:.3f} s in {real:.3f} s of real time{faster}\n")
    for result in failed[:10]:
        out.write(f"seed {result.seed} failed: {result.failure}\n")
        out.write(f"  replay: {_replay(path, options, result.seed)}\n")
    if len(failed) > 10:
        out.write(f"... and {len(failed) - 10} more failed seeds\n")
    out.write(explored.coverage.report() + "\n")


def _replay(path: Path, options: SimOptions, seed: int) -> str:
    parts = ["arachne", "sim", str(path), "--seed", str(seed)]
    if options.faults:
        parts += ["--faults", str(options.faults)]
    if options.crashes:
        parts.append("--crashes")
    if options.mode != "liveness":
        parts += ["--mode", options.mode]
    for option in options.injects:
        parts += ["--inject", f"'{option}'"]
    return " ".join(parts)
