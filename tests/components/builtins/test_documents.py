"""Every core built-in through a graph document: happy paths and error paths, end to end.

Documents read from and write to JSON-lines files in ``tmp_path``, so what a graph did is
read back from disk, as a user of ``arachne run`` would see it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from arachne import Runtime
from arachne.runtime import FakeClock
from arachne.spec import load
from tests.components.builtins.documents import Files, document, edge, node, run_document


@pytest.fixture
def caplog_info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="arachne.node")
    return caplog


def test_the_quick_reference_pipeline_logs_42(caplog_info: pytest.LogCaptureFixture) -> None:
    doc = {
        "symbia": "1.0",
        "name": "Simple Pipeline",
        "version": "1.0.0",
        "nodes": [
            {"id": "input", "component": "symbia.core.passthrough"},
            {"id": "double", "component": "symbia.core.map", "config": {"expression": "value * 2"}},
            {"id": "output", "component": "symbia.core.logger"},
        ],
        "edges": [
            {
                "id": "e1",
                "source": {"node": "input", "port": "out"},
                "target": {"node": "double", "port": "in"},
            },
            {
                "id": "e2",
                "source": {"node": "double", "port": "out"},
                "target": {"node": "output", "port": "in"},
            },
        ],
    }
    runtime = Runtime(clock=FakeClock())
    runtime.register(load(doc))
    runtime.execution.inject("input", "in", 21)
    runtime.execution.request_stop()
    runtime.run()
    assert [(r.name, r.getMessage()) for r in caplog_info.records] == [
        ("arachne.node.output", "42")
    ]
    assert runtime.stats().nodes["output"].emitted == 1


def test_filter_routes_to_out_rejected_and_error(tmp_path: Path) -> None:
    files = Files(tmp_path, [5, 20, None, "x", 11])
    doc = document(
        [
            files.source(),
            node("keep", "symbia.core.filter", predicate="value.toFixed(0) > 10"),
            files.sink("out"),
            files.sink("rejected"),
            files.sink("errors"),
        ],
        [
            edge("src.out", "keep.in"),
            edge("keep.out", "out.in"),
            edge("keep.rejected", "rejected.in"),
            edge("keep.error", "errors.in"),
        ],
    )
    runtime = run_document(doc)
    assert files.read("out") == [20, 11]
    assert files.read("rejected") == [5]
    errors = files.read("errors")
    assert [(e["payload"], e["error_type"], e["port"]) for e in errors] == [
        (None, "ExpressionError", "in"),
        ("x", "ExpressionError", "in"),
    ]
    assert runtime.stats().nodes["keep"].dead_lettered == 2


def test_filter_with_error_unconnected_drops_throwing_values_and_goes_on(tmp_path: Path) -> None:
    files = Files(tmp_path, [None, 12, 3])
    doc = document(
        [
            files.source(),
            node("keep", "arachne.core.filter", predicate="value > 10 && value.x === undefined"),
            files.sink("out"),
        ],
        [edge("src.out", "keep.in"), edge("keep.out", "out.in")],
    )
    runtime = run_document(doc)
    assert files.read("out") == [12]
    assert runtime.stats().state == "completed"


def test_map_and_split_in_one_document(tmp_path: Path) -> None:
    files = Files(tmp_path, [{"status": "active", "n": 1}, {"status": "off", "n": 2}, {}])
    doc = document(
        [
            files.source(),
            node("branch", "symbia.core.split", condition="value.status === 'active'"),
            node("n", "symbia.core.map", expression="value.n * 10"),
            files.sink("active"),
            files.sink("other"),
        ],
        [
            edge("src.out", "branch.in"),
            edge("branch.true", "n.in"),
            edge("n.out", "active.in"),
            edge("branch.false", "other.in"),
        ],
    )
    run_document(doc)
    assert files.read("active") == [10]
    assert files.read("other") == [{"status": "off", "n": 2}, {}]


def test_map_errors_leave_by_error(tmp_path: Path) -> None:
    files = Files(tmp_path, [{"a": {"b": 1}}, {"a": None}])
    doc = document(
        [
            files.source(),
            node("get", "arachne.core.map", expression="value.a.b"),
            files.sink("out"),
            files.sink("errors"),
        ],
        [edge("src.out", "get.in"), edge("get.out", "out.in"), edge("get.error", "errors.in")],
    )
    run_document(doc)
    assert files.read("out") == [1]
    assert [e["payload"] for e in files.read("errors")] == [{"a": None}]


def test_merge_passthrough_and_logger(
    tmp_path: Path, caplog_info: pytest.LogCaptureFixture
) -> None:
    files = Files(tmp_path, [1, 2])
    doc = document(
        [
            files.source("a"),
            files.source("b"),
            node("both", "symbia.core.merge", inputs=["left", "right"]),
            node("via", "symbia.core.passthrough"),
            node("log", "symbia.core.logger", level="warning", prefix="got "),
            files.sink("out"),
        ],
        [
            edge("a.out", "both.left"),
            edge("b.out", "both.right"),
            edge("both.out", "via.in"),
            edge("via.out", "log.in"),
            edge("log.out", "out.in"),
        ],
    )
    run_document(doc)
    assert sorted(files.read("out")) == [1, 1, 2, 2]
    assert sorted(r.getMessage() for r in caplog_info.records) == [
        "got 1",
        "got 1",
        "got 2",
        "got 2",
    ]


def test_accumulator_and_delay_on_the_fake_clock(tmp_path: Path) -> None:
    files = Files(tmp_path, list(range(5)))
    doc = document(
        [
            files.source(),
            node("wait", "symbia.core.delay", ms=1),
            node("batch", "symbia.core.accumulator", count=2),
            files.sink("out"),
        ],
        [edge("src.out", "wait.in"), edge("wait.out", "batch.in"), edge("batch.out", "out.in")],
    )
    run_document(doc)
    assert files.read("out") == [[0, 1], [2, 3], [4]]
