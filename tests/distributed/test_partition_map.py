"""Key-group ranges and owners under an epoch, and the audit of route changes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arachne.distributed.partition_map import GroupRange, PartitionMap, RouteAudit
from arachne.distributed.placement import KEY_GROUPS, key_group


def test_assign_splits_the_groups_evenly_into_contiguous_ranges() -> None:
    pm = PartitionMap.assign(["a", "b", "c"])
    assert pm.groups == KEY_GROUPS == 128
    assert [(s.start, s.stop, o) for s, o in pm.ranges] == [
        (0, 42, "a"),
        (42, 85, "b"),
        (85, 128, "c"),
    ]
    assert pm.epoch == 0
    assert pm.owner_of_group(0) == "a"
    assert pm.owner_of_group(127) == "c"
    assert pm.owner("ACME") == pm.owner_of_group(key_group("ACME"))


def test_a_map_must_cover_every_group_once() -> None:
    with pytest.raises(ValueError, match="have no owner, or overlap"):
        PartitionMap(8, ((GroupRange(0, 4), "a"), (GroupRange(5, 8), "b")))
    with pytest.raises(ValueError, match="cover 4 key groups, not 8"):
        PartitionMap(8, ((GroupRange(0, 4), "a"),))
    with pytest.raises(ValueError, match="name one twice"):
        PartitionMap.assign(["a", "a"])
    with pytest.raises(ValueError, match="start < stop"):
        GroupRange(3, 3)


def test_a_move_hands_one_range_over_under_the_next_epoch() -> None:
    pm = PartitionMap.assign(["a", "b"])  # a: [0, 64), b: [64, 128)
    moved = pm.moved(GroupRange(16, 32), "b")
    assert moved.epoch == 1
    assert [(str(s), o) for s, o in moved.ranges] == [
        ("[0, 16)", "a"),
        ("[16, 32)", "b"),
        ("[32, 64)", "a"),
        ("[64, 128)", "b"),
    ]
    back = moved.moved(GroupRange(16, 32), "a")
    assert back.ranges == pm.ranges  # neighbours of one owner merge again
    assert back.epoch == 2
    with pytest.raises(ValueError, match="already"):
        pm.moved(GroupRange(0, 8), "a")
    with pytest.raises(ValueError, match="several owners"):
        pm.moved(GroupRange(60, 70), "a")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 127), st.integers(1, 32), st.sampled_from("abc")), max_size=12
    )
)
def test_every_group_has_exactly_one_owner_whatever_moves(
    moves: list[tuple[int, int, str]],
) -> None:
    pm = PartitionMap.assign(["a", "b", "c"])
    for start, width, to in moves:
        span = GroupRange(start, min(start + width, 128))
        try:
            pm = pm.moved(span, to)
        except ValueError:
            continue
        assert all(pm.owner_of_group(g) == to for g in range(span.start, span.stop))
    owners = [pm.owner_of_group(g) for g in range(128)]
    assert len(owners) == 128
    # ranges stay contiguous and merged: no two neighbours share an owner
    assert all(a[1] != b[1] for a, b in itertools.pairwise(pm.ranges))


def test_the_audit_keeps_each_step_in_order() -> None:
    ticks = iter(range(100))
    audit = RouteAudit(clock=lambda: float(next(ticks)))
    span = GroupRange(16, 32)
    audit.write("moving", span, 1, "a -> b")
    audit.write("snapshot", GroupRange(16, 24), 1, "12 keys at position 40")
    audit.write("moving", GroupRange(64, 70), 2, "b -> c")
    assert [e.step for e in audit.of(span)] == ["moving", "snapshot"]
    assert audit.rows(audit.of(span))[1] == {
        "step": "snapshot",
        "range": "[16, 24)",
        "epoch": 1,
        "detail": "12 keys at position 40",
        "at": 1.0,
    }
