"""The JSON text the logger and the JSON-lines sink write."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from arachne import ErrorRecord
from arachne.components.json_text import dumps, render


@dataclass
class Point:
    x: int
    y: int


def test_dumps_is_compact_and_keeps_unicode() -> None:
    assert dumps({"a": [1, 2.5, None, True], "é": "ü"}) == '{"a":[1,2.5,null,true],"é":"ü"}'


def test_dumps_writes_records_dataclasses_tuples_and_sets() -> None:
    record = ErrorRecord("n", "in", "ValueError", "bad", 1, 3)
    assert dumps(record).startswith('{"node_id":"n","port":"in","error_type":"ValueError"')
    assert dumps(Point(1, 2)) == '{"x":1,"y":2}'
    assert dumps((1, 2)) == "[1,2]"
    assert dumps(frozenset({3})) == "[3]"


def test_dumps_names_what_it_cannot_write() -> None:
    with pytest.raises(TypeError, match="type bytes cannot be written as JSON"):
        dumps(b"x")
    with pytest.raises(ValueError, match="cannot write the value as JSON: Out of range float"):
        dumps([float("inf")])


def test_render_falls_back_to_repr() -> None:
    assert render(b"x") == "b'x'"
    assert render(float("nan")) == "NaN"
