"""Checkpoints: only committed ones are read back, all of their parts; a crash leaves the last."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from arachne.durable import Checkpoints, SqliteStore

BOUND = 30.0  # seconds: a bound on a hang, not a timing claim


def test_a_checkpoint_is_read_back_only_once_committed_with_all_its_parts(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "run.db") as store:
        checkpoints = Checkpoints(store, "run-1", clock=lambda: 50.0)
        assert checkpoints.latest() is None
        first = checkpoints.begin()
        checkpoints.save(first, "state", "count", {"total": 3})
        checkpoints.save(first, "position", "read", 120)
        assert checkpoints.latest() is None  # pending: not read back
        checkpoints.commit(first)
        latest = checkpoints.latest()
        assert latest is not None
        assert (latest.id, latest.committed_at) == (first, 50.0)
        assert latest.part("state", "count") == {"total": 3}
        assert latest.part("position", "read") == 120
        assert latest.part("sink", "out", "none") == "none"
        # Another run in the same file is apart.
        assert Checkpoints(store, "run-2").latest() is None


def test_only_the_newest_are_kept_and_numbers_only_grow(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "run.db") as store:
        checkpoints = Checkpoints(store, "run", keep=2)
        for value in range(5):
            number = checkpoints.begin()
            checkpoints.save(number, "state", "n", value)
            checkpoints.commit(number)
        assert checkpoints.committed() == [4, 5]
        latest = checkpoints.latest()
        assert latest is not None
        assert latest.part("state", "n") == 4
        dropped = checkpoints.begin()  # pending, then abandoned
        checkpoints.abandon()
        assert checkpoints.begin() == dropped  # (a number that never committed)


def test_mistakes_are_named(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "run.db") as store:
        checkpoints = Checkpoints(store, "run")
        number = checkpoints.begin()
        with pytest.raises(ValueError, match="kind must be one of state, position, sink"):
            checkpoints.save(number, "memo", "x", 1)
        with pytest.raises(ValueError, match="must be JSON data to be checkpointed"):
            checkpoints.save(number, "state", "x", {1, 2})
        checkpoints.commit(number)
        with pytest.raises(ValueError, match="is committed, not pending; begin a new one"):
            checkpoints.save(number, "state", "x", 1)
        with pytest.raises(ValueError, match="is unknown, not pending"):
            checkpoints.commit(99)
        with pytest.raises(ValueError, match="keep must be an int >= 1"):
            Checkpoints(store, "run", keep=0)


WRITER = textwrap.dedent(
    """
    import sys, time
    from arachne.durable import Checkpoints, SqliteStore
    checkpoints = Checkpoints(SqliteStore(sys.argv[1]), "run", keep=3)
    for n in range(1, 1000):
        number = checkpoints.begin()
        for part in range(10):
            checkpoints.save(number, "state", f"node{part}", {"n": n})
            if n == 7 and part == 5:  # half of checkpoint 7 saved, not committed
                print("half", flush=True)
                time.sleep(3600)
        checkpoints.commit(number)
    """
)


def test_a_process_killed_mid_checkpoint_leaves_the_last_committed_one(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "half"
        writer.send_signal(signal.SIGKILL)
        writer.wait(BOUND)
    finally:
        writer.kill()
        if writer.stdout is not None:
            writer.stdout.close()
    with SqliteStore(path) as store:
        checkpoints = Checkpoints(store, "run", keep=3)
        latest = checkpoints.latest()
        assert latest is not None
        assert latest.id == 6
        assert {name: value["n"] for name, value in latest.parts["state"].items()} == {
            f"node{part}": 6 for part in range(10)
        }
        assert checkpoints.committed() == [4, 5, 6]
        assert checkpoints.begin() == 7  # the half-written 7 is dropped and begun afresh
