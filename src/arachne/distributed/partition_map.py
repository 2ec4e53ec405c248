"""Who owns which key groups: a partition map under an epoch, and the audit of its changes.

Keyed state is split into a fixed number of key groups (``placement.key_group``; 128 by
default). A :class:`PartitionMap` gives each contiguous range of groups an owner (a
partition), under an ``epoch`` that every change raises, so a frame stamped with an older
epoch can be told stale. :meth:`PartitionMap.assign` splits the groups evenly over owners;
:meth:`PartitionMap.moved` returns the map after a range changed hands. Every change is
written to a :class:`RouteAudit`, whose entries say what happened, to which range, under
which epoch, and why, for the query plane to show.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from arachne.distributed.placement import KEY_GROUPS, key_group

__all__ = ["AuditEntry", "GroupRange", "PartitionMap", "RouteAudit"]


@dataclass(frozen=True, slots=True, order=True)
class GroupRange:
    """Key groups ``start`` up to, not including, ``stop``."""

    start: int
    stop: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop:
            raise ValueError(f"a key-group range needs 0 <= start < stop, got {self}")

    def __contains__(self, group: object) -> bool:
        return isinstance(group, int) and self.start <= group < self.stop

    def __str__(self) -> str:
        return f"[{self.start}, {self.stop})"


@dataclass(frozen=True, slots=True)
class PartitionMap:
    """Contiguous key-group ranges and their owners, under an epoch."""

    groups: int
    ranges: tuple[tuple[GroupRange, str], ...]
    epoch: int = 0

    def __post_init__(self) -> None:
        at = 0
        for span, owner in self.ranges:
            if span.start != at:
                raise ValueError(f"key groups {at} to {span.start} have no owner, or overlap")
            if not owner:
                raise ValueError(f"range {span} has no owner")
            at = span.stop
        if at != self.groups:
            raise ValueError(f"the ranges cover {at} key groups, not {self.groups}")

    @classmethod
    def assign(cls, owners: Sequence[str], groups: int = KEY_GROUPS) -> PartitionMap:
        """Split ``groups`` key groups into one contiguous range per owner, as evenly as can be."""
        if not owners:
            raise ValueError("a partition map needs at least one owner")
        if len(set(owners)) != len(owners):
            raise ValueError(f"owners {list(owners)} name one twice")
        if groups < len(owners):
            raise ValueError(f"{groups} key groups cannot be split over {len(owners)} owners")
        bounds = [i * groups // len(owners) for i in range(len(owners) + 1)]
        spans = tuple(
            (GroupRange(bounds[i], bounds[i + 1]), owner) for i, owner in enumerate(owners)
        )
        return cls(groups, spans)

    def owner_of_group(self, group: int) -> str:
        """Return who owns key group ``group``."""
        for span, owner in self.ranges:
            if group in span:
                return owner
        raise ValueError(f"key group {group} is outside 0..{self.groups - 1}")

    def owner(self, key: object) -> str:
        """Return who owns ``key`` (by its key group)."""
        return self.owner_of_group(key_group(key, self.groups))

    def owned_by(self, owner: str) -> list[GroupRange]:
        """Return the ranges ``owner`` holds."""
        return [span for span, who in self.ranges if who == owner]

    def moved(self, span: GroupRange, to: str) -> PartitionMap:
        """Return the map with ``span`` owned by ``to``, under the next epoch.

        ``span`` must lie inside one owner's range (a move takes part of one owner's keys).
        """
        if span.stop > self.groups:
            raise ValueError(f"range {span} is outside 0..{self.groups - 1}")
        out: list[tuple[GroupRange, str]] = []
        found = False
        for current, owner in self.ranges:
            if span.start >= current.start and span.stop <= current.stop:
                found = True
                if owner == to:
                    raise ValueError(f"range {span} is {to}'s already")
                if current.start < span.start:
                    out.append((GroupRange(current.start, span.start), owner))
                out.append((span, to))
                if span.stop < current.stop:
                    out.append((GroupRange(span.stop, current.stop), owner))
            else:
                out.append((current, owner))
        if not found:
            raise ValueError(f"range {span} spans several owners' ranges; move one part at a time")
        merged: list[tuple[GroupRange, str]] = []
        for current, owner in out:  # neighbours with one owner become one range
            if merged and merged[-1][1] == owner:
                merged[-1] = (GroupRange(merged[-1][0].start, current.stop), owner)
            else:
                merged.append((current, owner))
        return PartitionMap(self.groups, tuple(merged), self.epoch + 1)

    def plain(self) -> dict[str, Any]:
        """Return the map as JSON data (:meth:`from_plain` reads it back)."""
        return {
            "groups": self.groups,
            "epoch": self.epoch,
            "ranges": [[span.start, span.stop, owner] for span, owner in self.ranges],
        }

    @classmethod
    def from_plain(cls, data: Any) -> PartitionMap:
        """Return the map :meth:`plain` gave (``ValueError`` if ``data`` is not one)."""
        try:
            ranges = tuple(
                (GroupRange(int(start), int(stop)), str(owner))
                for start, stop, owner in data["ranges"]
            )
            return cls(int(data["groups"]), ranges, int(data["epoch"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a partition map ({exc}): {data!r}") from None

    def rows(self) -> list[dict[str, Any]]:
        """Return the map as the query plane shows it."""
        return [
            {"start": span.start, "stop": span.stop, "owner": owner, "epoch": self.epoch}
            for span, owner in self.ranges
        ]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One step of a route change: what, for which range, under which epoch, and why."""

    step: str
    range: GroupRange
    epoch: int
    detail: str
    at: float


@dataclass(slots=True)
class RouteAudit:
    """The route changes of a placed graph, in order (``clock`` stamps each one)."""

    clock: Callable[[], float] = time.time
    entries: list[AuditEntry] = field(default_factory=list)

    def write(self, step: str, span: GroupRange, epoch: int, detail: str) -> AuditEntry:
        """Record one step and return it."""
        entry = AuditEntry(step, span, epoch, detail, self.clock())
        self.entries.append(entry)
        return entry

    def of(self, span: GroupRange) -> list[AuditEntry]:
        """Return the steps about ``span`` (or a range inside it), in order."""
        return [
            e for e in self.entries if span.start <= e.range.start and e.range.stop <= span.stop
        ]

    def rows(self, entries: Iterable[AuditEntry] | None = None) -> list[dict[str, Any]]:
        """Return the entries as the query plane shows them."""
        return [
            {
                "step": e.step,
                "range": str(e.range),
                "epoch": e.epoch,
                "detail": e.detail,
                "at": e.at,
            }
            for e in (self.entries if entries is None else entries)
        ]
