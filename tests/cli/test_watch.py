"""``arachne run --watch``: an edited document is committed into the running execution."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from tests.cli.conftest import ROOT

ARACHNE = str(Path(sys.executable).parent / "arachne")
BOUND = 10.0  # seconds: a bound on a hang, not a timing claim


def write(path: Path, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
    doc = {"arachne": "1.0", "name": "watched", "nodes": nodes, "edges": edges}
    path.write_text(json.dumps(doc), encoding="utf-8")


class Lines:
    """The lines of a stream, read by a thread as they come (``wait_for`` takes them in order)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.reader.start()

    def close(self) -> None:
        """Close the stream once its writer has ended and every line is read."""
        self.reader.join(BOUND)
        self.stream.close()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)

    def wait_for(self, words: str) -> str:
        """Return the next line holding ``words``; fail if none comes within ``BOUND``."""
        deadline = time.monotonic() + BOUND
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if words in line:
                return line
        raise AssertionError(f"no line with {words!r} within {BOUND} s")


class Run:
    """``arachne run DOC --watch --input -``, fed line by line."""

    def __init__(self, doc: Path) -> None:
        self.proc = subprocess.Popen(
            [ARACHNE, "run", str(doc), "--watch", "--input", "-", "--log-level", "WARNING"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self.out, self.err = Lines(self.proc.stdout), Lines(self.proc.stderr)

    def send(self, value: int) -> str:
        """Feed ``value``; return the next line printed."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{value}\n")
        self.proc.stdin.flush()
        return self.out.wait_for("").strip()

    def finish(self) -> int:
        """End the input; return the exit status."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            return self.proc.wait(BOUND)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.out.close()
            self.err.close()


MAP = {"id": "calc", "component": "arachne.core.map", "config": {"expression": "value * 2"}}


def test_an_edited_config_shows_in_the_next_output(tmp_path: Path) -> None:
    doc = tmp_path / "g.json"
    write(doc, [MAP], [])
    run = Run(doc)
    try:
        assert run.send(1) == "2"
        write(doc, [{**MAP, "config": {"expression": "value * 10"}}], [])
        assert "1 change(s) applied" in run.err.wait_for("--watch:")
        assert "~ node calc config" in run.err.wait_for("~ node")
        assert run.send(2) == "20"  # the same node, hot-reloaded
    finally:
        status = run.finish()
    assert status == 0


def test_a_node_added_to_the_document_joins_the_run(tmp_path: Path) -> None:
    doc = tmp_path / "g.json"
    write(doc, [MAP], [])
    run = Run(doc)
    try:
        assert run.send(3) == "6"
        plus = {**MAP, "id": "plus", "config": {"expression": "value + 1"}}
        edge = {"source": {"node": "calc", "port": "out"}, "target": {"node": "plus", "port": "in"}}
        write(doc, [MAP, plus], [edge])
        run.err.wait_for("change(s) applied")
        assert run.send(4) == "9"  # printed now from plus, the new output node
    finally:
        status = run.finish()
    assert status == 0


def test_a_broken_edit_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    doc = tmp_path / "g.json"
    write(doc, [MAP], [])
    run = Run(doc)
    try:
        assert run.send(1) == "2"
        write(doc, [{**MAP, "component": "arachne.core.nope"}], [])
        assert "was not applied; the run goes on as it was" in run.err.wait_for("--watch:")
        assert run.send(5) == "10"
    finally:
        status = run.finish()
    assert status == 0


def test_a_node_that_cannot_take_a_new_config_is_replaced_with_a_warning(tmp_path: Path) -> None:
    wait = {"id": "wait", "component": "arachne.core.delay", "config": {"ms": 1}}
    doc = tmp_path / "g.json"
    write(doc, [wait], [])
    run = Run(doc)
    try:
        assert run.send(1) == "1"
        write(doc, [{**wait, "config": {"ms": 2}}], [])
        assert "~" not in run.err.wait_for("change(s) applied")  # a replacement, not a reload
        said = run.err.wait_for("was replaced")
        assert "node 'wait' was replaced by a new instance" in said
        assert run.send(2) == "2"
    finally:
        status = run.finish()
    assert status == 0
