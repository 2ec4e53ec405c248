"""An ownership move: a range of key groups handed from one replica of a keyed node to another.

A sharded node (``sharding.shard``) runs as one replica per owner behind a ``KeyRouter``.
:class:`OwnershipMove` moves key-group range ``span`` from its owner ``A`` to ``B`` in six
steps, each written to the route audit (and, given a :class:`RouteJournal`, to the store)
once it is done:

1. ``moving``: the router holds the range's items from now on (the others flow on), and
   notes how many items it had sent ``A``: the log position of the move;
2. ``drained``: ``A`` has handled every item it was sent up to that position (its input is
   a FIFO), so its state for the range is final: the barrier;
3. ``snapshot``: only the range's keys are taken from ``A``'s state, as JSON (kept in the
   journal: a later step never has to take them again);
4. ``loaded``: ``B`` takes those keys into its state;
5. ``dropped``: ``A`` forgets them;
6. ``flipped``: the router takes the next map (the range is ``B``'s, under the next epoch)
   and sends ``B`` what it held, in order, then everything after.

Every step can be taken again with the same effect, so a controller that dies between a
step's action and its journal entry, or between two steps, is replaced by one that reads the
journal and goes on from the last step written. No item is lost (the router holds what
arrives meanwhile) or handled twice (``A`` handled the range's items up to the position,
``B`` those after it). As one router sends every item of a sharded node, an item of the range
is never on its way to ``A`` once the barrier has passed: the hold is what keeps stale items
from ever reaching the old owner, where epoch stamps would be needed with several routers.

A replica's keyed state is reached by the keyed-state protocol: a node with
``snapshot_keys(owns)``, ``load_keys(state)`` and ``drop_keys(owns)`` (``owns(key)``: whether
a key is in the moving range) is asked for it; any other node's ``context.state`` is taken to
be keyed by the items' keys (a running total per symbol, say).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from arachne.distributed.partition_map import GroupRange, PartitionMap, RouteAudit
from arachne.distributed.placement import key_group
from arachne.distributed.sharding import Flip, KeyRouter

if TYPE_CHECKING:
    from arachne.durable.route_journal import RouteJournal
    from arachne.model.node import Node

__all__ = [
    "STEPS",
    "KeyedState",
    "MoveInterrupted",
    "MoveParts",
    "MoveTarget",
    "OwnershipMove",
    "keyed_state",
]

STEPS: Final = ("moving", "drained", "snapshot", "loaded", "dropped", "flipped")
"""The steps of a move, in order (see the module's text)."""


class MoveInterrupted(RuntimeError):
    """A crash injected into a move's controller (to test that another one goes on)."""


@runtime_checkable
class KeyedState(Protocol):
    """What a keyed node offers to have part of its state moved to another replica."""

    def snapshot_keys(self, owns: Callable[[Any], bool]) -> dict[str, Any]:
        """Return the state of the keys ``owns`` accepts, as JSON data."""
        ...

    def load_keys(self, state: Mapping[str, Any]) -> None:
        """Take the state of some keys (what another replica's ``snapshot_keys`` returned)."""
        ...

    def drop_keys(self, owns: Callable[[Any], bool]) -> None:
        """Forget the keys ``owns`` accepts."""
        ...


class MoveTarget(Protocol):
    """What a move acts on: a sharded node's router and replicas, wherever they run."""

    @property
    def owners(self) -> Sequence[str]:
        """The replicas' owners."""
        ...

    def pmap(self) -> PartitionMap:
        """Return the map the router routes by now."""
        ...

    def router_finished(self) -> bool:
        """Return whether the router has finished (its input ended: nothing more to hold)."""
        ...

    def router_completed(self) -> bool:
        """Return whether the router's partition completed its run (it never resumes)."""
        ...

    def hold(self, span: GroupRange) -> dict[str, int]:
        """Have the router hold ``span``'s items; return what it had sent each owner."""
        ...

    def held(self) -> int:
        """Return how many items the router holds."""
        ...

    def released(self) -> int:
        """Return how many held items the router's last flip sent on."""
        ...

    def received(self, owner: str) -> tuple[int, bool]:
        """Return how many items ``owner``'s replica has taken, and whether it is busy.

        Busy: a call in flight, or a retry waiting.
        """
        ...

    def checkpoints(self, owner: str | None) -> int | None:
        """Return the last checkpoint ``owner``'s partition committed (``None``: none kept).

        ``owner`` ``None``: the router's partition.
        """
        ...

    def snapshot_keys(self, owner: str, span: GroupRange) -> dict[str, Any]:
        """Return the state of ``owner``'s keys in ``span`` (JSON data)."""
        ...

    def load_keys(self, owner: str, state: Mapping[str, Any]) -> None:
        """Have ``owner``'s replica take ``state`` (overwriting those keys)."""
        ...

    def drop_keys(self, owner: str, span: GroupRange) -> None:
        """Have ``owner``'s replica forget its keys in ``span``."""
        ...

    def flip(self, pmap: PartitionMap, at: int | None = None) -> None:
        """Have the router take ``pmap`` and send on what it held (at input position ``at``).

        ``at`` ``None``: at once.
        """
        ...

    def flipped_at(self) -> int:
        """Return the input position at which the router took its last flip."""
        ...


@dataclass(frozen=True, slots=True)
class MoveParts:
    """A :class:`MoveTarget` in this process, its nodes looked up at each step.

    ``router()`` and ``replica(owner)`` return the nodes as they are now (a partition
    restarted has new ones); ``state(owner)`` returns ``(received, busy, finished,
    checkpoint, completed)`` of a replica (``None`` owner: the router; ``completed``: its
    partition's run completed, so it never resumes); ``flipped(marker)`` hands the
    router the next map (and wakes it).
    """

    owners: Sequence[str]
    router: Callable[[], KeyRouter]
    replica: Callable[[str], Node]
    state: Callable[[str | None], tuple[int, bool, bool, int | None, bool]]
    flipped: Callable[[Flip], None]

    def pmap(self) -> PartitionMap:
        """Return the router's map."""
        return self.router().pmap

    def router_finished(self) -> bool:
        """Return whether the router has finished."""
        return self.state(None)[2]

    def router_completed(self) -> bool:
        """Return whether the router's partition completed its run."""
        return self.state(None)[4]

    def hold(self, span: GroupRange) -> dict[str, int]:
        """Hold ``span`` at the router."""
        return self.router().hold(span)

    def held(self) -> int:
        """Return what the router holds."""
        return self.router().held

    def released(self) -> int:
        """Return what the router's last flip sent on."""
        return self.router().released

    def received(self, owner: str) -> tuple[int, bool]:
        """Return what ``owner``'s replica took, and whether it is busy."""
        taken, busy, _, _, _ = self.state(owner)
        return taken, busy

    def checkpoints(self, owner: str | None) -> int | None:
        """Return the last checkpoint of ``owner``'s partition (``None``: the router's)."""
        return self.state(owner)[3]

    def snapshot_keys(self, owner: str, span: GroupRange) -> dict[str, Any]:
        """Return ``owner``'s keys in ``span``."""
        owns = _owner_of(span, self.router())
        return keyed_state(self.replica(owner)).snapshot_keys(owns)

    def load_keys(self, owner: str, state: Mapping[str, Any]) -> None:
        """Load ``state`` into ``owner``'s replica."""
        keyed_state(self.replica(owner)).load_keys(state)

    def drop_keys(self, owner: str, span: GroupRange) -> None:
        """Drop ``owner``'s keys in ``span``."""
        keyed_state(self.replica(owner)).drop_keys(_owner_of(span, self.router()))

    def flip(self, pmap: PartitionMap, at: int | None = None) -> None:
        """Hand the router ``pmap`` (to take at input position ``at``, if given)."""
        self.router().offer(pmap, at)
        self.flipped(Flip(pmap))

    def flipped_at(self) -> int:
        """Return where the router took its last flip."""
        return self.router().flipped_at


def _owner_of(span: GroupRange, router: KeyRouter) -> Callable[[Any], bool]:
    groups = router.pmap.groups
    return lambda key: key_group(key, groups) in span


class OwnershipMove:
    """Move key-group range ``span`` of a sharded node to owner ``to`` (see the module's text).

    ``audit`` gets one entry per step; ``journal`` keeps them in the store, so a controller
    made again with the same journal resumes a move left half done; ``poll`` is how often
    (seconds of the loop) a waiting step looks again, and ``timeout`` how long it waits
    before it gives up (``TimeoutError`` naming it: a replica that never comes back); ``crash
    = (step, "action" | "entry")`` raises ``MoveInterrupted`` right after that step's
    action, or its entry.
    """

    def __init__(
        self,
        parts: MoveTarget,
        span: GroupRange,
        to: str,
        *,
        audit: RouteAudit | None = None,
        journal: RouteJournal | None = None,
        poll: float = 0.001,
        timeout: float = 300.0,
        crash: tuple[str, str] | None = None,
    ) -> None:
        if to not in parts.owners:
            raise ValueError(f"no replica {to!r}; the owners are {', '.join(parts.owners)}")
        if crash is not None and (crash[0] not in STEPS or crash[1] not in ("action", "entry")):
            raise ValueError(f"crash must be (one of {STEPS}, 'action' | 'entry'), got {crash}")
        self.parts = parts
        self.span = span
        self.to = to
        self.audit = audit if audit is not None else RouteAudit()
        self.journal = journal
        self.poll = poll
        self.timeout = timeout
        self.crash = crash
        self.done: list[str] = []
        self._data: dict[str, Any] = {}
        self._resume()

    def _resume(self) -> None:
        """Take back the steps the journal holds of a move of this range left unfinished."""
        if self.journal is None:
            return
        entries = self.journal.entries()
        opened = [i for i, e in enumerate(entries) if e.step == "moving"]
        if not opened:
            return
        steps = entries[opened[-1] :]
        first = steps[0]
        same = (first.start, first.stop) == (self.span.start, self.span.stop)
        if steps[-1].step == "flipped" and not (
            same and json.loads(first.data or "{}").get("to") == self.to
        ):
            return  # (no move open, and the last one was another: this one starts afresh)
        if not same:
            raise ValueError(
                f"the journal holds an unfinished move of [{first.start}, {first.stop}); "
                "finish it (move that range again) before moving another"
            )
        known = {(e.step, e.epoch) for e in self.audit.of(self.span)}
        for entry in steps:
            if (entry.step, entry.epoch) not in known:  # (a controller in another process)
                self.audit.write(entry.step, self.span, entry.epoch, entry.detail)
            self.done.append(entry.step)
            if entry.data is not None:
                self._data.update(json.loads(entry.data))
        if self._data.get("to") != self.to:
            raise ValueError(
                f"the journal's unfinished move of {self.span} goes to {self._data.get('to')!r}, "
                f"not {self.to!r}"
            )

    @property
    def finished(self) -> bool:
        """Whether every step is done."""
        return len(self.done) == len(STEPS)

    async def run(self) -> PartitionMap:
        """Take each step not yet done; return the map the router routes by at the end."""
        pmap = self.parts.pmap()  # (first: a remote target learns the map's key groups)
        if not self.done:
            owners = {owner for span, owner in pmap.ranges if _inside(self.span, span)}
            if len(owners) != 1:
                raise ValueError(
                    f"range {self.span} must lie in one owner's range; the map is "
                    + ", ".join(f"{span}: {owner}" for span, owner in pmap.ranges)
                )
            source = owners.pop()
            if source == self.to:
                raise ValueError(f"range {self.span} is {self.to}'s already; nothing to move")
            if self.parts.router_finished():
                raise ValueError(
                    f"the router of range {self.span} has finished (its input ended): there "
                    "is nothing left to route, so nothing to move"
                )
            self._data.update({"from": source, "to": self.to, "epoch": pmap.epoch + 1})
        epoch = int(self._data["epoch"])
        for step in STEPS[len(self.done) :]:
            detail, data = await getattr(self, f"_{step}")()
            self._interrupt(step, "action")
            if data is not None:
                self._data.update(data)
            self.audit.write(step, self.span, epoch, detail)
            if self.journal is not None:
                text = None if data is None else json.dumps(data)
                self.journal.append(step, self.span.start, self.span.stop, epoch, detail, text)
            self.done.append(step)
            self._interrupt(step, "entry")
        return self.parts.pmap()

    def _interrupt(self, step: str, where: str) -> None:
        if self.crash == (step, where):
            raise MoveInterrupted(f"crash injected after the {where} of step {step!r}")

    # -- the steps: each returns its audit detail and what later steps need ------------------

    async def _moving(self) -> tuple[str, dict[str, Any]]:
        source, to, epoch = self._data["from"], self.to, self._data["epoch"]
        while True:
            before = self.parts.checkpoints(None)
            at = self.parts.hold(self.span)[source]
            # (one whose input ended waits for the flip, and no checkpoint passes it
            # meanwhile: it has nothing more to route, so nothing to lose)
            await self._covered(None, before, self.parts.router_finished)
            # A router restarted from a checkpoint before the hold holds again from where it
            # is now: that hold must be covered in turn (the same counts: still the hold).
            if self.parts.hold(self.span)[source] == at:
                break
        detail = (
            f"range {self.span} moving from {source} to {to} under epoch {epoch}; its items "
            f"wait at the router, after the {at} items sent to {source} (the log position)"
        )
        return detail, {"from": source, "to": to, "epoch": epoch, "at": at}

    async def _drained(self) -> tuple[str, None]:
        source, at = self._data["from"], int(self._data["at"])
        await self._until(lambda: _drained(self.parts.received(source), at), f"{source} drains")
        return f"{source} has handled the {at} items sent to it before the hold", None

    async def _until(self, done: Callable[[], bool], what: str) -> None:
        """Wait (looking every ``poll``) until ``done()``; ``TimeoutError`` after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while not done():
            if loop.time() >= deadline:
                raise TimeoutError(
                    f"move of {self.span}: waited {self.timeout} s for {what}; the move is left "
                    "as its journal says: a controller made again goes on from there"
                )
            await asyncio.sleep(self.poll)

    async def _covered(
        self,
        owner: str | None,
        before: int | None,
        unless: Callable[[], bool] = lambda: False,
    ) -> None:
        """Wait for ``owner``'s partition to commit a checkpoint begun after the change.

        Only if it keeps any: a restart from an older one would undo the step the journal
        says is done. ``before`` is the last one committed before the change; the next one
        may have been in flight, its state saved before the change, so it takes the one after
        (one at a time is in flight: it began once that one had committed). ``owner``
        ``None``: the router's partition.
        """
        if before is not None:
            await self._until(
                lambda: (self.parts.checkpoints(owner) or 0) > before + 1 or unless(),
                f"a checkpoint of {owner or 'the router'} that covers the change",
            )

    async def _snapshot(self) -> tuple[str, dict[str, Any]]:
        source = self._data["from"]
        state = self.parts.snapshot_keys(source, self.span)
        wrong = [key for key in state if not isinstance(key, str)]
        if wrong:
            raise ValueError(
                f"the state of {self.span}'s keys in {source} has keys that are not strings "
                f"({wrong[:3]}); a keyed state moves as JSON: key it by strings"
            )
        try:
            json.dumps(state)  # (JSON data only: the journal keeps it)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"the state of {self.span}'s keys in {source} is not JSON data ({exc}); keep "
                "numbers, strings, lists and dicts in a keyed node's state"
            ) from None
        at = self._data["at"]
        return f"{len(state)} keys of {self.span} taken from {source} at position {at}", {
            "state": state
        }

    async def _loaded(self) -> tuple[str, None]:
        state = self._data["state"]
        before = self.parts.checkpoints(self.to)
        self.parts.load_keys(self.to, state)
        await self._covered(self.to, before)
        return f"{self.to} holds the {len(state)} keys", None

    async def _dropped(self) -> tuple[str, None]:
        source = self._data["from"]
        before = self.parts.checkpoints(source)
        self.parts.drop_keys(source, self.span)
        await self._covered(source, before)
        return f"{source} forgot the keys of {self.span}", None

    async def _flipped(self) -> tuple[str, None]:
        parts, epoch = self.parts, int(self._data["epoch"])
        at: int | None = None  # (where the router took the flip first: taken there again)
        while True:
            before = parts.checkpoints(None)
            current = parts.pmap()
            if current.epoch < epoch:
                pmap = current.moved(self.span, self.to)
                if pmap.epoch != epoch:
                    raise ValueError(f"the router's map moved on meanwhile (epoch {pmap.epoch})")
                parts.flip(pmap, at)
                await self._until(lambda: parts.pmap().epoch >= epoch, "the router to take the map")
                at = parts.flipped_at() if at is None else at
            released = parts.released()
            # (so a router restarted routes by the new map; one restarted from before the flip
            # has the old map again: it is flipped again, at the same position; a partition
            # whose run completed never restarts)
            await self._covered(
                None, before, lambda: parts.pmap().epoch < epoch or parts.router_completed()
            )
            if parts.pmap().epoch >= epoch:
                break
        return (
            f"map epoch {epoch}: {self.span} is {self.to}'s; the {released} items that waited "
            f"went to {self.to}"
        ), None


def _drained(received: tuple[int, bool], at: int) -> bool:
    taken, busy = received
    return taken >= at and not busy


def _inside(inner: GroupRange, outer: GroupRange) -> bool:
    return outer.start <= inner.start and inner.stop <= outer.stop


def keyed_state(node: Node) -> KeyedState:
    """Return ``node``'s keyed state: its own protocol, or its ``context.state`` by key."""
    if isinstance(node, KeyedState):
        return node
    return _ContextState(node)


class _ContextState:
    """A node's ``context.state`` taken as keyed by the items' keys."""

    def __init__(self, node: Node) -> None:
        self._state = node.context.state

    def snapshot_keys(self, owns: Callable[[Any], bool]) -> dict[str, Any]:
        return {k: v for k, v in self._state.items() if owns(k)}

    def load_keys(self, state: Mapping[str, Any]) -> None:
        self._state.update(state)

    def drop_keys(self, owns: Callable[[Any], bool]) -> None:
        for key in [k for k in self._state if owns(k)]:
            del self._state[key]
