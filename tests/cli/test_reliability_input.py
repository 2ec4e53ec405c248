"""`arachne run` on cut-off input and on named pipes (issue 10, items 7 and 12)."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arachne.cli.main import app
from tests.cli.conftest import QUICK_REFERENCE, ROOT, edge, write_document
from tests.components.builtins.helpers import fifo

ARACHNE = str(Path(sys.executable).parent / "arachne")
BOUND = 10.0  # seconds: a bound on a hang, not a timing claim


class Logged(logging.Handler):
    """Keeps the messages logged to the ``arachne`` logger (the CLI stops it propagating)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


@pytest.fixture
def logged() -> Iterator[Logged]:
    handler = Logged()
    logger = logging.getLogger("arachne")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_a_cut_off_last_line_of_an_input_file_is_not_used_and_fails_the_run(
    runner: CliRunner, tmp_path: Path, logged: Logged
) -> None:
    data = tmp_path / "in.jsonl"
    data.write_bytes(b"10029128\n100")  # the file was cut off in the middle of 10029128
    result = runner.invoke(app, ["run", str(QUICK_REFERENCE), "-i", str(data), "-q"])
    assert result.stdout == "20058256\n"  # 100 (doubled: 200) never leaves
    assert result.exit_code == 1
    assert "1 message(s) failed" in result.stderr
    assert f"{str(data)!r} line 2: the last line has no newline" in logged.text


def test_a_cut_off_last_line_on_stdin_fails_the_run(runner: CliRunner, logged: Logged) -> None:
    result = runner.invoke(app, ["run", str(QUICK_REFERENCE), "-q"], input="21\n5")
    assert result.stdout == "42\n"
    assert result.exit_code == 1
    assert "stdin line 2: the last line has no newline" in logged.text


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_ctrl_c_stops_a_run_whose_source_waits_for_a_fifo_writer(tmp_path: Path) -> None:
    with fifo(tmp_path) as path:
        doc = write_document(
            tmp_path / "g.json",
            [
                {
                    "id": "src",
                    "component": "arachne.io.jsonl-source",
                    "config": {"path": str(path)},
                },
                {"id": "p", "component": "arachne.core.passthrough"},
            ],
            [edge("src:out", "p:in")],
        )
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the value shows as it is printed
        proc = subprocess.Popen(
            [ARACHNE, "run", str(doc), "--inject", "p:in=1", "-q"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], BOUND)
            assert ready, "the run printed nothing while its source waited for a writer"
            assert proc.stdout.readline() == b"1\n"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(BOUND) == 130  # stopped by Ctrl-C, gracefully
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def write_lines(path: Path, data: bytes) -> None:
    with contextlib.suppress(OSError), open(path, "wb") as pipe:
        pipe.write(data)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_fifo_is_accepted_as_input(runner: CliRunner, tmp_path: Path) -> None:
    with fifo(tmp_path) as path:
        proc = subprocess.Popen(
            [ARACHNE, "run", str(QUICK_REFERENCE), "-i", str(path), "-q"],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        writer = threading.Thread(target=write_lines, args=(path, b"1\n2\n"), daemon=True)
        writer.start()  # waits for a reader: in a thread, so a refusal cannot hang the test
        try:
            out, err = proc.communicate(timeout=BOUND)
            assert (out, proc.returncode) == (b"2\n4\n", 0), err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
