"""Parsing: plain data (a decoded JSON or YAML document) to a checked ``GraphDocument``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, cast

from arachne.model.errors import SpecError
from arachne.model.policies import error_policy_from_data
from arachne.spec._edges import parse_edges
from arachne.spec._fields import Fields, check_name, unknown_node
from arachne.spec._problems import Problems, describe_value
from arachne.spec._values import plain_json
from arachne.spec.document import DEFAULT_VERSION, Dialect, ExposedPortDoc, GraphDocument, NodeDoc
from arachne.spec.limits import MAX_COMPONENTS, MAX_EDGES, MAX_NODES, SPEC_VERSIONS

if TYPE_CHECKING:
    from arachne.model.policies import ErrorPolicy

__all__ = ["DOCUMENT_KEYS", "EXPOSED_KEYS", "NODE_KEYS", "parse_document"]

DOCUMENT_KEYS: Final = (
    "arachne",
    "symbia",
    "name",
    "version",
    "description",
    "nodes",
    "edges",
    "inputs",
    "outputs",
    "components",
    "metadata",
    "$schema",
)
"""Keys a document may have at the top level (``$schema``, for editors, is not read)."""

NODE_KEYS: Final = (
    "id",
    "component",
    "config",
    "errors",
    "renamedFrom",
    "name",
    "description",
    "position",
    "metadata",
)
"""Keys a node may have; the last four are informational."""

EXPOSED_KEYS: Final = ("name", "node", "port")
"""Keys of an entry of ``inputs`` or ``outputs``."""


def parse_document(data: object) -> GraphDocument:
    """Return ``data`` (decoded JSON or YAML, or a dict built in Python) as a checked document.

    Checks the version key, the type of every field, unknown keys, id formats, duplicate node
    and edge ids, edges and exposed ports naming undeclared nodes, and the size limits in
    :mod:`arachne.spec.limits`. Raises one ``SpecError`` listing every problem found, each as
    ``path: what was found; the fix``. Component ids and port names are checked by
    :func:`~arachne.spec.build.build`, which knows the registry.
    """
    plain = plain_json(data)
    if not isinstance(plain, dict):
        raise SpecError(
            f"document: expected an object with 'arachne', 'name' and 'nodes', "
            f"found {describe_value(plain)}"
        )
    problems = Problems()
    top = Fields(plain, "", problems, DOCUMENT_KEYS)
    dialect, spec_version = _dialect(top)
    top.text("$schema", empty=True)  # not read, but a string if given
    name = top.text("name", required='a name: "My Pipeline"')
    version = top.text("version", empty=False)
    description = top.text("description", empty=True)
    metadata = top.mapping("metadata")
    nodes, known = _nodes(top.array("nodes", MAX_NODES, required="nodes: [...]"), problems)
    edges = parse_edges(top.array("edges", MAX_EDGES, null=True), known, problems)
    inputs = _exposed(top, "inputs", known, problems)
    outputs = _exposed(top, "outputs", known, problems)
    components = top.array("components", MAX_COMPONENTS, null=True)
    for index, item in enumerate(components):
        if not isinstance(item, dict):
            problems.add(
                f"components[{index}]",
                f"found {describe_value(item)}; a component definition is an object with "
                "id, ports and execution",
                "type",
            )
    problems.check()
    return GraphDocument(
        name=cast("str", name),
        nodes=tuple(nodes),
        edges=tuple(edges),
        version=version or DEFAULT_VERSION,
        description=description,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        components=tuple(cast("list[dict[str, Any]]", components)),
        metadata=metadata,
        dialect=dialect,
        spec_version=spec_version,
    )


def _dialect(top: Fields) -> tuple[Dialect, str]:
    present = [key for key in ("arachne", "symbia") if key in top.data]
    if not present:
        top.problems.add(
            "document",
            'missing the format version; add arachne: "1.0" (or the Runtime Service\'s '
            'symbia: "1.0") at the top',
            "version",
        )
        return "arachne", SPEC_VERSIONS[-1]
    if len(present) > 1:
        top.problems.add(
            "symbia", "give exactly one of 'arachne' and 'symbia'; remove one", "version"
        )
    key = present[0]
    value = top.data[key]
    if not isinstance(value, str):
        top.wrong(key, "a version string", f'; write {key}: "{SPEC_VERSIONS[-1]}"')
    elif value not in SPEC_VERSIONS:
        readable = ", ".join(f'"{v}"' for v in SPEC_VERSIONS)
        top.problems.add(
            key,
            f"unsupported version {value!r}; this release reads {readable}: "
            f'write {key}: "{SPEC_VERSIONS[-1]}"',
            "version",
        )
    else:
        return key, value
    return key, SPEC_VERSIONS[-1]


def _nodes(items: list[object], problems: Problems) -> tuple[list[NodeDoc], dict[str, int]]:
    """Return the valid nodes and every well-formed id with the index it was first seen at."""
    nodes: list[NodeDoc] = []
    known: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"nodes[{index}]"
        if not isinstance(item, dict):
            problems.add(
                where,
                f'expected an object like {{"id": ..., "component": ...}}, '
                f"found {describe_value(item)}",
                "type",
            )
            continue
        fields = Fields(item, where, problems, NODE_KEYS)
        node_id = fields.name("id", required='an id: "parse"')
        component = fields.text("component", required='a component id: "arachne.core.map"')
        config = fields.mapping("config", null=True)
        errors = _errors(item, where, problems)
        renamed = _renamed_from(fields)
        name = fields.text("name", empty=True)
        description = fields.text("description", empty=True)
        position = fields.mapping("position")
        metadata = fields.mapping("metadata")
        if node_id is not None:
            if node_id in known:
                problems.add(
                    f"{where}.id",
                    f"duplicate id {node_id!r} (first used by nodes[{known[node_id]}]); "
                    "give each node its own id",
                    "duplicate-id",
                )
                continue
            known[node_id] = index
        if node_id is None or component is None:
            continue
        nodes.append(
            NodeDoc(
                node_id,
                component,
                config or {},
                name,
                description,
                position,
                metadata,
                errors,
                renamed,
            )
        )
    return nodes, known


def _renamed_from(fields: Fields) -> tuple[str, ...]:
    """Return the ids a node says it had before (``renamedFrom``: one id, or a list)."""
    if "renamedFrom" not in fields.data:
        return ()
    value = fields.data["renamedFrom"]
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        fields.wrong("renamedFrom", "a node id or a list of them", ' like "renamedFrom": "count"')
        return ()
    former: list[str] = []
    for index, old in enumerate(items):
        why = check_name(old) if isinstance(old, str) else "expected a node id (a string)"
        if why is not None:
            problems = fields.problems
            at = fields.path("renamedFrom") + ("" if isinstance(value, str) else f"[{index}]")
            problems.add(at, why, "bad-id")
            continue
        if old in former:
            at = fields.path("renamedFrom") + f"[{index}]"
            fields.problems.add(at, f"{old!r} is named twice; name it once", "duplicate-id")
            continue
        former.append(old)
    return tuple(former)


def _errors(item: dict[str, object], where: str, problems: Problems) -> ErrorPolicy | None:
    """Return the node's error policy, if it sets one (``errors``), or record why it is bad."""
    if "errors" not in item:
        return None
    try:
        return error_policy_from_data(item["errors"])
    except (TypeError, ValueError) as exc:
        problems.add(
            f"{where}.errors",
            f'{exc}; write "fail", "skip", "dead_letter" or '
            '{"retry": {"max_attempts": 3, "backoff": 0.1, "then": "skip"}}',
            "type",
        )
        return None


def _exposed(
    top: Fields, key: str, known: dict[str, int], problems: Problems
) -> list[ExposedPortDoc]:
    ports: list[ExposedPortDoc] = []
    names: set[str] = set()
    for index, item in enumerate(top.array(key, MAX_NODES, null=True)):
        where = f"{key}[{index}]"
        if not isinstance(item, dict):
            problems.add(
                where,
                f'expected an object like {{"name": "in", "node": ..., "port": ...}}, '
                f"found {describe_value(item)}",
                "type",
            )
            continue
        fields = Fields(item, where, problems, EXPOSED_KEYS)
        name = fields.name("name", required='the port name seen from outside: "in"')
        node = fields.name("node", required="the id of the node it leads to")
        port = fields.name("port", required="the port of that node")
        if node is not None and node not in known:
            problems.add(f"{where}.node", unknown_node(node, known), "unknown-node")
            continue
        if key == "outputs" and name in names:
            problems.add(
                f"{where}.name",
                f"output {name!r} is exposed twice; an output comes from one port, "
                "rename one of them",
                "duplicate-id",
            )
            continue
        if name is not None and node is not None and port is not None:
            names.add(name)
            ports.append(ExposedPortDoc(name, node, port))
    return ports
