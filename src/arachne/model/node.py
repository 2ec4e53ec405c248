"""The Node base class: a single-responsibility unit with typed input and output ports."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeAlias

from arachne.model.context import NodeContext
from arachne.model.error_record import ERROR_PORT
from arachne.model.errors import ExecutionError
from arachne.model.port import Input, Output, PortDeclaration, PortSpec, normalize_ports

if TYPE_CHECKING:
    from arachne.model.function_stage import FunctionStage
    from arachne.model.message import Message
    from arachne.model.policies import Delivery, ErrorPolicy, Mode

__all__ = [
    "AsyncNode",
    "Emitter",
    "HookResult",
    "Node",
    "NodeBinding",
    "PullSource",
    "async_hooks",
    "overrides",
]

HookResult: TypeAlias = Awaitable[None] | None
"""What a hook returns: nothing, or an awaitable when it is ``async def``.

Typed this way so that ``async def on_message(...)`` is a valid override of the plain one;
the runtime awaits the result of a hook that returns one.
"""

Emitter: TypeAlias = Callable[[Any, object], None]
"""A node's ``emit`` as the runtime installs it: ``(port, value)``."""


class NodeBinding(Protocol):
    """What a running execution gives a node: somewhere to emit, a way to finish."""

    def emit(self, port: Any, value: object) -> None:
        """Send ``value`` (a bare value or a Message) out of ``port`` (a name or PortSpec)."""
        ...

    def finish(self) -> None:
        """Mark the node as done producing; its outputs close after the current hook."""
        ...

    def request_stop(self, drain: bool) -> None:
        """Ask the execution to stop: gracefully (``drain``) or at once."""
        ...

    def hold_input(self, held: bool) -> None:
        """Stop (``held``) or resume taking messages; ticks go on either way."""
        ...

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Return an awaitable that waits ``seconds`` on the runtime's clock."""
        ...

    def cancel(self) -> None:
        """End the node after the message in hand, and cancel what only fed it."""
        ...

    def now(self) -> float:
        """Return the runtime's clock reading, in seconds."""
        ...

    def emit_watermark(self, t: float, idle_after: float | None) -> None:
        """Say every item still to come has an event time of ``t`` or later (see the Node)."""
        ...

    def wake(self) -> None:
        """Give an idle source another turn soon (see ``Node.wake``); safe from any thread."""
        ...


class PullSource(Protocol):
    """A source the runtime pulls from in batches, only as far as its outputs have room.

    One whose ``live`` attribute is true (a socket, a mesh link) is not exhausted by a short
    pull: it finishes by calling ``finish()``, and a pull that finds nothing leaves it idle
    until its ``Node.wake()`` asks again (it is not polled: it must wake itself).
    """

    @property
    def port(self) -> str:
        """The output port its items leave on."""
        ...

    def pull(self, limit: int) -> list[Any]:
        """Return up to ``limit`` next items; fewer means it is exhausted."""
        ...


class Node:
    """Base class of every node.

    Declare ports as class attributes (``out = Output(int)``) or by overriding ``inputs()`` and
    ``outputs()``; override the hooks you need. A subclass's ``__init__`` need not call
    ``super().__init__()``: everything the runtime needs is set up in ``__new__``.

    Options the scheduler reads, set in the class body or per instance (``self.cadence = 2.0``
    in ``__init__``, say) before the node runs:

    - ``cadence``: seconds between ``on_tick`` calls. ``None`` (default) means a source ticks
      whenever its outputs have room and any other node never ticks.
    - ``keep_alive``: a tick-driven node that sets this keeps the run open while it is idle;
      it ends at ``finish()`` or ``stop()`` instead of at quiescence. A keep-alive node that
      holds its input is waited for, not taken for stuck: something outside the run (another
      thread, a callback) is to release it.
    - ``mode``: ``"inline"`` (default: hooks run on the scheduler's loop), ``"async"`` (hooks
      are ``async def``), ``"thread"`` (hooks run in a thread pool, for blocking I/O) or
      ``"process"`` (``@node`` functions only, for CPU-bound work); ``concurrency`` messages
      may be in flight at once and, if ``ordered``, results leave in input order.
    - ``error_policy``: ``"fail"`` (default), ``"skip"``, ``"dead_letter"`` or ``Retry(...)``.
    - ``timeout``: seconds a call (``on_message``, ``on_tick``) of an ``async``, ``thread`` or
      ``process`` node may take; a call that takes longer is abandoned (its emits dropped)
      and goes to the error policy as a ``TimeoutError``. ``None`` (default): no limit.
      Every node also has an implicit ``error`` output: when it is connected, every message a
      hook failed on leaves there as an ``ErrorRecord``.
    - ``delivery``: what a sink promises when the execution is checkpointed (docs/durable.md):
      ``"exactly-once"`` (its :meth:`snapshot` makes its output durable up to the barrier and
      :meth:`restore` takes back what came after), ``"at-least-once"`` (the default: after a
      recovery it may see again what it saw since the last checkpoint) or ``"at-most-once"``.

    - ``stateful``: whether the node keeps state a checkpoint saves, which a graph manifest
      records (its diff flags a change that state cannot survive). ``None`` (default): it does
      when its class overrides :meth:`snapshot`; set ``True`` on a node that keeps its state
      in ``context.state``.

    - ``introduces`` and ``repairs``: taint labels (docs/query-plane.md) this node puts on
      everything it emits, and takes off what it emits: a dedupe repairs ``retried``, a
      window that lets late data through might introduce ``late``. Empty by default.

    - ``forwards_watermarks``: whether the event time this node's inputs reach goes on along
      its outputs (``True``, the default: docs/event-time.md); a node that says its own with
      :meth:`emit_watermark` (a timestamp assigner) sets it ``False``.

    - ``raw_batches``: an inline node whose ``on_batch`` takes the queued items as they are:
      bare payloads, with a ``Message`` only where headers ride along (``False``, the
      default: every item is wrapped in a ``Message``). For a node that only forwards what it
      receives (a mesh link's sending end), where the wrapping is most of the cost; a batch
      that carries headers, lineage or taints is wrapped as always.

    - ``control_inputs``: input ports on the control plane whatever feeds them: what
      ``Execution.inject`` puts there is served before any data, as a control edge's
      messages are (a kill switch's ``control``). Empty by default.

    Under checkpointing (``Runtime(store=...)``) a node's :meth:`snapshot` is saved as each
    barrier passes it and handed to :meth:`restore` before ``on_start`` when a run resumes.
    By default that is ``context.state``, so a node that keeps its state there needs nothing
    more.
    """

    cadence: float | None = None
    keep_alive: bool = False
    default_name: ClassVar[str | None] = None
    mode: Mode = "inline"
    concurrency: int = 1
    ordered: bool = True
    error_policy: ErrorPolicy = "fail"
    timeout: float | None = None
    delivery: Delivery = "at-least-once"
    stateful: ClassVar[bool | None] = None
    introduces: ClassVar[frozenset[str]] = frozenset()
    repairs: ClassVar[frozenset[str]] = frozenset()
    control_inputs: ClassVar[frozenset[str]] = frozenset()
    forwards_watermarks: ClassVar[bool] = True
    raw_batches: ClassVar[bool] = False

    _arachne_name: str | None
    _arachne_config: Mapping[str, Any]
    _arachne_kind: str | None  # the component id it was built from, if a registry built it
    _arachne_binding: NodeBinding | None
    _arachne_context: NodeContext | None

    def __new__(cls, *args: Any, **kwargs: Any) -> Node:  # __init__ takes them
        """Create the instance with the runtime's slots filled, whatever ``__init__`` does."""
        self = object.__new__(cls)
        self.__dict__.update(
            _arachne_name=None,
            _arachne_config={},
            _arachne_kind=None,
            _arachne_binding=None,
            _arachne_context=None,
        )
        return self

    def __init__(self, *, name: str | None = None, config: Mapping[str, Any] | None = None) -> None:
        if name is not None:
            self._arachne_name = name
        if config is not None:
            self._arachne_config = dict(config)

    # -- identity and ports -------------------------------------------------------------------

    def name(self) -> str:
        """Return the node's name.

        That is ``name=`` if given, else the class's ``default_name``, else the class name in
        snake_case.
        """
        return self._arachne_name or self.default_name or _snake(type(self).__name__)

    def inputs(self) -> Mapping[str, Any]:
        """Return the input ports: ``{name: schema}``; defaults to the ``Input`` attributes."""
        return _declared(type(self), Input)

    def outputs(self) -> Mapping[str, Any]:
        """Return the output ports: ``{name: schema}``; defaults to the ``Output`` attributes."""
        return _declared(type(self), Output)

    def input_specs(self) -> dict[str, PortSpec]:
        """Return the input ports as normalised ``PortSpec``s."""
        return normalize_ports(self.inputs(), owner=f"{self.name()}.inputs()")

    def output_specs(self) -> dict[str, PortSpec]:
        """Return the declared output ports as normalised ``PortSpec``s (without ``error``)."""
        specs = normalize_ports(self.outputs(), owner=f"{self.name()}.outputs()")
        if ERROR_PORT in specs:
            raise ValueError(
                f"{self.name()}.outputs(): {ERROR_PORT!r} is the implicit port for failed "
                "messages; give your output another name"
            )
        return specs

    @property
    def context(self) -> NodeContext:
        """The node's config, ids, state and logger (a detached context before it runs)."""
        ctx = self._arachne_context
        if ctx is None:
            ctx = NodeContext.create(self.name(), config=self._arachne_config)
            self._arachne_context = ctx
        return ctx

    def as_function_stage(self) -> FunctionStage | None:
        """Return the node as one function the runtime may call on payloads, if it is one.

        ``@node`` functions are; the runtime then calls the function directly (on whole
        batches, or fused with its neighbours) instead of ``on_message``.
        """
        return None

    def as_pull_source(self) -> PullSource | None:
        """Return the node as a source the runtime pulls batches from, if it is one."""
        return None

    # -- hooks ---------------------------------------------------------------------------------
    # Each may be ``async def`` (see ``HookResult``): the runtime awaits what it returns.

    def on_start(self) -> HookResult:
        """Run once before any message or tick."""
        return None

    def on_message(self, port: str, msg: Message) -> HookResult:
        """Handle one message that arrived on input ``port``."""
        return None

    def on_batch(self, port: str, msgs: list[Message]) -> None:
        """Handle several messages from input ``port`` at once (by default, one by one).

        Override it to work on whole batches (up to a quantum of messages per call). Emits from
        here carry no parent headers; use ``msg.derive(...)`` to keep a message's headers.
        Batches are handed to inline nodes only.
        """
        for msg in msgs:
            self.on_message(port, msg)

    def on_tick(self) -> HookResult:
        """Run on the node's cadence; sources produce here."""
        return None

    def on_finish(self) -> HookResult:
        """Run once when every input has ended; flush buffered results here."""
        return None

    def on_stop(self) -> HookResult:
        """Run once at shutdown, in reverse topological order; release resources here."""
        return None

    def on_watermark(self, t: float) -> None:
        """Run when the node's input watermark rises to ``t``: no item before ``t`` follows.

        The watermark is the lowest over the node's input edges that are not idle
        (docs/event-time.md). A window closes here what ends at or before ``t``; what it
        emits leaves before the watermark goes on along the outputs. A plain ``def``.
        """
        return

    def on_config(self, config: Mapping[str, Any]) -> None:
        """Take a new config while running (``Execution.update_config``).

        ``self.context.config`` already holds it. Raising refuses it: the old config stays,
        and the caller of ``update_config`` gets the error. A node that does not override
        this cannot change its config while it runs.
        """
        return

    # -- checkpoints -------------------------------------------------------------------------

    def snapshot(self) -> Any:
        """Return this node's state as JSON data, saved as a checkpoint's barrier passes it.

        Called on the loop between hooks (never during one), once everything the node took
        before the barrier has been handled. The default is a copy of ``context.state``
        (``None`` when it is empty: nothing to save). A sink that promises ``exactly-once``
        makes its output durable here (flush, fsync) and returns where it stands.
        """
        state = self.context.state
        return dict(state) if state else None

    def restore(self, state: Any) -> None:
        """Take back what :meth:`snapshot` returned, before ``on_start``, when a run resumes.

        The default puts it back into ``context.state``.
        """
        if not isinstance(state, dict):
            raise ValueError(
                f"{self.name()}: a saved state for context.state must be a JSON object, got "
                f"{type(state).__name__}; override restore() to take another form"
            )
        self.context.state.clear()
        self.context.state.update(state)

    def on_checkpoint(self, checkpoint: int) -> None:
        """Run when checkpoint ``checkpoint`` has committed (a sink may publish its output).

        Called on the event loop: a ``thread``-mode node may be inside a call meanwhile.
        """
        return

    def fingerprint(self) -> str | None:
        """Return what decides this node's behaviour besides its class and config, or ``None``.

        It is part of the node's spec, so of the graph's checksum: a checkpointed run resumes
        only onto a graph whose nodes have the same fingerprints. A code node returns a digest
        of its component's definition (its source included).
        """
        return None

    # -- the runtime's seam --------------------------------------------------------------------

    def bind_runtime(self, binding: NodeBinding, context: NodeContext) -> None:
        """Attach this instance to a running execution (called by the runtime, once per run).

        Raises ``ExecutionError`` if the instance is already part of a running execution.
        """
        if self._arachne_binding is not None:
            raise ExecutionError(
                f"node instance {self.name()!r} is already part of a running execution; "
                "create a new instance for each execution"
            )
        self._arachne_binding = binding
        self._arachne_context = context
        self.set_emitter(binding.emit)

    def set_emitter(self, emitter: Emitter | None) -> None:
        """Route ``self.emit`` straight to ``emitter`` (``None``: back through the binding).

        The runtime installs the fastest path to this node's outputs here (one call per
        emitted value instead of two) and replaces it when the outputs are rewired.
        """
        if emitter is None:
            self.__dict__.pop("emit", None)
        else:
            self.__dict__["emit"] = emitter

    def bind_context(self, context: NodeContext) -> None:
        """Give the instance a new context (a new config; called by the runtime)."""
        self._arachne_context = context

    def unbind_runtime(self) -> None:
        """Detach from the execution so the instance can run again; its context stays readable."""
        self._arachne_binding = None
        self.set_emitter(None)

    # -- actions -------------------------------------------------------------------------------

    def emit(self, port: str | PortSpec, value: object) -> None:
        """Send ``value`` out of ``port``; a bare value is wrapped with the current headers."""
        binding = self._arachne_binding
        if binding is None:
            raise ExecutionError(
                f"node {self.name()!r} emitted on {port!r} while not running; "
                "emit only from hooks called by the runtime"
            )
        binding.emit(port if isinstance(port, str) else port.name, value)

    def finish(self) -> None:
        """Declare that this node will produce nothing more (sources call this when done)."""
        binding = self._arachne_binding
        if binding is None:
            raise ExecutionError(f"node {self.name()!r} called finish() while not running")
        binding.finish()

    def hold_input(self, held: bool = True) -> None:
        """Take no more messages until ``hold_input(False)``; ticks go on meanwhile.

        For a node that keeps what it receives (a delay, a window): call it when its buffer
        is full and release from ``on_tick`` once it has room, and its input edges fill and
        hold their producers back, as a full output would. It takes effect after the
        message in hand (after the batch in hand, for ``on_batch``).
        """
        binding = self._arachne_binding
        if binding is None:
            raise ExecutionError(f"node {self.name()!r} called hold_input() while not running")
        binding.hold_input(held)

    def cancel(self) -> None:
        """End this node now and cancel its upstream: a kill switch's shutdown (Akka's cancel).

        After the message in hand it takes no more. What waits on its input edges is
        dropped and counted (``discarded``), those edges are removed from the running graph,
        and a producer left with no output is cancelled in turn, so a source stops. Then the
        node finishes as any node does: ``on_finish`` runs, its outputs close, and what is
        downstream completes once it has taken what it was sent. A producer that also feeds
        another node goes on. From a control message it acts even while the node's outputs
        are full, so it overtakes all the data queued on its way.
        """
        binding = self._arachne_binding
        if binding is None:
            raise ExecutionError(f"node {self.name()!r} called cancel() while not running")
        binding.cancel()

    def now(self) -> float:
        """Return the runtime's clock, in seconds: what a node reads instead of ``time``.

        Real monotonic time when the execution runs on real time; a ``FakeClock``'s reading,
        or a simulation's virtual time (``arachne.sim``, where reading ``time.time()`` from
        node code is an error), otherwise. Only differences between readings mean anything.
        """
        binding = self._arachne_binding
        if binding is None:
            raise ExecutionError(f"node {self.name()!r} called now() while not running")
        return binding.now()

    def emit_watermark(self, t: float, *, idle_after: float | None = None) -> None:
        """Say that every item still to come on the outputs has an event time of ``t`` or later.

        The watermark goes along every output edge after what the node emitted there so far,
        in order with the data, and on through the nodes downstream (docs/event-time.md). It
        never goes back: a lower ``t`` than the last is ignored. With ``idle_after``, if the
        node says nothing more for that many seconds of the runtime's clock, its outputs are
        marked idle, and the nodes downstream stop waiting for them; the next call makes
        them active again.
        """
        binding = self._arachne_binding
        if binding is None:
            raise ExecutionError(f"node {self.name()!r} called emit_watermark() while not running")
        binding.emit_watermark(t, idle_after)

    def wake(self) -> None:
        """Give this source another turn soon: something it waits for has come.

        For a source that found nothing to emit (a tick that emitted nothing, a live pull
        source's empty pull), which the runtime otherwise asks again only when something else
        happened in the run or its idle poll comes round. Safe from any thread and from
        callbacks outside the node's hooks; on a node that is not idle, not running yet (its
        first turn comes anyway) or ended, it does nothing.
        """
        binding = self._arachne_binding
        if binding is not None:
            binding.wake()

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Wait ``seconds`` on the runtime's clock, from an ``async`` hook (``await``).

        Where ``asyncio.sleep`` waits real time, this waits the runtime's: a ``FakeClock``
        or a simulation (``arachne.sim``) passes it at once, and real time stays real.
        """
        binding = self._arachne_binding
        if binding is None:
            raise ExecutionError(f"node {self.name()!r} called sleep() while not running")
        return binding.sleep(seconds)

    def request_stop(self, *, drain: bool = True) -> None:
        """Stop the whole execution: a kill switch.

        With ``drain`` (default) sources stop and what is in flight is processed; without it
        queued messages are dropped (and counted) and the execution is cancelled.
        """
        binding = self._arachne_binding
        if binding is None:
            raise ExecutionError(f"node {self.name()!r} called request_stop() while not running")
        binding.request_stop(drain)


class AsyncNode(Node):
    """A node whose hooks are ``async def``: they run as coroutines on the loop.

    Its ``mode`` is ``"async"``: up to ``concurrency`` calls are in flight at once, and what
    they emit leaves in input order (unless ``ordered = False``). Override the hooks you need
    with ``async def``; ``on_start``, ``on_finish`` and ``on_stop`` may be either kind.
    """

    mode: Mode = "async"

    async def on_message(self, port: str, msg: Message) -> None:
        """Handle one message that arrived on input ``port``."""

    async def on_tick(self) -> None:
        """Run on the node's cadence; sources produce here."""


_BASE_HOOKS: dict[str, frozenset[object]] = {
    hook: frozenset({getattr(Node, hook), getattr(AsyncNode, hook)})
    for hook in (
        "on_start",
        "on_message",
        "on_batch",
        "on_tick",
        "on_finish",
        "on_stop",
        "on_config",
        "on_watermark",
    )
}


def overrides(node: Node, hook: str) -> bool:
    """Return whether ``node``'s class overrides the base hook named ``hook``.

    The defaults of ``Node`` and ``AsyncNode`` (which do nothing) do not count.
    """
    return getattr(type(node), hook) not in _BASE_HOOKS[hook]


def async_hooks(node: Node) -> list[str]:
    """Return which of ``on_message`` and ``on_tick`` ``node``'s class defines ``async def``."""
    cls = type(node)
    return [h for h in ("on_message", "on_tick") if inspect.iscoroutinefunction(getattr(cls, h))]


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _declared(cls: type, kind: type[Input] | type[Output]) -> dict[str, PortSpec]:
    # By attribute name first, so a subclass that redefines an attribute replaces the port.
    by_attribute: dict[str, PortSpec] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, PortDeclaration):
                by_attribute.pop(attr, None)
                if isinstance(value, kind):
                    by_attribute[attr] = value.spec
    return {spec.name: spec for spec in by_attribute.values()}
