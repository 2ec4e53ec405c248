"""`arachne run` as a process: a pipe that stays open, signals, a terminal for the display."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.conftest import QUICK_REFERENCE, ROOT

ARACHNE = str(Path(sys.executable).parent / "arachne")
WAIT = 30.0  # generous: a bound on a hang, not a timing claim


def start(*args: str, stderr: int | None = subprocess.PIPE) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as users run it
    return subprocess.Popen(
        [ARACHNE, "run", str(QUICK_REFERENCE), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )


def read_line(proc: subprocess.Popen[bytes]) -> bytes:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], WAIT)
    assert ready, "no output line arrived"
    return proc.stdout.readline()


def test_values_from_an_open_pipe_flow_as_they_arrive_and_ctrl_c_stops() -> None:
    with start("-q") as proc:
        assert proc.stdin is not None
        proc.stdin.write(b"21\n")
        proc.stdin.flush()
        assert read_line(proc) == b"42\n"  # while stdin is still open
        proc.stdin.write(b"5\n")
        proc.stdin.flush()
        assert read_line(proc) == b"10\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT) == 130  # interrupted, not finished: 128 + SIGINT


def test_sigterm_stops_gracefully_and_keeps_what_was_printed() -> None:
    with start("-q") as proc:
        assert proc.stdin is not None
        proc.stdin.write(b"1\n")
        proc.stdin.flush()
        assert read_line(proc) == b"2\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT) == 143  # 128 + SIGTERM; what was printed is kept


def test_timeout_ends_a_run_whose_input_never_ends() -> None:
    with start("--timeout", "0.5") as proc:  # stdin stays open: the input never ends
        assert proc.wait(WAIT) == 1
        assert proc.stderr is not None
        assert b"--timeout 0.5 s reached" in proc.stderr.read()


def test_with_the_display_on_a_terminal_values_still_go_to_stdout() -> None:
    leader, follower = pty.openpty()
    try:
        with start("--inject", "input:in=21", "--progress", stderr=follower) as proc:
            os.close(follower)
            out, _ = proc.communicate(b"", timeout=WAIT)
    finally:
        drain(leader)
    assert proc.returncode == 0
    assert out == b"42\n"


def drain(fd: int) -> None:
    deadline = time.monotonic() + WAIT
    try:
        while time.monotonic() < deadline and select.select([fd], [], [], 0.1)[0]:
            if not os.read(fd, 65536):
                break
    except OSError:
        pass
    finally:
        os.close(fd)
