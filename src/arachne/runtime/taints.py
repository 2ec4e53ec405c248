"""Taints: labels a message carries about how much to trust it, and their counts per route.

A label is introduced by the runtime (``retried``: the message came from a handling that was
tried again, so what it stands for may arrive twice) or by a node that declares it
(``Node.introduces``: a late-data window might say ``late``); it travels with the data, in the
``taints`` header, to everything derived from the message; a node that declares it repairs a
label (``Node.repairs``: a dedupe repairs ``retried``) takes it off what it emits. A message
with no label carries no header, so an untainted graph runs as before.

:class:`TaintCounts` counts, per input route (node and port), the messages that arrived there
carrying each label; the query plane reads them (``QueryPlane.taints``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from arachne.model.message import Headers

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "KNOWN_TAINTS",
    "NO_TAINTS",
    "RETRIED",
    "TAINTS",
    "TaintCounts",
    "check_labels",
    "labels_of",
    "retaint",
]

TAINTS: Final = "taints"
"""The header that carries a message's taint labels: a sorted tuple of strings."""

RETRIED: Final = "retried"
"""The label the runtime puts on what a retried handling emits."""

KNOWN_TAINTS: Final = ("late", "replayed", "retried", "stale-owner", "unordered", "untrusted-input")
"""The labels Arachne names; a node may declare others of the same form."""

NO_TAINTS: Final[frozenset[str]] = frozenset()

_LABEL: Final = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def check_labels(labels: Iterable[str], what: str) -> frozenset[str]:
    """Return ``labels`` as a frozenset, each a lowercase word with dashes (``untrusted-input``).

    ``what`` names where they were declared, for the ``ValueError`` a bad one raises.
    """
    if isinstance(labels, str):
        raise TypeError(f"{what} must be a set of labels, not one string; write {{{labels!r}}}")
    out = frozenset(labels)
    bad = sorted(
        repr(label) for label in out if not isinstance(label, str) or not _LABEL.match(label)
    )
    if bad:
        raise ValueError(
            f"{what} has labels {', '.join(bad)}: a taint label is a lowercase word with dashes, "
            f"such as {', '.join(KNOWN_TAINTS)}"
        )
    return out


def labels_of(headers: Mapping[str, object]) -> tuple[str, ...]:
    """Return the taint labels ``headers`` carry (an empty tuple for none).

    A list (headers read back from JSON) counts as well; what is not a string is not a label.
    """
    labels = headers.get(TAINTS)
    if type(labels) is tuple:
        return labels
    if isinstance(labels, list | tuple):
        return tuple(label for label in labels if isinstance(label, str))
    return ()


def retaint(headers: Headers, add: frozenset[str], remove: frozenset[str]) -> Headers:
    """Return ``headers`` with labels ``add`` put on, then ``remove`` taken off.

    The same object when nothing changes; no ``taints`` header when no label is left.
    """
    current = labels_of(headers)
    wanted = (set(current) | add) - remove
    if len(wanted) == len(current) and wanted.issuperset(current):
        return headers
    fields = headers.as_dict()
    if wanted:
        fields[TAINTS] = tuple(sorted(wanted))
    else:
        fields.pop(TAINTS, None)
    return Headers.trusted(fields)


class TaintCounts:
    """Per input route (node, port) and label, the messages that arrived carrying the label.

    Counted on the execution's loop; :meth:`snapshot` copies them from anywhere (one dict
    copy, which the interpreter makes whole).
    """

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str], int] = {}

    def add(self, node_id: str, port: str, labels: Iterable[str], count: int = 1) -> None:
        """Count ``count`` messages with ``labels`` arriving at ``node_id``'s ``port``."""
        counts = self._counts
        for label in labels:
            key = (node_id, port, label)
            counts[key] = counts.get(key, 0) + count

    def snapshot(self) -> dict[tuple[str, str, str], int]:
        """Return a copy of the counts: ``(node, port, label) -> messages``."""
        return self._counts.copy()
