"""The node classes ``@node`` makes: function nodes, batch and async ones, and sources."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

from arachne.model.function_stage import FunctionStage, call_stage, reraise
from arachne.model.message import Message
from arachne.model.node import HookResult, Node
from arachne.model.sources import IterSource

__all__ = ["AsyncFunctionNode", "BatchFunctionNode", "FunctionNode", "FunctionSource"]


class FunctionNode(Node):
    """A node that is one function of the payload (see :class:`FunctionStage` for the kinds).

    Made by :func:`~arachne.model.decorator.node`; subclass it only through there. ``fn`` is
    the user's function, ``stage`` how the runtime calls it. Inline, the runtime calls the
    stage on whole batches and never ``on_message``; in other modes ``on_message`` runs.
    """

    fn: ClassVar[Callable[..., Any]]
    stage: ClassVar[FunctionStage]
    input_schemas: ClassVar[dict[str, Any]]
    output_schemas: ClassVar[dict[str, Any]]
    output_port: ClassVar[str]

    def inputs(self) -> Mapping[str, Any]:
        """Return the decorator's input ports."""
        return self.input_schemas

    def outputs(self) -> Mapping[str, Any]:
        """Return the decorator's output ports."""
        return self.output_schemas

    def as_function_stage(self) -> FunctionStage | None:
        """Return the function as a stage."""
        return self.stage

    def on_message(self, port: str, msg: Message) -> HookResult:
        """Call the function with the payload and emit what it returns or yields."""
        results, _ = call_stage(self.stage, [msg.payload], reraise)
        for result in results:  # collected first: a failure half-way emits nothing
            self.emit(self.output_port, result)
        return None


class BatchFunctionNode(FunctionNode):
    """A function node whose function takes a list of payloads and returns a list of results.

    Made by ``@node(batch=True)``. The runtime hands it up to a quantum of payloads per call
    (a fused chain: the whole batch); each result that is not ``None`` is emitted, and a
    function returning ``None`` emits nothing (a sink).
    """

    def on_batch(self, port: str, msgs: list[Message]) -> None:
        """Call the function once with every payload of the batch."""
        results, _ = call_stage(self.stage, [msg.payload for msg in msgs], reraise)
        for result in results:
            self.emit(self.output_port, result)


class AsyncFunctionNode(FunctionNode):
    """A function node whose function is ``async def``; runs in mode ``"async"``."""

    def as_function_stage(self) -> None:
        """Return ``None``: an async function is awaited by ``on_message``, never batched."""
        return

    async def on_message(self, port: str, msg: Message) -> None:
        """Await the function with the payload and emit what it returns."""
        result = await type(self).fn(msg.payload)
        if result is not None:
            self.emit(self.output_port, result)


class FunctionSource(IterSource):
    """A source made by ``@node`` from a function of no parameters."""

    fn: ClassVar[Callable[[], Iterable[Any]]]
    output_schemas: ClassVar[dict[str, Any]]
    output_port: ClassVar[str]

    def __init__(self, *, name: str | None = None, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(
            _LazyIterable(type(self).fn),
            port=self.output_port,
            schema=self.output_schemas[self.output_port],
            name=name,
            config=config,
        )


class _LazyIterable:
    """Calls the source function only when iteration starts, once per run."""

    def __init__(self, fn: Callable[[], Iterable[Any]]) -> None:
        self._fn = fn

    def __iter__(self) -> Iterator[Any]:
        result = self._fn()
        if not isinstance(result, Iterable):
            raise TypeError(
                f"source function {self._fn.__name__!r} returned {type(result).__name__}; "
                "a source made with @node must return an iterable or be a generator"
            )
        return iter(result)
