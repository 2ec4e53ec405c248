"""Federated query: one answer for the whole placed graph, from every host's own.

Each host answers for itself (``MeshHost.health`` plus the checksum of the graph it was
split from, its manifest hash). :func:`federate` merges the answers: hosts that ran the same
graph are merged, with every link row and peer state labelled by host; a host that did not
answer is listed as :class:`Unavailable` since when it was last heard, never left out; a
host that answers for another graph is listed under ``conflicts``, not mixed in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Unavailable", "federate"]


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A host that did not answer: since when (its last answer, or its exit) and why."""

    host: str
    since: float | None
    reason: str

    def row(self) -> dict[str, Any]:
        """Return it as the merged answer lists it."""
        return {"state": "unavailable", "since": self.since, "reason": self.reason}


def federate(answers: Mapping[str, Mapping[str, Any] | Unavailable]) -> dict[str, Any]:
    """Merge each host's answer (or its :class:`Unavailable`) into one, by manifest hash.

    The manifest most hosts answered with is the cluster's; the result has ``manifest``,
    ``hosts`` (each host's state: ``available`` or unavailable since when), ``links`` (every
    host's link rows, each with its ``host``), ``peers`` (what each host thinks of the
    others), ``taints`` (the taint labels on links, with how many carry each) and
    ``conflicts`` (hosts that answered for another manifest).
    """
    hashes = Counter(
        str(a.get("manifest")) for a in answers.values() if not isinstance(a, Unavailable)
    )
    manifest = hashes.most_common(1)[0][0] if hashes else None
    hosts: dict[str, dict[str, Any]] = {}
    links: list[dict[str, Any]] = []
    peers: dict[str, dict[str, Any]] = {}
    conflicts: dict[str, str] = {}
    taints: Counter[str] = Counter()
    for name in sorted(answers):
        answer = answers[name]
        if isinstance(answer, Unavailable):
            hosts[name] = answer.row()
            continue
        if str(answer.get("manifest")) != manifest:
            conflicts[name] = str(answer.get("manifest"))
            hosts[name] = {"state": "conflict", "manifest": answer.get("manifest")}
            continue
        hosts[name] = {"state": "available", "epoch": answer.get("epoch")}
        peers[name] = dict(answer.get("peers", {}))
        for row in answer.get("links", []):
            links.append({"host": name, **row})
            taints.update(row.get("taints", []))
    return {
        "manifest": manifest,
        "hosts": hosts,
        "links": links,
        "peers": peers,
        "taints": dict(taints),
        "conflicts": conflicts,
    }
