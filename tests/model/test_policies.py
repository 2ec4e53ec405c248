from __future__ import annotations

import dataclasses

import pytest

from arachne.model.policies import OVERFLOW_NAMES, Coalesce, check_overflow, overflow_name


def test_overflow_names_are_the_four_documented_policies() -> None:
    assert OVERFLOW_NAMES == ("block", "drop", "latest", "fail")


@pytest.mark.parametrize("name", ["block", "drop", "latest", "fail"])
def test_check_overflow_returns_known_names(name: str) -> None:
    assert check_overflow(name) == name
    assert overflow_name(name) == name  # type: ignore[arg-type]


def test_check_overflow_returns_coalesce_itself() -> None:
    policy = Coalesce(lambda queued, arriving: queued + arriving)
    assert check_overflow(policy) is policy


@pytest.mark.parametrize("value", ["Block", "coalesce", "", None, 3, Coalesce])
def test_check_overflow_rejects_anything_else_naming_the_choices(value: object) -> None:
    with pytest.raises(ValueError, match="unknown overflow policy") as info:
        check_overflow(value)
    message = str(info.value)
    assert repr(value) in message
    assert "'block', 'drop', 'latest', 'fail'" in message
    assert "Coalesce(fn)" in message


def test_coalesce_is_named_coalesce_and_keeps_its_merge() -> None:
    policy = Coalesce(max)
    assert policy.name == "coalesce"
    assert overflow_name(policy) == "coalesce"
    assert policy.merge(3, 7) == 7


def test_coalesce_is_frozen() -> None:
    policy = Coalesce(max)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.merge = min  # type: ignore[misc]
