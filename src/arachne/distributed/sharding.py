"""Keyed parts sharded over partitions: one replica per owner, a router by key group.

:func:`shard` rewrites a graph before it is placed: the keyed node becomes one replica per
owner (``sum~a``, ``sum~b``), each to be placed in the partition of that name; what fed the
node feeds a :class:`KeyRouter` (``sum~router``) instead, which sends each item to the owner
of its key's group under a :class:`~arachne.distributed.partition_map.PartitionMap`; and
each replica's outputs go where the node's went. So all items of one key meet in one
replica, in the order they were routed, and a per-key state never needs another's. The
router goes with what feeds it (its partition is returned with the rewrite).

In a worker process (``ProcessCluster``, ``RayCluster``) each replica is built afresh from
the graph's source; in one process (``MemoryCluster``) the replicas are copies of the node
(``copy.deepcopy``), refused with the fix if the node holds what cannot be copied.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from arachne.distributed.frames import pack_items, unpack_items
from arachne.distributed.partition_map import GroupRange, PartitionMap
from arachne.distributed.placement import KEY_GROUPS, Placement, key_group, relinked
from arachne.model.flatten import node_spec
from arachne.model.graph import Graph
from arachne.model.message import Message
from arachne.model.node import Node
from arachne.model.port import Input
from arachne.model.specs import LinkSpec, PortRef

__all__ = ["Flip", "KeyRouter", "Sharded", "shard", "sharded_placement"]


@dataclass(frozen=True, slots=True)
class Flip:
    """Injected into a router: take ``pmap`` (a later epoch) and release what was held."""

    pmap: PartitionMap


class KeyRouter(Node):
    """Sends each item to the output of the owner of its key.

    The key is a field of a mapping payload (``"symbol"``) or an index into a sequence (``0``).
    ``sent`` counts what went to each owner: an owner that has received that many has
    handled all it was sent. While a range is :meth:`hold` ed (an ownership move), its items
    wait here, in order, and the rest flow on; the next map, :meth:`offer` ed, is taken at the
    router's next turn (a :class:`Flip` injected into its input brings one about), and what
    waited goes to the new owner. A router whose input ends while it holds items waits for
    the move to end before it finishes, so they are never lost.
    """

    raw_batches = True
    inp = Input(None, name="in")

    def __init__(self, key: str | int, pmap: PartitionMap) -> None:
        self.key = key
        self.pmap = pmap
        self._ports = {owner: f"to_{owner}" for _, owner in pmap.ranges}
        self.sent = dict.fromkeys(self._ports, 0)
        self.holding: GroupRange | None = None
        self.held_at: dict[str, int] = {}  # what had been sent to each owner when the hold began
        self._held: list[Any] = []
        self._offered: PartitionMap | None = None
        self._offered_at: int | None = None  # (the input position to take it at, if set)
        self.routed = 0  # items taken from the input (their position)
        self.flipped_at = 0  # the position at which the last flip was taken
        self._finishing: asyncio.Event | None = None
        self.released = 0  # items the last move's flip sent on to the new owner
        # In a checkpointed run, what is routed after a change of map or hold waits here
        # (with its owner) until a checkpoint that saved the change has committed.
        self._outbox: list[tuple[str, Any]] = []
        self._gated = False  # (items go to the outbox)
        self._changed = False  # (a change no snapshot has saved yet)
        self._saved: int | None = None  # (outbox items the snapshot in flight saved)

    def snapshot(self) -> dict[str, Any]:
        """Return the map, the counts sent, and a move's hold with the items it holds.

        So a router restarted from a checkpoint routes by the map a finished move left, and
        goes on holding a move's range (with what it held) where the checkpoint saw it.
        """
        if self._gated:
            self._saved, self._changed = len(self._outbox), False
        return {
            "outbox": pack_items([list(sent) for sent in self._outbox]),
            "routed": self.routed,
            "pmap": self.pmap.plain(),
            "sent": dict(self.sent),
            "holding": None if self.holding is None else [self.holding.start, self.holding.stop],
            "held_at": dict(self.held_at),
            "held": pack_items(self._held),
        }

    def restore(self, state: Any) -> None:
        """Take back what :meth:`snapshot` saved."""
        if not isinstance(state, dict) or "pmap" not in state:
            raise ValueError(f"{self.name()}: a saved router state needs its pmap")
        self.pmap = PartitionMap.from_plain(state["pmap"])
        self.routed = int(state.get("routed", 0))
        self.sent.update({str(k): int(v) for k, v in state.get("sent", {}).items()})
        holding = state.get("holding")
        self.holding = None if holding is None else GroupRange(*holding)
        self.held_at = {str(k): int(v) for k, v in state.get("held_at", {}).items()}
        held = state.get("held")
        self._held = unpack_items(held) if held else []
        outbox = state.get("outbox")
        self._outbox = [(str(o), i) for o, i in unpack_items(outbox)] if outbox else []

    def on_start(self) -> None:
        """Send on what a restored checkpoint saved in the outbox (it has committed)."""
        self._open_gate()

    def on_checkpoint(self, checkpoint: int) -> None:
        """Send on what the committed checkpoint saved; open the gate if nothing changed since.

        What was routed after that checkpoint's snapshot, by the state it saved, is made the
        same again by a restart from it: it goes too, unless a change came after the snapshot.
        """
        saved, self._saved = self._saved, None
        if saved is None:
            return
        if self._changed:
            self._emit_outbox(saved)
        else:
            self._open_gate()

    def _changes(self) -> None:
        """Gate what is routed from now on (a change of map or hold), if checkpointed.

        A restart from a checkpoint before the change makes the change again where the
        controller asks for it, perhaps at another input position: nothing routed after it
        may have left before a checkpoint saved it, or the new owner would be sent another
        stream than the one it had.
        """
        if self.context.checkpointed:
            self._gated = self._changed = True

    def _open_gate(self) -> None:
        self._gated = False
        self._emit_outbox(len(self._outbox))

    def _emit_outbox(self, count: int) -> None:
        out, self._outbox = self._outbox[:count], self._outbox[count:]
        for owner, item in out:
            self.emit(self._ports[owner], item)

    def offer(self, pmap: PartitionMap, at: int | None = None) -> None:
        """Have the router take ``pmap`` (a later epoch) at its next turn.

        With ``at``, once it has routed ``at`` items: a router restarted from a checkpoint
        before a flip takes it again where it took it first, so what it sends on is what it
        sent the first time, in the same order.
        """
        self._offered, self._offered_at = pmap, at
        if self._finishing is not None:
            self._finishing.set()

    async def on_finish(self) -> None:
        """Wait for a move in progress to end, then send on what it held."""
        if self.holding is not None and self._offered is None:
            self._finishing = asyncio.Event()
            await self._finishing.wait()
        if self._offered is not None:
            self._flip(self._offered)
        self._open_gate()  # (the run ends: what waits goes now)

    def outputs(self) -> Mapping[str, Any]:
        """One output per owner: ``to_<owner>``."""
        return dict.fromkeys(self._ports.values())

    def hold(self, span: GroupRange) -> dict[str, int]:
        """Hold the items of ``span`` from now on; return what each owner had been sent.

        Holding the range held already changes nothing (and returns the same counts).
        """
        if self.holding is not None:
            if self.holding != span:
                raise ValueError(f"{self.name()}: {self.holding} is held already, not {span}")
            return dict(self.held_at)
        self.holding, self.held_at = span, dict(self.sent)
        self._changes()
        return dict(self.held_at)

    @property
    def held(self) -> int:
        """Items waiting for a move to end."""
        return len(self._held)

    def on_message(self, port: str, msg: Message) -> None:
        """Route one message (batches come through :meth:`on_batch`)."""
        self.on_batch(port, [msg])

    def on_batch(self, port: str, msgs: list[Any]) -> None:
        """Route each item by the key group of its key (holding a moving range's items)."""
        key, groups, holding = self.key, self.pmap.groups, self.holding
        for item in msgs:
            payload = item.payload if type(item) is Message else item
            if type(payload) is Flip:
                if self._offered is None:
                    self.offer(payload.pmap)
                self._take_offer()
                holding = self.holding
                continue
            if self._offered is not None and self._take_offer():
                holding = self.holding
            self.routed += 1
            try:
                value = payload[key]
            except (KeyError, TypeError, IndexError):
                raise ValueError(
                    f"{self.name()}: an item has no key {key!r} to route by: {payload!r}"
                ) from None
            group = key_group(value, groups)
            if holding is not None and group in holding:
                self._held.append(item)
            else:
                self._send(self.pmap.owner_of_group(group), item)

    def _take_offer(self) -> bool:
        """Take the offered map if its position has come; return whether it was taken."""
        at = self._offered_at
        if self._offered is None or (at is not None and self.routed < at):
            return False
        self._flip(self._offered)
        return True

    def _send(self, owner: str, item: Any) -> None:
        self.sent[owner] += 1
        if self._gated:
            self._outbox.append((owner, item))
        else:
            self.emit(self._ports[owner], item)

    def _flip(self, pmap: PartitionMap) -> None:
        self._offered = self._offered_at = None
        if pmap.epoch <= self.pmap.epoch:  # (a flip sent again after a controller restarted)
            return
        self.pmap = pmap
        self.flipped_at = self.routed
        self._changes()
        held, self._held = self._held, []
        self.released = len(held)
        self.holding = None
        self.held_at = {}
        owner, groups = pmap.owner_of_group, pmap.groups
        for item in held:
            payload = item.payload if type(item) is Message else item
            self._send(owner(key_group(payload[self.key], groups)), item)


@dataclass(frozen=True, slots=True)
class Sharded:
    """A graph after :func:`shard`: its nodes, instances, and where the new ones go."""

    graph: Graph
    instances: dict[str, Node]
    placed: dict[str, str]  # new node id -> partition


def shard(
    graph: Graph,
    instances: Mapping[str, Node],
    node_id: str,
    *,
    key: str | int,
    owners: Sequence[str],
    router_in: str,
    groups: int = KEY_GROUPS,
    make: Callable[[str], Node] | None = None,
) -> Sharded:
    """Rewrite ``graph`` so ``node_id`` runs as one replica per owner behind a key router.

    ``key`` is the field (or index) of each item to route by; ``owners`` name the partitions
    that hold the replicas, each a contiguous share of the ``groups`` key groups; the router
    goes to partition ``router_in``. The node must have exactly one input port. The first
    owner's replica is the node itself; ``make(node_id)`` builds each other one afresh (a
    worker rebuilds its graph), else it is a copy (``copy.deepcopy``).
    """
    spec = graph.nodes.get(node_id)
    if spec is None:
        raise ValueError(f"no node {node_id!r} to shard; the nodes are {', '.join(graph.nodes)}")
    if len(spec.inputs) != 1:
        raise ValueError(f"node {node_id!r} has {len(spec.inputs)} inputs; a sharded node has one")
    for owner in owners:
        if not owner or "." in owner or "/" in owner:
            raise ValueError(f"owner {owner!r}: a partition name without '.' or '/'")
    pmap = PartitionMap.assign(list(owners), groups)
    router_id = f"{node_id}~router"
    router = KeyRouter(key, pmap)
    replicas = {owner: f"{node_id}~{owner}" for owner in owners}
    original = instances[node_id]
    made: dict[str, Node] = {
        rid: original if i == 0 else _replica(original, node_id, make)
        for i, rid in enumerate(replicas.values())
    }
    nodes = [s for nid, s in graph.nodes.items() if nid != node_id]
    nodes.append(node_spec(router_id, router))
    nodes += [replace(spec, id=rid) for rid in replicas.values()]
    port = spec.inputs[0].name
    links: list[LinkSpec] = []
    for link in graph.links.values():
        if link.target.node == node_id:
            links.append(relinked(link, link.source, PortRef(router_id, "in")))
        elif link.source.node == node_id:
            for owner, rid in replicas.items():
                links.append(
                    relinked(
                        link, PortRef(rid, link.source.port), link.target, f"{link.id}~{owner}"
                    )
                )
        else:
            links.append(link)
    capacity = max((lk.capacity for lk in graph.links_into(node_id)), default=1024)
    for owner, rid in replicas.items():
        links.append(
            LinkSpec(
                id=f"{router_id}.to_{owner}->{rid}.{port}",
                source=PortRef(router_id, f"to_{owner}"),
                target=PortRef(rid, port),
                capacity=capacity,
            )
        )
    kept = {nid: inst for nid, inst in instances.items() if nid != node_id}
    kept[router_id] = router
    kept.update(made)
    placed = {router_id: router_in, **{rid: owner for owner, rid in replicas.items()}}
    return Sharded(Graph(nodes, links, name=graph.name), kept, placed)


def _replica(original: Node, node_id: str, make: Callable[[str], Node] | None) -> Node:
    if make is not None:
        return make(node_id)
    try:
        return copy.deepcopy(original)
    except (TypeError, copy.Error) as exc:
        raise ValueError(
            f"node {node_id!r} cannot be copied for its replicas ({exc}); shard it on a "
            "ProcessCluster or RayCluster, which build each replica afresh, or keep only "
            "copyable state in it"
        ) from exc


def sharded_placement(
    graph: Graph,
    instances: Mapping[str, Node],
    placement: Placement,
    shards: Mapping[str, Mapping[str, Any]],
    make: Callable[[str], Node] | None = None,
) -> tuple[Graph, dict[str, Node], Placement]:
    """Apply every shard of ``shards`` (``{node: {"key": ..., "owners": [...]}}``) and place it.

    Each router goes to the partition of what feeds it (the first link in); the sharded node
    leaves the placement, its replicas go to their owners.
    """
    parts = {name: list(ids) for name, ids in placement.partitions.items()}
    kept = dict(instances)
    for node_id, options in shards.items():
        unknown = (
            sorted(set(options) - {"key", "owners", "groups"})
            if isinstance(options, Mapping)
            else []
        )
        if (
            not isinstance(options, Mapping)
            or unknown
            or not isinstance(options.get("key"), str | int)
        ):
            what = f"unknown {', '.join(map(repr, unknown))}; " if unknown else ""
            raise ValueError(
                f"shards[{node_id!r}]: {what}give {{'key': FIELD, 'owners': [PARTITION, ...]}}"
            )
        if len(set(options.get("owners", ()))) != len(list(options.get("owners", ()))):
            raise ValueError(
                f"shards[{node_id!r}]: owners {list(options['owners'])} name one twice"
            )
        owners = list(options.get("owners", ()))
        missing = [o for o in owners if o not in parts]
        if not owners or missing:
            raise ValueError(
                f"shards[{node_id!r}]: owners must be partitions of the placement "
                f"({', '.join(parts)}); unknown: {', '.join(missing) or '(none given)'}"
            )
        feeding = graph.links_into(node_id)
        router_in = (placement.partition_of(feeding[0].source.node) if feeding else None) or (
            owners[0]
        )
        done = shard(
            graph,
            kept,
            node_id,
            key=options.get("key", ""),
            owners=owners,
            router_in=router_in,
            groups=int(options.get("groups", KEY_GROUPS)),
            make=make,
        )
        graph, kept = done.graph, done.instances
        for ids in parts.values():
            if node_id in ids:
                ids.remove(node_id)
        for new_id, part in done.placed.items():
            parts[part].append(new_id)
    return graph, kept, Placement.of(parts, default=placement.default)
