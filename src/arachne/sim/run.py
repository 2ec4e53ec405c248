"""One simulated run of a graph from a seed, and many: the trace hash, the coverage, failures.

:func:`simulate` builds the graph afresh, runs it on a :class:`~arachne.sim.loop.SimLoop` with
an :class:`~arachne.sim.oracle.Oracle` made from the seed, and returns a :class:`SimResult`:
the execution's end state, how much virtual and real time it took, the coverage, what went
wrong if anything, and a *trace hash*: the SHA-256 of every event the execution published
(its kind, its fields but the wall-clock stamp, and the virtual time it came at), of every
activation (which node the scheduler ran, and when) and of its final counters. The same seed
gives the same hash, event for event: that is what makes a failure reproducible from its
seed, and :func:`explore` checks it by running seeds twice.

With ``crashes`` set, each node's hook may crash (``SimulatedCrash``, the ``node.crash``
fault point) before it handles a value, and its error policy decides what follows: retried,
skipped, dead-lettered, or the run fails. ``time.sleep`` called inside a simulated run is an
error naming its caller: real time does not pass there; so is reading a real clock
(``time.time()``, ``time.monotonic()``, ...) from a node's code: ``Node.now()`` reads the
runtime's. A kill (``kill_at``) is a power loss too: a store's commits since a lost fsync
(``durable.lost-fsync``) are gone when the run is resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import inspect
import logging
import math
import os
import random
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType
from typing import Any, Final, SupportsIndex

from arachne.model.function_stage import FunctionStage
from arachne.model.node import Node
from arachne.model.subgraph import Subgraph
from arachne.runtime import Execution, Runtime
from arachne.runtime.events import Event
from arachne.runtime.simulation import NODE_CRASH, fault, simulating
from arachne.sim.loop import SimClock, SimLoop
from arachne.sim.oracle import Coverage, Mode, Oracle

__all__ = [
    "EXECUTION_ID",
    "Exploration",
    "Killed",
    "RealTimeUsed",
    "SimResult",
    "SimulatedCrash",
    "explore",
    "simulate",
]

EXECUTION_ID = "sim"
"""The id of every simulated execution (ids are part of the trace, so they are fixed)."""

Build = Callable[[], Node | Subgraph]
"""What :func:`simulate` runs: a function that builds the graph afresh for each run."""


class SimulatedCrash(RuntimeError):
    """A node's hook crashed because the simulation's oracle said so (``node.crash``)."""


class Killed(RuntimeError):
    """The run was stopped where ``kill_at`` said, as a killed process stops."""


class RealTimeUsed(RuntimeError):
    """Code inside a simulated run slept or read a real clock; the message names where."""


@dataclass(frozen=True)
class SimResult:
    """What one simulated run did (see the module's text)."""

    seed: int
    trace_hash: str
    events: int
    state: str
    virtual_seconds: float
    real_seconds: float
    coverage: Coverage
    failure: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the run completed with no failure and no broken invariant."""
        return self.failure is None

    @property
    def compression(self) -> float:
        """Virtual seconds per real second (how much faster than real time it ran)."""
        return self.virtual_seconds / self.real_seconds if self.real_seconds > 0 else math.inf


@dataclass
class Exploration:
    """Many seeds: each result, the coverage of them all, and the seeds that failed."""

    results: list[SimResult] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    unreproducible: list[int] = field(default_factory=list)  # seeds whose two runs differed

    @property
    def failures(self) -> list[SimResult]:
        """The runs that failed, in seed order."""
        return [result for result in self.results if not result.ok]


def simulate(
    build: Build,
    seed: int,
    *,
    faults: float | Mapping[str, float] = 0.0,
    crashes: bool | Collection[str] = False,
    mode: Mode = "liveness",
    max_faults: int = 10,
    max_steps: int = 1_000_000,
    timeout: float | None = 3600.0,
    check: Callable[[Execution], None] | None = None,
    during: Callable[[Execution, SimLoop, random.Random], None] | None = None,
    kill_at: float | None = None,
    options: Mapping[str, Any] | None = None,
) -> SimResult:
    """Run the graph ``build()`` makes under simulation from ``seed``; return what happened.

    ``faults`` is the probability that a fault point fires when reached, or a mapping from
    fault point to its own (``{"durable.lost-fsync": 0.5}``; the others never fire); ``mode`` and
    ``max_faults`` ration them, see ``Oracle``); ``crashes`` makes each node's hook a fault
    point (``node.crash``), or those of the nodes it names. ``timeout`` is in virtual seconds
    (``None``: none); ``max_steps`` bounds the activations of a run whose virtual time stands
    still (``Livelock``).
    ``check(execution)``, called after the run, may raise ``AssertionError`` to fail it;
    ``during(execution, loop, rng)``, called before it starts, may schedule what happens to
    it meanwhile (``loop.call_later``: a pause, a live change), at times drawn from ``rng``,
    the oracle's own. ``kill_at`` (virtual seconds) ends the run there as a kill would: the
    loop stops, its tasks are cancelled, and its run lock is let go, so a second call with
    the same store resumes it. ``options`` go to the ``Runtime`` (``store``,
    ``checkpoint_every``, ...).
    """
    loop = SimLoop()
    try:
        oracle = Oracle(
            seed, loop, faults=faults, mode=mode, max_faults=max_faults, max_steps=max_steps
        )
    except ValueError:
        loop.close()
        raise
    digest = hashlib.sha256()
    count = 0

    def record(event: Event) -> None:
        nonlocal count
        count += 1
        digest.update(f"{loop.time():.9f} {type(event).__name__} {_fields(event)}\n".encode())

    failure: str | None = None
    began = time.perf_counter()
    state = "pending"
    killed = False

    try:
        with simulating(oracle), _no_real_time():
            unit = build()
            if crashes:
                _crashing(unit, None if crashes is True else set(crashes))
            runtime = Runtime(
                clock=SimClock(loop), seed=seed, execution_timeout=timeout, **(options or {})
            )
            runtime.events.subscribe(record)
            execution = runtime.open_execution(unit, execution_id=EXECUTION_ID)
            if during is not None:
                during(execution, loop, oracle.rng)
            if kill_at is not None:
                loop.call_at(kill_at, loop.stop)
            try:
                loop.run_until_complete(execution.run())
            except RuntimeError:
                if kill_at is None or loop.time() < kill_at:
                    raise
                _killed(execution)
                killed = True
                raise Killed(f"killed at {loop.time():.6f} s (virtual)") from None
            finally:
                state = execution.state.value
                digest.update(repr(oracle.activations).encode())  # which node ran when
                digest.update(_counters(execution).encode())
            if check is not None:
                check(execution)
    except Exception as exc:  # (the run's failure is the result)
        failure = f"{type(exc).__name__}: {exc}"
    finally:
        if killed:  # (a kill is a power loss: what no fsync made durable is gone, first)
            oracle.lose_power()
        _close(loop)
    broken = sorted(oracle.coverage.broken)
    if failure is None and loop.errors:
        failure = f"a callback failed: {loop.errors[0]}"
    if failure is None and broken:
        failure = f"invariants broken: {', '.join(broken)}"
    return SimResult(
        seed=seed,
        trace_hash=digest.hexdigest(),
        events=count,
        state=state,
        virtual_seconds=loop.time(),
        real_seconds=time.perf_counter() - began,
        coverage=oracle.coverage,
        failure=failure,
    )


def explore(
    build: Build, seeds: range | list[int], *, twice: bool = False, **options: Any
) -> Exploration:
    """Simulate every seed of ``seeds`` (with :func:`simulate`'s ``options``).

    ``twice`` runs each seed a second time and lists the seeds whose trace hashes differ.
    """
    exploration = Exploration()
    for seed in seeds:
        result = simulate(build, seed, **options)
        exploration.results.append(result)
        exploration.coverage.merge(result.coverage)
        if twice and simulate(build, seed, **options).trace_hash != result.trace_hash:
            exploration.unreproducible.append(seed)
    return exploration


# -- the parts of a run ----------------------------------------------------------------------


_MEASURED: Final = frozenset({"ts_ns", "blocked_seconds", "seconds"})
"""Event fields the runtime measures on the real clock (when an event was made, how long a
producer was blocked, how long a checkpoint took): left out of the trace, which must be the
same on every run of a seed. (Found by the durable queue's scenarios: a graph under
backpressure or checkpoints gave a seed three different trace hashes.)"""


def _fields(event: Event) -> str:
    """Return ``event``'s fields as stable text: no real time, no object addresses."""
    return repr(
        [
            (f.name, _stable(getattr(event, f.name)))
            for f in dataclasses.fields(event)
            if f.name not in _MEASURED
        ]
    )


def _stable(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_stable(item) for item in value]
    if isinstance(value, Mapping):
        return sorted((str(key), _stable(item)) for key, item in value.items())
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return type(value).__name__  # (what an object's repr would add is its address)


def _counters(execution: Execution) -> str:
    """Return the execution's final counters as stable text (part of the trace)."""
    stats = execution.stats()
    nodes = sorted(
        (node_id, node.received, node.emitted, node.errors) for node_id, node in stats.nodes.items()
    )
    edges = sorted(
        (edge_id, edge.enqueued, edge.dequeued, edge.dropped)
        for edge_id, edge in stats.edges.items()
    )
    return f"{stats.state} {nodes} {edges}"


def _killed(execution: Execution) -> None:
    """Let go of what a killed process would have let go of: its run's lock."""
    checkpointer = execution.checkpointer
    target = checkpointer.target if checkpointer is not None else None
    release = getattr(target, "release", None)
    if callable(release):
        release()


def _crashing(unit: Node | Subgraph, only: set[str] | None) -> None:
    """Make the hooks of the nodes in ``unit`` (``only`` those ids) ``node.crash`` points."""
    nodes = {unit.name() or "node": unit} if isinstance(unit, Node) else unit.instances()
    unknown = sorted((only or set()) - set(nodes))
    if unknown:
        raise ValueError(
            f"crashes names nodes the graph does not have: {', '.join(unknown)}; its nodes: "
            f"{', '.join(sorted(nodes))}"
        )
    for name, node in nodes.items():
        if only is None or name in only:
            _crash_wrap(node, name)


def _crash_wrap(node: Node, name: str) -> None:
    stage = node.as_function_stage()
    if stage is not None:
        fn = stage.fn

        def crashing_fn(value: Any) -> Any:
            if fault(NODE_CRASH):
                raise SimulatedCrash(f"simulated crash of {name}")
            return fn(value)

        crashed = FunctionStage(crashing_fn, stage.kind, stage.output_port)
        node.as_function_stage = lambda: crashed  # type: ignore[method-assign]
    # (and its hook, which the other modes call)
    on_message = node.on_message
    if inspect.iscoroutinefunction(on_message):  # (an async hook: crash before it is awaited)

        async def crashing_async(port: str, msg: Any) -> None:
            if fault(NODE_CRASH):
                raise SimulatedCrash(f"simulated crash of {name}")
            await on_message(port, msg)

        node.on_message = crashing_async  # type: ignore[method-assign]
        return

    def crashing(port: str, msg: Any) -> None:
        if fault(NODE_CRASH):
            raise SimulatedCrash(f"simulated crash of {name}")
        on_message(port, msg)

    node.on_message = crashing  # type: ignore[method-assign]


CLOCKS = ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns")
"""The ``time`` functions that read a real clock, refused from user code in a simulated run."""

WALL_DEFAULTS = {"localtime": 1, "gmtime": 1, "ctime": 1, "asctime": 1, "strftime": 2}
"""The ``time`` functions that read the wall clock when called with fewer arguments than
this (no time given): refused the same way then."""

_LOCK = threading.Lock()  # (one simulated run patches ``time`` at a time, per process)


@contextlib.contextmanager
def _no_real_time() -> Iterator[None]:
    """Make real time an error in this thread, meanwhile, naming the call site.

    ``time.sleep`` from anywhere; a real clock's reading (:data:`CLOCKS`, and
    :data:`WALL_DEFAULTS` given no time) from code outside Python's own library and Arachne:
    a node's, or a library a node calls. Arachne reads real clocks only to measure itself
    (busy time, stamps no trace includes), and so may a log record factory a library
    installed (Ray's stamps every record).
    """
    with _LOCK:
        here = threading.get_ident()
        real = {name: getattr(time, name) for name in ("sleep", *CLOCKS, *WALL_DEFAULTS)}
        stamping = _stamping()

        def refuse(call: str) -> RealTimeUsed:
            caller = sys._getframe(2)  # (the caller of the replaced function)
            code = caller.f_code
            return RealTimeUsed(
                f"{call} at {code.co_filename}:{caller.f_lineno} ({code.co_name}) inside a "
                "simulated run, where time is virtual: use the runtime's clock instead "
                "(Node.now() to read it, Node.sleep() or a node's cadence to wait)"
            )

        def sleep(seconds: float | SupportsIndex) -> None:
            if threading.get_ident() != here:
                real["sleep"](seconds)
                return
            raise refuse(f"time.sleep({seconds})")

        def guarded(name: str, given: int = 0) -> Callable[..., Any]:
            read = real[name]

            def clock(*args: Any) -> Any:
                if (
                    (len(args) < given or not given)
                    and threading.get_ident() == here
                    and not _trusted(sys._getframe(1).f_code.co_filename)
                    and sys._getframe(1).f_code is not stamping
                ):
                    raise refuse(f"time.{name}()")
                return read(*args)

            return clock

        replaced = {"sleep": sleep} | {name: guarded(name) for name in CLOCKS}
        replaced |= {name: guarded(name, given) for name, given in WALL_DEFAULTS.items()}
        for name, function in replaced.items():
            setattr(time, name, function)
        try:
            yield
        finally:
            for name, function in real.items():
                setattr(time, name, function)


def _roots(*keys: str) -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(sorted({str(Path(paths[key]).resolve()) + os.sep for key in keys}))


_STDLIB = _roots("stdlib", "platstdlib")
_SITE = _roots("purelib", "platlib")  # (inside a virtual environment's lib: not trusted)
_ARACHNE = str(Path(__file__).resolve().parents[1]) + os.sep


def _stamping() -> CodeType | None:
    """Return the code of the log record factory an installed library set (as Ray does).

    Stamping a log record with the real time measures; it decides nothing in the run. Taken
    when the run starts, and only from an installed library: a factory a node sets later, or
    one defined outside site-packages, gets no pass.
    """
    code = getattr(logging.getLogRecordFactory(), "__code__", None)
    if not isinstance(code, CodeType):
        return None
    path = str(Path(code.co_filename).resolve())
    return code if path.startswith(_SITE) else None


@functools.cache
def _trusted(filename: str) -> bool:
    """Whether code in ``filename`` may read real clocks: Python's own library, or Arachne."""
    if filename.startswith("<frozen "):  # (the standard library's frozen modules)
        return True
    path = str(Path(filename).resolve())
    if path.startswith(_ARACHNE):
        return True
    return path.startswith(_STDLIB) and not path.startswith(_SITE)


def _close(loop: SimLoop) -> None:
    """Cancel what is left on the loop and close it.

    After a kill too: the tasks are cancelled, so their ``finally`` blocks run (a file is
    closed), where a killed process would run none. What they write then is past the last
    checkpoint, which a resumed run cuts back to, as it does after a real kill.
    """
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
