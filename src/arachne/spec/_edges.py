"""Parsing the ``edges`` of a document: endpoints, options and generated ids."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from arachne.model.policies import OVERFLOW_NAMES, OverflowName
from arachne.spec._fields import Fields, check_name, unknown_node
from arachne.spec._problems import Problems, describe_value, did_you_mean
from arachne.spec.document import DEFAULT_CAPACITY, EdgeDoc, PortRefDoc
from arachne.spec.limits import MAX_CAPACITY, MAX_PRIORITY

__all__ = ["EDGE_KEYS", "PORT_KEYS", "parse_edges"]

EDGE_KEYS: Final = ("id", "source", "target", "capacity", "overflow", "priority", "control")
"""Keys an edge may have."""

PORT_KEYS: Final = ("node", "port")
"""Keys of an edge's ``source`` or ``target`` written as an object."""

_ENDPOINT: Final = '{"node": ..., "port": ...} or "node:port"'


def parse_edges(items: list[object], known: dict[str, int], problems: Problems) -> list[EdgeDoc]:
    """Return the edges of ``items``, ids filled in; record every problem in ``problems``.

    An edge without an id gets ``e<n>``, ``n`` its position from 1, or the next number no
    other edge uses, so the same document always yields the same ids.
    """
    explicit: dict[str, int] = {}
    parsed: list[EdgeDoc] = []
    for index, item in enumerate(items):
        where = f"edges[{index}]"
        if not isinstance(item, dict):
            problems.add(
                where,
                f'expected an object like {{"source": ..., "target": ...}}, '
                f"found {describe_value(item)}",
                "type",
            )
            continue
        fields = Fields(item, where, problems, EDGE_KEYS)
        edge_id = fields.name("id", edge=True)
        if edge_id is not None:
            if edge_id in explicit:
                problems.add(
                    f"{where}.id",
                    f"duplicate id {edge_id!r} (first used by edges[{explicit[edge_id]}]); "
                    "give each edge its own id or leave it out to get one",
                    "duplicate-id",
                )
            explicit.setdefault(edge_id, index)
        source = _endpoint(fields, "source", known)
        target = _endpoint(fields, "target", known)
        capacity = fields.integer("capacity", 1, MAX_CAPACITY)
        overflow = _overflow(fields)
        priority = fields.integer("priority", -MAX_PRIORITY, MAX_PRIORITY)
        control = fields.boolean("control")
        if source is not None and target is not None:
            capacity = DEFAULT_CAPACITY if capacity is None else capacity
            parsed.append(
                EdgeDoc(
                    edge_id or "", source, target, capacity, overflow, priority or 0, bool(control)
                )
            )
    taken = set(explicit)
    edges: list[EdgeDoc] = []
    for position, edge in enumerate(parsed, start=1):
        if not edge.id:
            number = position
            while f"e{number}" in taken:
                number += 1
            taken.add(f"e{number}")
            edge = replace(edge, id=f"e{number}", generated=True)
        edges.append(edge)
    return edges


def _endpoint(fields: Fields, key: str, known: dict[str, int]) -> PortRefDoc | None:
    where = fields.path(key)
    if key not in fields.data:
        fields.missing(key, _ENDPOINT)
        return None
    value = fields.data[key]
    if isinstance(value, str):
        node, colon, port = value.partition(":")
        problem = "" if colon else f"found {describe_value(value)}; write {_ENDPOINT}"
        for part, label in ((node, "node id"), (port, "port name")):
            why = check_name(part)
            if not problem and why is not None:
                problem = f"{label} in {value!r} {why}"
        if problem:
            fields.problems.add(where, problem, "bad-endpoint")
            return None
    elif isinstance(value, dict):
        ref = Fields(value, where, fields.problems, PORT_KEYS)
        found_node = ref.name("node", required="the id of a node")
        found_port = ref.name("port", required="the name of a port")
        if found_node is None or found_port is None:
            return None
        node, port = found_node, found_port
    else:
        fields.wrong(key, _ENDPOINT)
        return None
    if node not in known:
        fields.problems.add(f"{where}.node", unknown_node(node, known), "unknown-node")
        return None
    return PortRefDoc(node, port)


def _overflow(fields: Fields) -> OverflowName:
    if "overflow" not in fields.data:
        return "block"
    value = fields.data["overflow"]
    if isinstance(value, str) and value in OVERFLOW_NAMES:
        return value
    choices = ", ".join(OVERFLOW_NAMES)
    if value == "coalesce":
        message = (
            "'coalesce' needs a Python merge function, which a document cannot carry; use "
            f"one of {choices} here and set Coalesce(fn) from Python "
            "(runtime.set_overflow(edge_id, Coalesce(fn)))"
        )
    elif isinstance(value, str):
        message = f"unknown policy {value!r}{did_you_mean(value, OVERFLOW_NAMES)} (use {choices})"
    else:
        message = f"expected one of {choices}, found {describe_value(value)}"
    fields.problems.add(fields.path("overflow"), message, "bad-overflow")
    return "block"
