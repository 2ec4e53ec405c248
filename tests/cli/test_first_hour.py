"""What a new user meets first in `arachne run` (issue 11): each case once went wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arachne.cli.main import app
from tests.cli.conftest import QUICK_REFERENCE, edge, write_document


def test_a_value_with_no_json_form_is_reported_and_the_run_goes_on(runner: CliRunner) -> None:
    result = runner.invoke(app, ["run", str(QUICK_REFERENCE), "-q"], input='"str"\n5\n6\n')
    assert result.stdout.splitlines() == ["10", "12"]  # what follows the bad value is kept
    assert result.exit_code == 1
    assert "1 output value(s) had no JSON form" in result.stderr
    assert "cli-output-1" in result.stderr  # the skip is logged, naming where it happened


def test_an_error_port_linked_to_an_output_node_prints_its_records(
    runner: CliRunner, tmp_path: Path
) -> None:
    doc = write_document(
        tmp_path / "g.json",
        [
            {"id": "m", "component": "arachne.core.map", "config": {"expression": "value.x.y"}},
            {"id": "ok", "component": "arachne.core.passthrough"},
            {"id": "bad", "component": "arachne.core.passthrough"},
        ],
        [edge("m:out", "ok:in"), edge("m:error", "bad:in")],
    )
    result = runner.invoke(app, ["run", str(doc), "--to", "m", "-q"], input='{"x":{"y":1}}\n5\n')
    assert result.exit_code == 0, result.output
    first, record = result.stdout.splitlines()
    assert first == "1"
    fields = json.loads(record)
    assert (fields["node_id"], fields["payload"], fields["error_type"]) == (
        "m",
        5,
        "ExpressionError",
    )
    assert "skipped a message" not in result.stderr  # the record is its trace


def test_quiet_silences_node_logs_and_logs_in_a_pipe_are_one_line_each(
    runner: CliRunner,
) -> None:
    quiet = runner.invoke(app, ["run", str(QUICK_REFERENCE), "-q"], input="1\n2\n")
    assert quiet.exit_code == 0
    assert quiet.stderr == ""  # the logger's INFO lines are not shown under -q
    loud = runner.invoke(app, ["run", str(QUICK_REFERENCE), "-q"], input='"a long string"\n')
    [warning] = [line for line in loud.stderr.splitlines() if "skipped a message" in line]
    assert "emit JSON data (objects, arrays, strings, finite numbers, true/false/null)" in warning
    logged = runner.invoke(
        app, ["run", str(QUICK_REFERENCE), "-q", "--log-level", "INFO"], input="1\n2\n"
    )
    lines = logged.stderr.splitlines()
    assert [line for line in lines if "arachne.node" in line] == [
        "INFO arachne.node.output: 2",
        "INFO arachne.node.output: 4",
    ]
    # At INFO the run's events are logged too: its state changes, one line each.
    events = [line.split(": ", 1)[1] for line in lines if "arachne.events" in line]
    assert [event.split(": ", 1)[1] for event in events] == [
        "pending -> initializing",
        "initializing -> running",
        "running -> completed",
    ]
    assert len(lines) == 5


def test_execution_stop_as_documented_ends_the_run_and_waits() -> None:
    from arachne import ExecutionError, Runtime, Subgraph
    from arachne.runtime import ExecutionState
    from tests.runtime.nodes import Collect, Forever

    graph = Subgraph()
    graph.add_node(Forever(), name="forever")
    graph.add_node(Collect(), name="sink")
    graph.connect(("forever", "out"), ("sink", "in"))
    runtime = Runtime()
    runtime.register(graph)
    execution = runtime.execution
    with pytest.raises(ExecutionError, match="was never started"):
        execution.stop()
    runtime.start()
    assert execution.stop(timeout=10)
    assert execution.state is ExecutionState.COMPLETED
    assert execution.stop(timeout=10)  # again: already ended, nothing to do


def test_components_keep_ids_whole_at_80_columns_and_show_one() -> None:
    import io

    from rich.console import Console

    from arachne.cli import info

    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=True, color_system=None)
    info.components(console, as_json=False, category=None)
    table = buf.getvalue()
    for component in ("arachne.core.accumulator", "arachne.data.json-transform"):
        assert component in table  # whole, never cut to "arachne.core…"
    assert "…" not in table
    buf.truncate(0)
    buf.seek(0)
    info.components(console, as_json=False, category=None, component="symbia.core.delay")
    shown = buf.getvalue()
    assert "arachne.core.delay" in shown
    assert "max_waiting (integer, default 10000)" in shown
    assert "in (any)" in shown


def test_components_with_an_unknown_category_or_id_exits_2_naming_the_choices(
    runner: CliRunner,
) -> None:
    result = runner.invoke(app, ["components", "--category", "nope"])
    assert result.exit_code == 2
    assert "the categories: core, data, durable, io" in result.stderr
    result = runner.invoke(app, ["components", "arachne.core.nope"])
    assert result.exit_code == 2
    assert "unknown component 'arachne.core.nope'" in result.stderr


def test_a_node_class_of_your_own_runs_from_a_document(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shop_nodes.py").write_text(
        "from arachne import Input, Message, Node, Output\n\n"
        "class Doubler(Node):\n"
        '    """Doubles each value by a factor."""\n\n'
        '    inp = Input(int, name="in")\n'
        "    out = Output(int)\n\n"
        "    def __init__(self, factor: int = 2) -> None:\n"
        "        self.factor = factor\n\n"
        "    def on_message(self, port: str, msg: Message) -> None:\n"
        '        self.emit("out", msg.payload * self.factor)\n'
    )
    doc = write_document(
        tmp_path / "g.json",
        [{"id": "d", "component": "shop_nodes:Doubler", "config": {"factor": 3}}],
        [],
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(__import__("sys").modules, "shop_nodes", raising=False)
    unknown = runner.invoke(app, ["run", str(doc), "-q"], input="1\n")
    assert unknown.exit_code == 2
    assert "--components" in unknown.stderr  # the hint says how
    result = runner.invoke(
        app, ["run", str(doc), "-q", "--components", "shop_nodes"], input="1\n2\n"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["3", "6"]
    shown = runner.invoke(app, ["components", "shop_nodes:Doubler", "-c", "shop_nodes"])
    assert "Doubles each value by a factor" in shown.stdout
    missing = runner.invoke(app, ["validate", str(doc), "-c", "no_such_module"])
    assert missing.exit_code == 2
    assert "cannot import it" in missing.stderr


def test_new_node_at_the_root_of_this_repository_passes_its_own_ruff(
    runner: CliRunner, tmp_path: Path
) -> None:
    """The README's `uv run arachne new node OrderParser`, at Arachne's own root."""
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    shutil.copy(root / "pyproject.toml", tmp_path)
    shutil.copytree(root / "src" / "arachne", tmp_path / "src" / "arachne")
    result = runner.invoke(app, ["new", "node", "OrderParser", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    ruff = str(Path(sys.executable).parent / "ruff")
    for command in (
        [ruff, "check", "order_parser.py", "test_order_parser.py"],
        [ruff, "format", "--check", "order_parser.py", "test_order_parser.py"],
    ):
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
        assert done.returncode == 0, (command, done.stdout, done.stderr)


def test_a_run_with_nothing_to_feed_its_input_says_how_to_feed_it() -> None:
    import io

    from rich.console import Console

    from arachne.cli.run import RunOptions, run_document

    err = io.StringIO()
    status = run_document(
        QUICK_REFERENCE, RunOptions(quiet=True), Console(file=err, width=200), None
    )
    assert status == 0
    assert "nothing feeds input node 'input'" in err.getvalue()
    assert "--inject input:in=JSON" in err.getvalue()


def test_version_and_short_help(runner: CliRunner) -> None:
    from arachne import __version__

    assert runner.invoke(app, ["--version"]).stdout == f"arachne {__version__}\n"
    short = runner.invoke(app, ["run", "-h"])
    assert short.exit_code == 0
    assert "--inject" in short.stdout


def test_a_document_may_name_its_json_schema(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text(
        json.dumps(
            {
                "$schema": "./arachne.schema.json",
                "arachne": "1.0",
                "name": "t",
                "nodes": [{"id": "p", "component": "arachne.core.passthrough"}],
            }
        )
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_dot_labels_name_components_and_the_demo_summary_hides_cli_nodes(
    runner: CliRunner,
) -> None:
    dot = runner.invoke(app, ["dot", str(QUICK_REFERENCE)])
    assert '"double" [label="double\\n(arachne.core.map)"]' in dot.stdout
    assert "builtins" not in dot.stdout
    demo = runner.invoke(app, ["demo", "--count", "3"])
    assert demo.exit_code == 0, demo.output
    assert "cli-input" not in demo.stderr
    assert "orders" in demo.stderr


def test_an_injected_value_that_does_not_fit_a_python_nodes_port_is_refused(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = shop(tmp_path, monkeypatch, {"factor": 1})
    args = ["run", str(doc), "-c", "shop_scale", "-q", "--inject"]
    refused = runner.invoke(app, [*args, 's:in="x"'])
    assert refused.exit_code == 2
    assert "does not fit s.in, which takes int" in refused.stderr
    taken = runner.invoke(app, [*args, "s:in=7"])
    assert taken.stdout == "7\n"


def test_under_the_live_display_values_and_logs_wait_for_its_redraw() -> None:
    """A redraw per printed line made 2,000 values take 20 s on a terminal; now lines batch."""
    import io
    import logging

    from arachne.cli.run import _holding
    from arachne.cli.writer import Held, Writer

    stream = io.StringIO()
    writer = Writer(tag=False, stream=stream)
    held = Held()
    logger = logging.getLogger("arachne")
    before = list(logger.handlers)
    with _holding(held, writer, on=True):
        writer("n", "out", 1)
        logging.getLogger("arachne.node.n").warning("careful")
        writer("n", "out", 2)
        assert stream.getvalue() == ""  # nothing printed line by line
    assert held.drain() == ["1", "WARNING arachne.node.n: careful", "2"]
    assert logger.handlers == before  # put back
    writer("n", "out", 3)
    assert stream.getvalue() == "3\n"


SHOP = (
    "from arachne import Input, Message, Node, Output\n\n"
    "class Base(Node):\n"
    '    """Shared code, no ports: not a component."""\n\n'
    "class Scale(Base):\n"
    '    """Multiplies each value by a factor."""\n\n'
    '    inp = Input(int, name="in")\n'
    "    out = Output(int)\n\n"
    "    def __init__(self, factor: int = 2, label: str | None = None) -> None:\n"
    "        self.factor = factor\n\n"
    "    def on_message(self, port: str, msg: Message) -> None:\n"
    '        self.emit("out", msg.payload * self.factor)\n'
)


def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, object]) -> Path:
    (tmp_path / "shop_scale.py").write_text(SHOP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(__import__("sys").modules, "shop_scale", raising=False)
    return write_document(
        tmp_path / "g.json",
        [{"id": "s", "component": "shop_scale:Scale", "config": config}],
        [],
    )


def test_your_own_nodes_config_is_checked_against_its_init(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    misspelt = shop(tmp_path, monkeypatch, {"factr": 3})
    result = runner.invoke(app, ["validate", str(misspelt), "-c", "shop_scale"])
    assert result.exit_code == 2
    assert "factr" in result.stderr
    assert "factor" in result.stderr  # the keys there are
    wrong = shop(tmp_path, monkeypatch, {"factor": "three"})
    result = runner.invoke(app, ["validate", str(wrong), "-c", "shop_scale"])
    assert result.exit_code == 2
    assert "factor" in result.stderr
    shown = runner.invoke(app, ["components", "shop_scale:Scale", "-c", "shop_scale"])
    assert "factor (integer, default 2)" in shown.stdout
    assert "label (string or null, default null)" in shown.stdout
    listed = runner.invoke(app, ["components", "--json", "-c", "shop_scale"])
    ids = {entry["id"] for entry in json.loads(listed.stdout)}
    assert "shop_scale:Scale" in ids
    assert "shop_scale:Base" not in ids  # no ports: not a component


def test_component_errors_point_to_the_fix(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = shop(tmp_path, monkeypatch, {})
    unloaded = runner.invoke(app, ["validate", str(doc)])
    assert "load it with `--components shop_scale`" in unloaded.stderr
    (tmp_path / "needs_more.py").write_text("import no_such_dependency_zz\n")
    broken = runner.invoke(app, ["validate", str(doc), "-c", "needs_more"])
    assert broken.exit_code == 2
    assert "the module was found but importing it failed" in broken.stderr
    short = write_document(tmp_path / "short.json", [{"id": "m", "component": "map"}], [])
    assert "did you mean 'arachne.core.map'" in runner.invoke(app, ["validate", str(short)]).stderr


def test_an_input_line_that_does_not_fit_and_an_unread_stdin_are_explained(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = shop(tmp_path, monkeypatch, {})
    result = runner.invoke(app, ["run", str(doc), "-q", "-c", "shop_scale"], input='"x"\n4\n')
    assert result.stdout == "8\n"
    assert result.exit_code == 1
    assert "1 input value(s) did not fit the port they feed" in result.stderr
    assert "connect the nodes' 'error' ports" not in result.stderr  # not the user's to connect
    piped = tmp_path / "in.jsonl"
    piped.write_text("5\n")
    with piped.open() as stdin:
        from rich.console import Console

        from arachne.cli.run import RunOptions, run_document

        err = __import__("io").StringIO()
        options = RunOptions(injects=["s:in=1"], quiet=True, components=["shop_scale"])
        assert run_document(doc, options, Console(file=err, width=300), stdin) == 0
    assert "standard input is not read" in err.getvalue()


def test_loading_a_module_whose_classes_change_it_or_break_names_the_class(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "odd_nodes.py").write_text(
        "from arachne import Input, Message, Node\n\n"
        "class Noisy(Node):\n"
        '    inp = Input(int, name="in")\n\n'
        "    def __init__(self) -> None:\n"
        "        global MADE  # adds to the module while it is being read\n"
        "        MADE = True\n\n"
        "    def on_message(self, port: str, msg: Message) -> None:\n"
        "        pass\n\n"
        "class Broken(Node):\n"
        '    inp = Input(int, name="in")\n\n'
        "    def __init__(self) -> None:\n"
        '        raise KeyError("no")\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(__import__("sys").modules, "odd_nodes", raising=False)
    result = runner.invoke(app, ["components", "-c", "odd_nodes"])
    assert result.exit_code == 2
    assert "class Broken could not be loaded: KeyError" in result.stderr
