"""The delta between two graphs: what a commit must do to turn the running one into the desired.

``graph_delta(running, desired)`` compares node and link specs by id. A node whose config alone
changed is *reconfigured* (hot-reloaded through ``on_config``); one whose kind, ports, mode or
any other field changed, or whose instance was swapped (``replaced``), is removed and added
again, and so are the links that touch it. A link whose capacity, overflow policy or priority
changed is *retuned* in place; one whose endpoints or plane changed is removed and added.
Configs are compared by content and by checksum (SHA-256 of their canonical JSON): a tuple
that became a list is a change (``==`` tells them apart), and so is 1 that became ``True``
(the checksum does). A delta prints the keys that changed and keeps both checksums.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from arachne.model.errors import GraphError, shown
from arachne.model.graph import Graph
from arachne.model.graph_io import config_checksum
from arachne.model.policies import overflow_name
from arachne.model.specs import GraphView, LinkSpec, NodeSpec

if TYPE_CHECKING:
    from arachne.model.primitive_mark import PrimitiveMark

__all__ = ["MISSING", "GraphDelta", "LinkChange", "NodeChange", "graph_delta"]

TUNABLE: Final = ("capacity", "overflow", "priority")
"""Link fields a running edge takes in place."""


class _Missing:
    def __repr__(self) -> str:
        return "(none)"


MISSING: Final = _Missing()
"""Stands for a config key one side does not have, in :attr:`NodeChange.changes`."""


@dataclass(frozen=True, slots=True)
class NodeChange:
    """A node whose config changed, and nothing else: it takes the new one in ``on_config``."""

    old: NodeSpec
    new: NodeSpec

    @property
    def id(self) -> str:
        """The node's id."""
        return self.new.id

    @property
    def changes(self) -> dict[str, tuple[Any, Any]]:
        """Each config key whose value changed, as ``(old, new)`` (``MISSING`` where absent)."""
        old, new = self.old.config, self.new.config
        keys = [*old, *(key for key in new if key not in old)]
        return {
            key: (old.get(key, MISSING), new.get(key, MISSING))
            for key in keys
            if key not in old or key not in new or not _same_value(old[key], new[key])
        }

    @property
    def old_checksum(self) -> str | None:
        """The old config's checksum (``None``: the config has no JSON form)."""
        return config_checksum(self.old.config)

    @property
    def new_checksum(self) -> str | None:
        """The new config's checksum (``None``: the config has no JSON form)."""
        return config_checksum(self.new.config)


@dataclass(frozen=True, slots=True)
class LinkChange:
    """A link whose capacity, overflow policy or priority changed: retuned in place."""

    old: LinkSpec
    new: LinkSpec

    @property
    def id(self) -> str:
        """The link's id."""
        return self.new.id

    @property
    def changes(self) -> dict[str, tuple[Any, Any]]:
        """Each changed field, as ``(old, new)``."""
        return {
            name: (getattr(self.old, name), getattr(self.new, name))
            for name in TUNABLE
            if getattr(self.old, name) != getattr(self.new, name)
        }


@dataclass(frozen=True, slots=True, repr=False)
class GraphDelta:
    """What turns one graph into another, in the order a commit applies it.

    Empty (falsy) when the two graphs are the same. ``str()`` prints it one line per change,
    ``-`` removed, ``+`` added, ``~`` changed in place.
    """

    removed_links: tuple[LinkSpec, ...] = ()
    removed_nodes: tuple[NodeSpec, ...] = ()
    added_nodes: tuple[NodeSpec, ...] = ()
    added_links: tuple[LinkSpec, ...] = ()
    reconfigured: tuple[NodeChange, ...] = ()
    retuned: tuple[LinkChange, ...] = ()
    # The primitives the changed graph has (its marks, by path); None: as they were. Not a
    # change of its own: a primitive comes and goes with its nodes.
    primitives: Mapping[str, PrimitiveMark] | None = field(default=None, compare=False)

    @property
    def empty(self) -> bool:
        """Whether there is nothing to do."""
        return not (
            self.removed_links
            or self.removed_nodes
            or self.added_nodes
            or self.added_links
            or self.reconfigured
            or self.retuned
        )

    def __bool__(self) -> bool:
        return not self.empty

    def __repr__(self) -> str:
        return f"<GraphDelta: {str(self).replace(chr(10), '; ')}>"

    def __len__(self) -> int:
        return (
            len(self.removed_links)
            + len(self.removed_nodes)
            + len(self.added_nodes)
            + len(self.added_links)
            + len(self.reconfigured)
            + len(self.retuned)
        )

    def __str__(self) -> str:
        if self.empty:
            return "no changes"
        lines = [f"- link {_link_text(link)}" for link in self.removed_links]
        lines += [f"- node {spec.id} ({spec.kind})" for spec in self.removed_nodes]
        lines += [f"+ node {spec.id} ({spec.kind})" for spec in self.added_nodes]
        lines += [f"+ link {_link_text(link)}" for link in self.added_links]
        lines += [
            f"~ node {change.id} config "
            + (
                ", ".join(
                    f"{key}: {_shown(old)} -> {_shown(new)}"
                    for key, (old, new) in change.changes.items()
                )
                or f"{_short(change.old_checksum)} -> {_short(change.new_checksum)}"
            )
            for change in self.reconfigured
        ]
        lines += [
            f"~ link {change.id} "
            + ", ".join(
                f"{name} {_value(old)} -> {_value(new)}"
                for name, (old, new) in change.changes.items()
            )
            for change in self.retuned
        ]
        return "\n".join(lines)

    def apply_to(self, graph: Graph) -> Graph:
        """Return ``graph`` with this delta's changes made, in a commit's order.

        ``GraphError`` if one does not fit ``graph`` (a link to remove that it lacks, an id
        to add that it has, a link whose node is gone).
        """
        nodes, links = dict(graph.nodes), dict(graph.links)
        for link in self.removed_links:
            _take(links, link.id, "link")
        for spec in self.removed_nodes:
            _take(nodes, spec.id, "node")
        for spec in self.added_nodes:
            _put(nodes, spec.id, spec, "node")
        for link in self.added_links:
            _put(links, link.id, link, "link")
        for change in self.reconfigured:  # (in place: the order of nodes is kept)
            current = _get(nodes, change.id, "node")
            nodes[change.id] = dataclasses.replace(current, config=change.new.config)
        for tuned in self.retuned:
            old = _get(links, tuned.id, "link")
            links[tuned.id] = dataclasses.replace(
                old, **{name: getattr(tuned.new, name) for name in TUNABLE}
            )
        primitives = graph.primitives if self.primitives is None else self.primitives
        return Graph(nodes.values(), links.values(), graph.name, primitives)

    def take_back(self, graph: Graph, *, superseded: Collection[str] = ()) -> Graph:
        """Return ``graph`` with this delta undone where ``graph`` still has it as it left it.

        What a later delta changed again stays: a config or a link option is put back only
        if it still has this delta's value, a node this delta added is taken out (with every
        link to it, which cannot run without it) unless its id is in ``superseded``. Removed
        nodes and links come back where their ids are free (and, for links, both ends are
        there). ``GraphError`` if the result is not a graph.
        """
        nodes, links = dict(graph.nodes), dict(graph.links)
        for link in self.added_links:
            if links.get(link.id) == link:
                del links[link.id]
        for spec in self.added_nodes:
            if nodes.get(spec.id) == spec and spec.id not in superseded:
                del nodes[spec.id]
                for link_id in [
                    link.id
                    for link in links.values()
                    if spec.id in (link.source.node, link.target.node)
                ]:
                    del links[link_id]
        for spec in self.removed_nodes:
            nodes.setdefault(spec.id, spec)
        for link in self.removed_links:
            if link.id not in links and link.source.node in nodes and link.target.node in nodes:
                links[link.id] = link
        for change in self.reconfigured:
            current = nodes.get(change.id)
            if current is not None and dict(current.config) == dict(change.new.config):
                nodes[change.id] = dataclasses.replace(current, config=change.old.config)
        for tuned in self.retuned:
            now = links.get(tuned.id)
            if now is not None:
                back = {
                    name: getattr(tuned.old, name)
                    for name in TUNABLE
                    if getattr(now, name) == getattr(tuned.new, name)
                }
                links[tuned.id] = dataclasses.replace(now, **back)
        return Graph(nodes.values(), links.values(), graph.name, graph.primitives)

    def to_dict(self) -> dict[str, Any]:
        """Return the delta as JSON-ready data: ids, and for changes what changed."""
        return {
            "removed_links": [link.id for link in self.removed_links],
            "removed_nodes": [spec.id for spec in self.removed_nodes],
            "added_nodes": [spec.id for spec in self.added_nodes],
            "added_links": [link.id for link in self.added_links],
            "reconfigured": [
                {"id": c.id, "old_checksum": c.old_checksum, "new_checksum": c.new_checksum}
                for c in self.reconfigured
            ],
            "retuned": [
                {
                    "id": c.id,
                    "changes": {
                        name: [_value(old), _value(new)] for name, (old, new) in c.changes.items()
                    },
                }
                for c in self.retuned
            ],
        }


def graph_delta(
    running: GraphView, desired: GraphView, *, replaced: Collection[str] = ()
) -> GraphDelta:
    """Return what turns ``running`` into ``desired``.

    ``replaced``: ids of nodes kept by id whose instance is another one now; they are removed
    and added again, with every link that touches them.
    """
    old_nodes, new_nodes = running.nodes, desired.nodes
    renewed = {
        node_id
        for node_id, spec in new_nodes.items()
        if node_id in old_nodes
        and (node_id in replaced or not _same_but_config(old_nodes[node_id], spec))
    }
    removed_nodes = tuple(
        spec for spec in old_nodes.values() if spec.id not in new_nodes or spec.id in renewed
    )
    added_nodes = tuple(
        spec for spec in new_nodes.values() if spec.id not in old_nodes or spec.id in renewed
    )
    reconfigured = tuple(
        NodeChange(old_nodes[node_id], spec)
        for node_id, spec in new_nodes.items()
        if node_id in old_nodes
        and node_id not in renewed
        and not _same_config(old_nodes[node_id].config, spec.config)
    )

    old_links, new_links = running.links, desired.links

    def rewired(link_id: str) -> bool:
        old, new = old_links[link_id], new_links[link_id]
        return (
            (old.source, old.target, old.control) != (new.source, new.target, new.control)
            or new.source.node in renewed
            or new.target.node in renewed
        )

    kept = {link_id for link_id in new_links if link_id in old_links and not rewired(link_id)}
    removed_links = tuple(link for link_id, link in old_links.items() if link_id not in kept)
    added_links = tuple(link for link_id, link in new_links.items() if link_id not in kept)
    retuned = tuple(
        LinkChange(old_links[link_id], link)
        for link_id, link in new_links.items()
        if link_id in kept and _tuned(old_links[link_id], link)
    )
    return GraphDelta(
        removed_links,
        removed_nodes,
        added_nodes,
        added_links,
        reconfigured,
        retuned,
        primitives=_primitives_of(desired),
    )


def _primitives_of(graph: GraphView) -> dict[str, PrimitiveMark] | None:
    """Return the primitives ``graph`` has, when it is a ``Graph`` (else None: unchanged)."""
    return dict(graph.primitives) if isinstance(graph, Graph) else None


def _ends(link: LinkSpec) -> tuple[str, str]:
    return link.source.node, link.target.node


def _tuned(old: LinkSpec, new: LinkSpec) -> bool:
    return any(getattr(old, name) != getattr(new, name) for name in TUNABLE)


def _same_but_config(old: NodeSpec, new: NodeSpec) -> bool:
    return dataclasses.replace(old, config=new.config) == new


def _same_config(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    # Both: == tells a tuple from a list, the checksum 1 from True or 1.0.
    return dict(old) == dict(new) and config_checksum(old) == config_checksum(new)


def _get(items: dict[str, Any], key: str, what: str) -> Any:
    if key not in items:
        raise GraphError(f"the change needs {what} {key!r}, which the graph does not have")
    return items[key]


def _take(items: dict[str, Any], key: str, what: str) -> Any:
    value = _get(items, key, what)
    del items[key]
    return value


def _put(items: dict[str, Any], key: str, value: Any, what: str) -> None:
    if key in items:
        raise GraphError(f"the change adds {what} {key!r}, which the graph has already")
    items[key] = value


def _link_text(link: LinkSpec) -> str:
    return f"{link.id} ({link.source} -> {link.target})"


def _same_value(old: Any, new: Any) -> bool:
    return bool(old == new) and config_checksum({"v": old}) == config_checksum({"v": new})


def _shown(value: Any) -> str:
    return "(none)" if value is MISSING else shown(value)


def _short(checksum: str | None) -> str:
    return checksum[:12] if checksum is not None else "(no JSON form)"


def _value(value: Any) -> Any:
    return value if isinstance(value, int | str) else overflow_name(value)
