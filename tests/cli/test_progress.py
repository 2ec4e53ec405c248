"""The live display and the summary of `arachne run`."""

from __future__ import annotations

import io

from rich.console import Console
from typer.testing import CliRunner

from arachne import IterSource, Runtime, Subgraph, node
from arachne.cli.main import app
from arachne.cli.progress import Rates, live_table, summary_table
from tests.cli.conftest import QUICK_REFERENCE


def rendered(table: object) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=200).print(table)
    return buffer.getvalue()


def test_the_live_table_shows_counts_rates_and_queues() -> None:
    @node
    def double(x: int) -> int:
        return x * 2

    graph = Subgraph()
    graph.add_node(IterSource(range(10), name="numbers"))
    graph.add_node(double())
    graph.connect(("numbers", "out"), ("double", "in"), capacity=4)
    runtime = Runtime(fusion=False)
    runtime.register(graph)
    before = runtime.stats()
    rates = Rates()
    rates.update(before)
    runtime.run()
    after = runtime.stats()
    rates.update(after)
    text = rendered(live_table(after, rates, 1.5))
    assert "numbers" in text
    assert "double" in text
    assert "1.5 s" in text
    assert rates.rates["double"] > 0
    summary = rendered(summary_table(after, 0.25, 7))
    assert "completed in 0.250 s" in summary
    assert "7 value(s) out" in summary


def test_the_display_can_be_forced_off_a_terminal(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["run", str(QUICK_REFERENCE), "--inject", "input:in=4", "--progress"]
    )
    assert result.exit_code == 0, result.output
    assert "8" in result.stdout
    assert "completed" in result.stderr
