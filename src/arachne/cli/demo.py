"""``arachne demo``: the bundled orders graph run over generated orders."""

from __future__ import annotations

import random
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from arachne.cli.feeds import Feed
from arachne.cli.run import RunOptions, execute
from arachne.spec import analyze, loads_document

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console

__all__ = ["DEMO_DOCUMENT", "orders", "run_demo"]

DEMO_DOCUMENT = "demo.yaml"
"""The demo graph, shipped inside ``arachne.cli``."""

CUSTOMERS = ("ada", "grace", "linus", "margaret", "dennis")


def orders(count: int, seed: int = 2026) -> Iterator[dict[str, Any]]:
    """Yield ``count`` made-up orders; about one in six has no quantity and is rejected."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not security
    for number in range(1, count + 1):
        yield {
            "id": number,
            "customer": rng.choice(CUSTOMERS),
            "qty": rng.randint(0, 5),
            "price": rng.randint(5, 60),
        }


def run_demo(out: Console, err: Console, count: int) -> int:
    """Show the demo graph, run it over ``count`` orders and return the exit status."""
    text = files("arachne.cli").joinpath(DEMO_DOCUMENT).read_text(encoding="utf-8")
    doc = loads_document(text, format="yaml")
    out.print(f"[bold]Arachne demo[/]: {doc.description}", highlight=False)
    for line in analyze(doc).describe():
        out.print(f"  {line}", highlight=False)
    out.print(f"Running {count} orders; each value leaving the graph is one JSON line:\n")
    feed = Feed("orders", "in", "demo orders", values=orders(count))
    options = RunOptions(tag=True, progress=False)
    status = execute(doc, options, err, None, feeds=[feed])
    out.print(
        "\nNext: `arachne components` lists the building blocks, `arachne new node NAME` "
        "scaffolds your own, docs/graph-documents.md explains the format.",
        highlight=False,
    )
    return status
