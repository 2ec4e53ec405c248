"""DeadLetters: records numbered on arrival, kept up to a limit, read and removed by number."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arachne.model.dead_letters import DEFAULT_LIMIT, DeadLetters, KeptLetters
from arachne.model.error_record import ErrorRecord
from arachne.model.flatten import node_spec
from arachne.model.message import Message


def fail(letters: DeadLetters, *payloads: object) -> None:
    for payload in payloads:
        letters.on_message("in", Message(ErrorRecord("n", "in", "ValueError", "bad", 1, payload)))


def test_records_are_numbered_on_arrival_and_the_numbers_go_with_overflow() -> None:
    letters = DeadLetters(limit=2)
    fail(letters, "a", "b", "c")
    assert [r.payload for r in letters.records] == ["b", "c"]
    assert letters.seqs == [2, 3]
    assert (letters.received, letters.overflowed) == (3, 1)
    kept = letters.kept()
    assert kept == KeptLetters((2, 3), tuple(letters.records), 1)
    assert len(kept) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        kept.overflowed = 0  # type: ignore[misc]


def test_numbers_are_never_given_twice_after_a_drain_or_a_removal() -> None:
    letters = DeadLetters()
    fail(letters, "a", "b", "c")
    records = letters.records
    assert letters.remove({2, 7}) == 1
    assert letters.records is records  # changed in place
    assert ([r.payload for r in letters.records], letters.seqs) == (["a", "c"], [1, 3])
    assert [r.payload for r in letters.drain()] == ["a", "c"]
    assert (letters.records, letters.seqs) == ([], [])
    fail(letters, "d")
    assert letters.seqs == [4]
    assert letters.remove(set()) == 0


def test_a_new_limit_while_running_drops_the_oldest_counted() -> None:
    letters = DeadLetters(limit=5)
    fail(letters, *range(5))
    letters.on_config({"limit": 2})
    assert (letters.seqs, letters.overflowed, letters.limit) == ([4, 5], 3, 2)
    letters.on_config({})
    assert letters.limit == DEFAULT_LIMIT
    with pytest.raises(ValueError, match="limit must be >= 1 or None, got 0"):
        letters.on_config({"limit": 0})
    with pytest.raises(ValueError, match="got True"):
        DeadLetters(limit=True)


def test_the_limit_is_the_node_s_config() -> None:
    assert node_spec("dead", DeadLetters(limit=3)).config == {"limit": 3}
    assert node_spec("dead", DeadLetters()).config == {"limit": DEFAULT_LIMIT}


@given(
    st.integers(min_value=1, max_value=8),
    st.lists(st.one_of(st.just("fail"), st.sets(st.integers(0, 40))), max_size=40),
)
def test_records_and_numbers_stay_side_by_side(limit: int, steps: list[object]) -> None:
    letters = DeadLetters(limit=limit)
    for step in steps:
        if step == "fail":
            fail(letters, letters.received + 1)  # payload: the number it will get
        else:
            assert isinstance(step, set)
            before = set(letters.seqs)
            assert letters.remove(step) == len(before & step)
        assert [r.payload for r in letters.records] == letters.seqs
        assert letters.seqs == sorted(set(letters.seqs))
        assert len(letters.records) <= limit
