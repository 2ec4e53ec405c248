"""The in-memory transport: hosts in one process and loop, over a network that misbehaves.

:class:`MemoryNetwork` hands each frame to its destination host after a delay, on the
running loop (a simulation's virtual loop runs it in virtual time). :class:`NetworkFaults`
makes it an unreliable network, from a seeded random generator so a run repeats exactly:
frames delayed by a random time (which reorders them), dropped, doubled, and hosts cut off
from each other for a while (a partition). Frames pass by reference: nothing is encoded.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from arachne.distributed.frames import Frame
from arachne.distributed.host import LinkCapabilities

__all__ = ["MemoryNetwork", "NetworkFaults", "Partition"]


@dataclass(frozen=True, slots=True)
class Partition:
    """Hosts ``a`` and ``b`` cannot reach each other from ``start`` for ``seconds``."""

    a: str
    b: str
    start: float
    seconds: float

    def cuts(self, source: str, dest: str, now: float) -> bool:
        """Whether a frame from ``source`` to ``dest`` sent at ``now`` is lost to it."""
        pair = {source, dest} == {self.a, self.b}
        return pair and self.start <= now < self.start + self.seconds


@dataclass(frozen=True, slots=True)
class NetworkFaults:
    """How the network misbehaves: probabilities per frame, delays in seconds."""

    delay: tuple[float, float] = (0.0, 0.0)
    drop: float = 0.0
    duplicate: float = 0.0
    partitions: tuple[Partition, ...] = field(default=())

    def __post_init__(self) -> None:
        low, high = self.delay
        if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
            raise ValueError(
                f"delay must be (low, high) seconds with 0 <= low <= high, got {self.delay}"
            )
        for name in ("drop", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")


class MemoryNetwork:
    """Hosts attached by name; frames delivered on the running loop, faults drawn from ``seed``."""

    capabilities = LinkCapabilities()  # one process: trusted; in memory: not durable

    def __init__(self, faults: NetworkFaults | None = None, *, seed: int = 0) -> None:
        self.faults = faults if faults is not None else NetworkFaults()
        self.rng = random.Random(seed)  # noqa: S311  (faults to repeat, not secrets)
        self._hosts: dict[str, Callable[[str, Frame], None]] = {}
        self.sent = self.dropped = self.duplicated = self.cut = 0
        self.in_transit = 0

    def attach(
        self,
        host: str,
        deliver: Callable[[str, Frame], None],
        lost: Callable[[str, str], None] | None = None,
    ) -> None:
        """Deliver frames addressed to ``host`` to ``deliver`` (a crash is only silence here)."""
        self._hosts[host] = deliver

    def detach(self, host: str) -> None:
        """Let frames for ``host`` be lost from now on (it crashed)."""
        self._hosts.pop(host, None)

    def send(self, source: str, dest: str, frame: Frame) -> None:
        """Send a frame: maybe lost, late, doubled, or cut off by a partition."""
        self.sent += 1
        faults, rng = self.faults, self.rng
        loop = asyncio.get_running_loop()
        now = loop.time()
        if any(p.cuts(source, dest, now) for p in faults.partitions):
            self.cut += 1
            return
        if faults.drop and rng.random() < faults.drop:
            self.dropped += 1
            return
        copies = 2 if faults.duplicate and rng.random() < faults.duplicate else 1
        self.duplicated += copies - 1
        low, high = faults.delay
        for _ in range(copies):
            self.in_transit += 1
            delay = rng.uniform(low, high) if high else 0.0
            loop.call_later(delay, self._arrive, source, dest, frame)

    def _arrive(self, source: str, dest: str, frame: Frame) -> None:
        self.in_transit -= 1
        deliver = self._hosts.get(dest)
        if deliver is not None:
            deliver(source, frame)
