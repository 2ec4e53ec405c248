"""Log records of a partition's process, carried to its coordinator and logged there again."""

from __future__ import annotations

import logging

import pytest

from arachne.distributed.processes import ProcessCluster
from arachne.distributed.remote_logs import ForwardingHandler, check_level, entry, relog
from tests.distributed.conftest import Kept


def test_a_record_travels_as_data_and_is_logged_again_under_its_logger(kept: Kept) -> None:
    sent: list[dict[str, object]] = []
    handler = ForwardingHandler(sent.append, "INFO")
    source = logging.getLogger("arachne.node.total")
    source.addHandler(handler)
    source.propagate = False
    try:
        source.debug("below the level")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            source.exception("total %s failed", 7, extra={"node_id": "total"})
    finally:
        source.removeHandler(handler)
        source.propagate = True
    (data,) = sent
    assert data["logger"] == "arachne.node.total"
    assert data["level"] == logging.ERROR
    assert data["message"] == "total 7 failed"
    assert data["node_id"] == "total"
    assert "RuntimeError: boom" in str(data["exception"])
    relog("h1", data)
    (record,) = kept.records
    assert record.name == "arachne.node.total"
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "h1: total 7 failed"
    assert record.partition == "h1"  # type: ignore[attr-defined]
    assert record.node_id == "total"  # type: ignore[attr-defined]
    assert "RuntimeError: boom" in (record.exc_text or "")


def test_data_of_the_wrong_shape_or_below_the_level_is_not_logged(kept: Kept) -> None:
    relog("h1", {"logger": "arachne.x", "level": "INFO", "message": "m"})
    relog("h1", {"logger": "other", "level": logging.ERROR, "message": "m"})
    relog("h1", {"logger": "arachne.x", "level": logging.DEBUG, "message": "m"})
    assert kept.records == []


def test_a_long_message_travels_cut_and_says_so() -> None:
    record = logging.LogRecord("arachne.x", logging.INFO, __file__, 1, "x" * 20_000, None, None)
    assert entry(record)["message"].endswith("... (3616 more characters)")  # type: ignore[union-attr]


def test_levels_are_checked_by_name_or_number() -> None:
    assert check_level("info") == logging.INFO
    assert check_level(15) == 15
    assert check_level(None) is None
    with pytest.raises(ValueError, match="use DEBUG, INFO"):
        check_level("loud")
    with pytest.raises(ValueError, match="level name or number"):
        check_level(True)  # type: ignore[arg-type]


def test_worker_processes_log_through_their_coordinator(kept: Kept) -> None:
    """What a node in a worker logs at INFO is logged again here, led by its partition."""
    with ProcessCluster(
        {"builder": "tests.distributed.pipelines:logged", "kwargs": {"count": 5}},
        {"a": ["source"], "b": ["chatty", "sink"]},
        log_level="INFO",
    ) as cluster:
        cluster.run(timeout=60)
    said = [r.getMessage() for r in kept.records if r.name == "arachne.node.chatty"]
    assert said == [f"b: saw {n}" for n in range(5)]
    assert all(r.partition == "b" for r in kept.records if r.name == "arachne.node.chatty")  # type: ignore[attr-defined]


def test_without_a_level_nothing_is_forwarded(kept: Kept) -> None:
    with ProcessCluster(
        {"builder": "tests.distributed.pipelines:logged", "kwargs": {"count": 5}},
        {"a": ["source"], "b": ["chatty", "sink"]},
    ) as cluster:
        cluster.run(timeout=60)
    assert [r for r in kept.records if r.name == "arachne.node.chatty"] == []
