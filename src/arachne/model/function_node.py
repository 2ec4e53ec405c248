"""The node classes ``@node`` makes: function nodes, batch and async ones, and sources."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

from arachne.model.message import Message
from arachne.model.node import Node
from arachne.model.sources import IterSource

__all__ = ["AsyncFunctionNode", "BatchFunctionNode", "FunctionNode", "FunctionSource"]


class FunctionNode(Node):
    """A node whose ``on_message`` calls one function with the payload.

    The result is emitted on ``out`` unless it is ``None``; a generator function may yield any
    number of results per message. Made by :func:`node`; subclass it only through there.

    A filter (``@node(filter=True)``) keeps ``predicate``, the user's function, and ``fn``
    wraps it: the payload itself when the predicate holds, else ``None``.
    """

    fn: ClassVar[Callable[..., Any]]
    predicate: ClassVar[Callable[[Any], object] | None] = None
    input_schemas: ClassVar[dict[str, Any]]
    output_schemas: ClassVar[dict[str, Any]]
    output_port: ClassVar[str]
    many: ClassVar[bool]

    def inputs(self) -> Mapping[str, Any]:
        """Return the decorator's input ports."""
        return self.input_schemas

    def outputs(self) -> Mapping[str, Any]:
        """Return the decorator's output ports."""
        return self.output_schemas

    def on_message(self, port: str, msg: Message) -> None:
        """Call the function with the payload and emit what it returns or yields."""
        result = type(self).fn(msg.payload)
        if self.many:
            for item in result:
                self.emit(self.output_port, item)
        elif result is not None:
            self.emit(self.output_port, result)


class BatchFunctionNode(FunctionNode):
    """A function node whose function takes a list of payloads and returns a list of results.

    Made by ``@node(batch=True)``. The runtime hands it up to a quantum of payloads per call
    (a fused chain: the whole batch); each result that is not ``None`` is emitted, and a
    function returning ``None`` emits nothing (a sink).
    """

    def on_message(self, port: str, msg: Message) -> None:
        """Call the function with a batch of one."""
        self._emit_all(type(self).fn([msg.payload]))

    def on_batch(self, port: str, msgs: list[Message]) -> None:
        """Call the function once with every payload of the batch."""
        self._emit_all(type(self).fn([msg.payload for msg in msgs]))

    def _emit_all(self, results: Iterable[Any] | None) -> None:
        kept = [] if results is None else [r for r in results if r is not None]
        for result in kept:  # collected first: a failure half-way emits nothing
            self.emit(self.output_port, result)


class AsyncFunctionNode(FunctionNode):
    """A function node whose function is ``async def``; runs in mode ``"async"``."""

    async def on_message(self, port: str, msg: Message) -> None:  # type: ignore[override]
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
