"""The Node base class: a single-responsibility unit with typed input and output ports."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from arachne.model.context import NodeContext
from arachne.model.error_record import ERROR_PORT
from arachne.model.errors import ExecutionError
from arachne.model.port import Input, Output, PortDeclaration, PortSpec, normalize_ports

if TYPE_CHECKING:
    from arachne.model.message import Message
    from arachne.model.policies import ErrorPolicy

__all__ = ["Node", "NodeBinding", "overrides"]


class NodeBinding(Protocol):
    """What a running execution gives a node: somewhere to emit, a way to finish."""

    def emit(self, port: str, value: object) -> None:
        """Send ``value`` (a bare value or a Message) out of ``port``."""
        ...

    def finish(self) -> None:
        """Mark the node as done producing; its outputs close after the current hook."""
        ...

    def request_stop(self, drain: bool) -> None:
        """Ask the execution to stop: gracefully (``drain``) or at once."""
        ...


class Node:
    """Base class of every node.

    Declare ports as class attributes (``out = Output(int)``) or by overriding ``inputs()`` and
    ``outputs()``; override the hooks you need. A subclass's ``__init__`` need not call
    ``super().__init__()``: everything the runtime needs is set up in ``__new__``.

    Class attributes the scheduler reads:

    - ``cadence``: seconds between ``on_tick`` calls. ``None`` (default) means a source ticks
      whenever its outputs have room and any other node never ticks.
    - ``keep_alive``: a tick-driven node that sets this keeps the run open while it is idle;
      it ends at ``finish()`` or ``stop()`` instead of at quiescence.
    - ``mode``: ``"inline"`` (default: hooks run on the scheduler's loop), ``"async"`` (hooks
      are ``async def``), ``"thread"`` (hooks run in a thread pool, for blocking I/O) or
      ``"process"`` (``@node`` functions only, for CPU-bound work); ``concurrency`` messages
      may be in flight at once and, if ``ordered``, results leave in input order.
    - ``error_policy``: ``"fail"`` (default), ``"skip"``, ``"dead_letter"`` or ``Retry(...)``.
      Every node also has an implicit ``error`` output: when it is connected, every message a
      hook failed on leaves there as an ``ErrorRecord``.
    """

    cadence: ClassVar[float | None] = None
    keep_alive: ClassVar[bool] = False
    default_name: ClassVar[str | None] = None
    mode: ClassVar[str] = "inline"
    concurrency: ClassVar[int] = 1
    ordered: ClassVar[bool] = True
    error_policy: ClassVar[ErrorPolicy] = "fail"

    _arachne_name: str | None
    _arachne_config: Mapping[str, Any]
    _arachne_binding: NodeBinding | None
    _arachne_context: NodeContext | None

    def __new__(cls, *args: Any, **kwargs: Any) -> Node:  # __init__ takes them
        """Create the instance with the runtime's slots filled, whatever ``__init__`` does."""
        self = object.__new__(cls)
        self.__dict__.update(
            _arachne_name=None,
            _arachne_config={},
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

    # -- hooks ---------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Run once before any message or tick."""

    def on_message(self, port: str, msg: Message) -> None:
        """Handle one message that arrived on input ``port``."""

    def on_batch(self, port: str, msgs: list[Message]) -> None:
        """Handle several messages from input ``port`` at once (by default, one by one).

        Override it to work on whole batches (up to a quantum of messages per call). Emits from
        here carry no parent headers; use ``msg.derive(...)`` to keep a message's headers.
        """
        for msg in msgs:
            self.on_message(port, msg)

    def on_tick(self) -> None:
        """Run on the node's cadence; sources produce here."""

    def on_finish(self) -> None:
        """Run once when every input has ended; flush buffered results here."""

    def on_stop(self) -> None:
        """Run once at shutdown, in reverse topological order; release resources here."""

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

    def request_stop(self, *, drain: bool = True) -> None:
        """Stop the whole execution: a kill switch.

        With ``drain`` (default) sources stop and what is in flight is processed; without it
        queued messages are dropped (and counted) and the execution is cancelled.
        """
        binding = self._arachne_binding
        if binding is None:
            raise ExecutionError(f"node {self.name()!r} called request_stop() while not running")
        binding.request_stop(drain)


def overrides(node: Node, hook: str) -> bool:
    """Return whether ``node``'s class overrides the base ``Node`` hook named ``hook``."""
    return getattr(type(node), hook) is not getattr(Node, hook)


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
