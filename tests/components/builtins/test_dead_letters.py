"""dead-letters: a DeadLetters built from a document, fed by a node's error port."""

from __future__ import annotations

import time
from typing import Any

import pytest

from arachne import DeadLetters, Runtime
from arachne.components import Registry
from arachne.components.builtins._defs import ERROR_RECORD_SCHEMA
from arachne.components.builtins.dead_letters import DEAD_LETTERS
from arachne.model.dead_letters import DEFAULT_LIMIT
from arachne.model.errors import SpecError
from arachne.runtime import FakeClock
from arachne.spec import load


def document(config: dict[str, Any] | None = None) -> dict[str, Any]:
    dead: dict[str, Any] = {"id": "dead", "component": "symbia.core.dead-letters"}
    if config is not None:
        dead["config"] = config
    return {
        "arachne": "1.0",
        "name": "letters",
        "nodes": [
            {
                "id": "calc",
                "component": "arachne.core.map",
                "config": {"expression": "value.a.b"},
                "errors": "dead_letter",
            },
            dead,
        ],
        "edges": [{"source": "calc:error", "target": "dead:in"}],
    }


def test_failed_values_are_kept_as_records_up_to_the_limit() -> None:
    graph = load(document({"limit": 2}))
    runtime = Runtime(clock=FakeClock())
    runtime.register(graph)
    ex = runtime.execution
    for value in ({"a": {"b": 1}}, 1, 2, 3):
        ex.inject("calc", "in", value)
    ex.request_stop()
    runtime.run()
    kept = ex.dead_letters()["dead"]
    assert kept.seqs == (2, 3)
    assert [(r.node_id, r.port, r.payload) for r in kept.records] == [
        ("calc", "in", 2),
        ("calc", "in", 3),
    ]
    assert kept.overflowed == 1
    assert {r.error_type for r in kept.records} == {"ExpressionError"}


def test_the_config_is_a_limit_of_10000_by_default() -> None:
    built = Registry.default().create("arachne.core.dead-letters")
    assert isinstance(built, DeadLetters)
    assert built.limit == DEFAULT_LIMIT
    assert dict(built.context.config) == {"limit": DEFAULT_LIMIT}


@pytest.mark.parametrize("bad", [0, "many", None, 1.5])
def test_a_limit_that_is_not_an_integer_of_at_least_one_is_refused(bad: object) -> None:
    with pytest.raises(SpecError, match=r"nodes\[1\]\.config\.limit"):
        load(document({"limit": bad}))


def test_its_input_takes_error_records() -> None:
    [port] = DEAD_LETTERS.inputs
    assert (port.name, dict(port.schema)) == ("in", dict(ERROR_RECORD_SCHEMA))
    assert DEAD_LETTERS.outputs == ()


def test_a_new_limit_is_taken_while_running() -> None:
    runtime = Runtime()
    runtime.register(load(document({"limit": 3})))
    ex = runtime.start()
    for value in (1, 2, 3):
        ex.inject("calc", "in", value)
    deadline = time.monotonic() + 10
    while len(ex.dead_letters()["dead"]) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    assert ex.update_config("dead", {"limit": 1}) is True
    kept = ex.dead_letters()["dead"]
    assert (kept.seqs, kept.overflowed) == ((3,), 2)
    runtime.stop(timeout=10)
    runtime.shutdown()
