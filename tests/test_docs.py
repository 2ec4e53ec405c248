"""Every Python and shell block in README.md, docs/ and the examples' READMEs runs as written.

How a page is run:

- Its blocks run in the order they appear, in one temporary working directory per page that
  holds a copy of the repository's ``examples/`` folder, so a block can name
  ``examples/documents/quick_reference.json`` or run ``python -m examples.kill_switch.main``
  as it would from the repository root.
- ``python`` blocks run as a file with this interpreter; each block is its own process.
- ``sh``, ``bash`` and ``shell`` blocks run with ``bash -e -o pipefail``; ``console`` blocks
  run their ``$ `` lines only. The venv's ``bin`` directory comes first on ``PATH``, so
  ``arachne`` and ``python`` are this environment's, and ``uv run arachne``,
  ``uv run --no-dev arachne`` and ``uv run python`` are run as ``arachne`` and ``python``:
  the tests already run inside the project's environment, and uv must not change it while
  they do. Standard input is empty.
- A block whose first line is a comment naming a file (``# shop_nodes.py``, ``# graph.yaml``)
  is also saved under that name, for the blocks after it.
- Other fence languages (``yaml``, ``json``, ``text``, none) show data or output and are not
  run.

Markers, an HTML comment on the line before a block (blank lines between are allowed):

- ``<!-- doc-test: continues -->``: a ``python`` block that goes on from the page's previous
  ``python`` block; the two run as one program.
- ``<!-- doc-test: skip (REASON) -->``: the block is not run. Only blocks that need something
  the tests cannot have may be skipped, and the page's text must say what that is; the reason
  is required, and every skipped block is listed in ``SKIPPED`` below.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "examples").glob("*/README.md")]
)
PYTHON = frozenset({"python", "py"})
SHELL = frozenset({"sh", "bash", "shell", "console"})
TIMEOUT = 120

# Every block that does not run, by page and first line, with the reason its marker gives.
SKIPPED = {
    ("README.md", "uv run pytest"): "runs the whole test suite, this test included",
    (
        "README.md",
        "uv run arachne dot examples/documents/quick_reference.json | dot -Tsvg > graph.svg",
    ): "needs Graphviz",
    ("README.md", "uv run --group bench python -m benchmarks.run"): (
        "needs the bench dependency group and about 18 minutes"
    ),
    ("docs/performance.md", "uv run --group bench python -m benchmarks.run --json results.json"): (
        "needs the bench dependency group, valgrind and about 18 minutes"
    ),
    (
        "docs/cli.md",
        "arachne dot examples/documents/quick_reference.json | dot -Tsvg > graph.svg",
    ): "needs Graphviz",
    (
        "docs/live-change.md",
        'printf \'{"arachne": "1.0", "name": "demo", "nodes": [{"id": "calc", '
        '"component": "arachne.core.map", "config": {"expression": "value * 2"}}], '
        '"edges": []}\' > watched.json',
    ): "runs until interrupted, waiting for edits",
    ("docs/service.md", "arachne serve &"): "talks to a running arachne serve",
    ("docs/cli.md", "arachne query executions --url http://127.0.0.1:5006"): (
        "talks to a running arachne serve"
    ),
    ("examples/dashboard/README.md", "uv run arachne serve"): (
        "serves until stopped; tests/dashboard drives the same steps in Chromium"
    ),
    ("docs/dashboard.md", "uv run arachne serve"): (
        "serves until stopped; tests/dashboard drives it in Chromium"
    ),
    ("examples/socketio_js/README.md", "npm install"): "needs Node.js and a running arachne serve",
    (
        "docs/durable.md",
        "arachne run orders.yaml --store run.db",
    ): "needs a document and its input file; tests/cli/test_durable.py runs it",
    (
        "docs/durable.md",
        "arachne run orders.yaml --store run.db --record e1",
    ): "needs a document and its input file; tests/cli/test_durable.py runs it",
}

MARKER = re.compile(r"<!--\s*doc-test:(?P<body>.*?)-->", re.DOTALL)
SKIP = re.compile(r"skip\s*\((?P<reason>[^)]*)\)\s*$")
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[^\s`]*)[^`]*$")
FILE_HEADER = re.compile(r"^#\s*(?P<name>[\w.-]+\.(?:py|ya?ml|json|jsonl))\s*$")
UV_RUN = re.compile(r"\buv run (?:--no-dev )?(?=arachne\b|python\b)")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page, with the marker before it (if any)."""

    page: str
    line: int  # of the opening fence, from 1
    lang: str
    code: str
    marker: str | None

    @property
    def first_line(self) -> str:
        return self.code.strip().splitlines()[0].split("  #")[0].strip() if self.code else ""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def relative(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def blocks_of(page: Path) -> list[Block]:
    """Return the page's fenced blocks, each with the ``doc-test`` marker just before it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, lang = opening["indent"], opening["lang"].lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        marker = MARKER.search(lines[k]) if k >= 0 else None
        found.append(
            Block(
                relative(page),
                i + 1,
                lang,
                "\n".join(body) + "\n",
                marker["body"].strip() if marker else None,
            )
        )
        i = j + 1
    return found


def runnable(block: Block) -> bool:
    return block.lang in PYTHON or block.lang in SHELL


def skip_reason(block: Block) -> str | None:
    if block.marker is None or block.marker == "continues":
        return None
    match = SKIP.match(block.marker)
    return match["reason"].strip() if match else None


def shell_script(block: Block) -> str:
    code = block.code
    if block.lang == "console":
        commands = [line[2:] for line in code.splitlines() if line.startswith("$ ")]
        code = "\n".join(commands) + "\n"
    return UV_RUN.sub("", code)


def prepare(directory: Path) -> dict[str, str]:
    """Fill ``directory`` as a page's working directory; return the environment to run in."""
    shutil.copytree(
        ROOT / "examples",
        directory / "examples",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("PYTHONPATH", None)
    env["NO_COLOR"] = "1"
    return env


def run_page(page: Path, directory: Path) -> list[tuple[Block, subprocess.CompletedProcess[str]]]:
    """Run the page's blocks in order in ``directory``; return each run block with its result."""
    env = prepare(directory)
    blocks = blocks_of(page)
    results: list[tuple[Block, subprocess.CompletedProcess[str]]] = []
    program = ""
    for index, block in enumerate(blocks):
        header = FILE_HEADER.match(block.code.splitlines()[0]) if block.code.strip() else None
        if header:
            (directory / header["name"]).write_text(block.code, encoding="utf-8")
        if not runnable(block) or skip_reason(block) is not None:
            continue
        if block.lang in PYTHON:
            program = program + block.code if block.marker == "continues" else block.code
            following = blocks[index + 1 :]
            continued = next((b for b in following if b.lang in PYTHON), None)
            if continued is not None and continued.marker == "continues":
                continue  # runs with the block that continues it
            script = directory / "doc_snippet.py"
            script.write_text(program, encoding="utf-8")
            command = [sys.executable, str(script)]
        else:
            command = ["bash", "-e", "-o", "pipefail", "-c", shell_script(block)]
        result = subprocess.run(
            command,
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        results.append((block, result))
    return results


def failures(results: list[tuple[Block, subprocess.CompletedProcess[str]]]) -> str:
    return "\n\n".join(
        f"{block.where} ({block.lang}) exited {result.returncode}:\n{block.code}"
        f"--- stdout\n{result.stdout[-2000:]}--- stderr\n{result.stderr[-3000:]}"
        for block, result in results
        if result.returncode != 0
    )


Results = list[tuple[Block, subprocess.CompletedProcess[str]]]


@pytest.fixture(scope="module")
def page_runs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Results]:
    """Run a page (given relative to the root) once per module; later calls reuse its results."""
    done: dict[str, Results] = {}

    def results_of(name: str) -> Results:
        if name not in done:
            done[name] = run_page(ROOT / name, tmp_path_factory.mktemp("doc"))
        return done[name]

    return results_of


@pytest.mark.parametrize("page", [relative(page) for page in PAGES])
def test_every_block_of_the_page_runs(page: str, page_runs: Callable[[str], Results]) -> None:
    results = page_runs(page)
    assert not failures(results), failures(results)


def test_pages_have_blocks_to_run() -> None:
    counts = {relative(page): sum(map(runnable, blocks_of(page))) for page in PAGES}
    assert counts["README.md"] >= 3
    assert all(counts[f"docs/{name}"] for name in ("graph-documents.md", "expressions.md"))
    assert sorted(relative(page) for page in PAGES if page.parent.parent.name == "examples") == [
        f"examples/{folder.name}/README.md"
        for folder in sorted((ROOT / "examples").iterdir())
        if folder.is_dir() and folder.name != "__pycache__"
    ]


def test_markers_are_known_and_skips_give_a_reason() -> None:
    problems = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        marked = {block.marker for block in blocks_of(page) if block.marker is not None}
        for marker in MARKER.finditer(text):
            body = marker["body"].strip()
            if body not in marked:
                problems.append(f"{relative(page)}: {marker[0]!r} is not right before a block")
            elif body != "continues" and not (SKIP.match(body) and SKIP.match(body)["reason"]):
                problems.append(f"{relative(page)}: {marker[0]!r}: write skip (REASON)")
        for block in blocks_of(page):
            if block.marker == "continues" and block.lang not in PYTHON:
                problems.append(f"{block.where}: only a python block can continue another")
    assert problems == []


def test_the_skipped_blocks_are_the_listed_ones() -> None:
    skipped = {
        (block.page, block.first_line): skip_reason(block)
        for page in PAGES
        for block in blocks_of(page)
        if runnable(block) and skip_reason(block) is not None
    }
    assert skipped == SKIPPED


@pytest.mark.parametrize(
    ("page", "needs"),
    [("README.md", "Graphviz"), ("docs/cli.md", "Graphviz")],
)
def test_a_page_that_skips_a_block_says_what_it_needs(page: str, needs: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    assert needs in MARKER.sub("", text)
    assert "apt install graphviz" in text
    assert "brew install graphviz" in text


def test_readme_first_graph_prints_what_it_says(page_runs: Callable[[str], Results]) -> None:
    first = next(result for block, result in page_runs("README.md") if block.lang == "python")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["0", "2", "4", "6", "8", "5"]


def test_readme_document_commands_print_what_they_say(
    page_runs: Callable[[str], Results],
) -> None:
    commands = next(
        result for block, result in page_runs("README.md") if "--inject input:in=21" in block.code
    )
    assert commands.returncode == 0, commands.stderr
    assert commands.stdout.splitlines()[:4] == ["42", "2", "4", "6"]


def test_logging_configured_as_the_docs_say_shows_the_logger_s_values(
    page_runs: Callable[[str], Results],
) -> None:
    shown = [
        result.stderr
        for block, result in page_runs("docs/components.md") + page_runs("docs/graph-documents.md")
        if "logging.basicConfig(level=logging.INFO)" in block.code and "runtime.run()" in block.code
    ]
    assert len(shown) == 2
    assert all("INFO:arachne.node.output:42" in stderr.splitlines() for stderr in shown)


def test_the_own_node_example_prints_what_it_says(page_runs: Callable[[str], Results]) -> None:
    run = next(
        result
        for block, result in page_runs("docs/components.md")
        if "--components shop_nodes" in block.code
    )
    assert run.stdout.split() == ["21"]


def test_the_lineage_example_prints_what_it_says(page_runs: Callable[[str], Results]) -> None:
    run = next(
        result
        for block, result in page_runs("docs/query-plane.md")
        if "Runtime(lineage=1.0)" in block.code
    )
    assert run.stdout.splitlines() == [
        "numbers #1 via numbers -> square -> both",
        "numbers #2 via numbers -> square -> both",
        "numbers #2 via numbers -> even -> both",
    ]


def test_architecture_names_every_module() -> None:
    text = (ROOT / "docs/architecture.md").read_text(encoding="utf-8")
    package = ROOT / "src/arachne"
    missing = []
    for module in sorted(package.rglob("*.py")):
        path = module.relative_to(package)
        if path.name == "__init__.py" or len(path.parts) == 1:
            continue
        folder = path.parent.as_posix() + "/"
        if path.as_posix() not in text and not (f"`{path.name}`" in text and folder in text):
            missing.append(path.as_posix())
    assert missing == []
