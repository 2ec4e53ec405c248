"""Isolate workers: framed requests answered, and a worker killed mid-call fails that call."""

from __future__ import annotations

import os
import signal

import pytest

from arachne.components.code.isolates import MAX_FRAME, Worker, WorkerCrashed

BOUND = 30.0  # seconds: a bound on a hang, not a timing claim


def test_a_worker_answers_requests_in_its_own_process() -> None:
    worker = Worker()
    try:
        assert worker.request("ping").result(BOUND) == {"pid": worker.pid}
        assert worker.pid != os.getpid()
        value = {"text": "é", "n": [1, 2.5, None]}
        assert worker.request("echo", value=value).result(BOUND) == value
        with pytest.raises(RuntimeError, match="unknown op 'nope'"):
            worker.request("nope").result(BOUND)
        with pytest.raises(ValueError, match="over"):
            worker.request("echo", value="x" * MAX_FRAME)
        assert worker.alive  # refused before it was sent: the worker serves on
        assert worker.request("echo", value=1).result(BOUND) == 1
    finally:
        worker.close()
    assert not worker.alive


def test_a_worker_killed_mid_call_fails_that_call_and_a_fresh_one_serves_the_next() -> None:
    worker = Worker()
    try:
        worker.request("ping").result(BOUND)
        os.kill(worker.pid, signal.SIGSTOP)  # holds the call unanswered, for certain
        pending = worker.request("echo", value="lost")
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(WorkerCrashed, match="ended by SIGKILL"):
            pending.result(BOUND)
        with pytest.raises(WorkerCrashed):
            worker.request("ping").result(BOUND)  # a dead worker refuses at once
    finally:
        worker.close()
    fresh = Worker()
    try:
        assert fresh.request("echo", value="next").result(BOUND) == "next"
    finally:
        fresh.close()
