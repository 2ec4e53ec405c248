"""The ``@node`` decorator: a plain function becomes a node class."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, overload

from arachne.model.message import Message
from arachne.model.node import Node
from arachne.model.policies import ErrorPolicy, check_error_policy, check_mode
from arachne.model.sources import IterSource

__all__ = ["AsyncFunctionNode", "FunctionNode", "node"]

_NO_SCHEMA = object()


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


class AsyncFunctionNode(FunctionNode):
    """A function node whose function is ``async def``; runs in mode ``"async"``."""

    async def on_message(self, port: str, msg: Message) -> None:  # type: ignore[override]
        """Await the function with the payload and emit what it returns."""
        result = await type(self).fn(msg.payload)
        if result is not None:
            self.emit(self.output_port, result)


class _FunctionSource(IterSource):
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


@overload
def node(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    mode: str = "inline",
    concurrency: int = 1,
    ordered: bool = True,
    error_policy: ErrorPolicy = "fail",
    filter: bool = False,
) -> type[Node]: ...


@overload
def node(
    fn: None = None,
    *,
    name: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    mode: str = "inline",
    concurrency: int = 1,
    ordered: bool = True,
    error_policy: ErrorPolicy = "fail",
    filter: bool = False,
) -> Callable[[Callable[..., Any]], type[Node]]: ...


def node(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    mode: str = "inline",
    concurrency: int = 1,
    ordered: bool = True,
    error_policy: ErrorPolicy = "fail",
    filter: bool = False,  # reads as the operator it is
) -> Any:
    """Turn a function into a node class; instantiate it to add it to a graph.

    - No parameters: a source. The function returns an iterable (or is a generator); its items
      are emitted on ``out``, pulled only while the output has room.
    - One parameter: a transform. Called with each payload arriving on ``in``; the return value
      is emitted on ``out`` (``None`` emits nothing), or every item if it is a generator.
    - ``filter=True``: a predicate. The payload itself is emitted when the function returns
      something truthy, else dropped. Fused chains run predicates without a wrapper call.

    ``outputs=`` may rename the one output port (``{"evens": int}``); ``inputs=`` likewise.
    ``mode``, ``concurrency``, ``ordered`` and ``error_policy`` set the class attributes of the
    same names (see :class:`~arachne.model.node.Node`); ``mode="async"`` takes an
    ``async def`` function, and ``mode="process"`` needs a function defined at module level.

    Port schemas come from the annotations unless ``inputs=``/``outputs=`` are given.
    ``@node`` and ``@node(name=...)`` both work.
    """
    check_mode(mode, concurrency)
    check_error_policy(error_policy)
    if fn is None:
        return lambda f: node(
            f,
            name=name,
            inputs=inputs,
            outputs=outputs,
            mode=mode,
            concurrency=concurrency,
            ordered=ordered,
            error_policy=error_policy,
            filter=filter,
        )
    params = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) > 1:
        raise TypeError(
            f"@node function {fn.__name__!r} takes {len(params)} parameters; it must take one "
            "(a transform) or none (a source); subclass Node for more ports"
        )
    hints = _hints(fn)
    generator = inspect.isgeneratorfunction(fn)
    returned = hints.get("return", _NO_SCHEMA)
    # A source's items and a generator's yields are what flows, not the container.
    out_schema = _item_type(returned) if generator or not params else _without_none(returned)
    out_ports = dict(outputs) if outputs is not None else {"out": _or_none(out_schema)}
    if len(out_ports) != 1:
        raise TypeError(
            f"@node function {fn.__name__!r} declares {len(out_ports)} outputs; a function "
            "node has exactly one (subclass Node for more)"
        )
    attrs: dict[str, Any] = {
        "fn": staticmethod(fn),
        "output_schemas": out_ports,
        "output_port": next(iter(out_ports)),
        "mode": mode,
        "concurrency": concurrency,
        "ordered": ordered,
        "error_policy": error_policy,
        "__doc__": fn.__doc__ or f"Node made from {fn.__qualname__}.",
        "__module__": fn.__module__,
        "__qualname__": fn.__qualname__,
    }
    attrs["default_name"] = name or fn.__name__
    if filter:
        return _filter_class(fn, params, attrs, inputs, outputs, hints)
    if inspect.iscoroutinefunction(fn):
        if not params:
            raise TypeError(f"@node source {fn.__name__!r} cannot be async def yet; use a Node")
        if mode not in ("inline", "async"):
            raise TypeError(f"@node function {fn.__name__!r} is async def: it runs in mode 'async'")
        attrs["mode"] = "async"
        attrs["input_schemas"] = (
            dict(inputs)
            if inputs is not None
            else {"in": _or_none(hints.get(params[0].name, _NO_SCHEMA))}
        )
        attrs["many"] = False
        return type(fn.__name__, (AsyncFunctionNode,), attrs)
    if inspect.isasyncgenfunction(fn):
        raise TypeError(f"@node function {fn.__name__!r}: async generators are not supported")
    if not params:
        cls = type(fn.__name__, (_FunctionSource,), attrs)
    else:
        in_schema = hints.get(params[0].name, _NO_SCHEMA)
        attrs["input_schemas"] = dict(inputs) if inputs is not None else {"in": _or_none(in_schema)}
        attrs["many"] = generator
        cls = type(fn.__name__, (FunctionNode,), attrs)
    return cls


def _filter_class(
    fn: Callable[..., Any],
    params: list[inspect.Parameter],
    attrs: dict[str, Any],
    inputs: Mapping[str, Any] | None,
    outputs: Mapping[str, Any] | None,
    hints: dict[str, Any],
) -> type[FunctionNode]:
    """Build the class for ``@node(filter=True)``: what passes keeps its input's schema."""
    if len(params) != 1 or inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
        raise TypeError(
            f"@node(filter=True) function {fn.__name__!r} must be a plain function of one "
            "parameter returning true to keep the payload"
        )
    in_ports = (
        dict(inputs)
        if inputs is not None
        else {"in": _or_none(hints.get(params[0].name, _NO_SCHEMA))}
    )
    out_ports = dict(outputs) if outputs is not None else {"out": next(iter(in_ports.values()))}
    if len(in_ports) != 1 or len(out_ports) != 1:
        raise TypeError(f"@node(filter=True) function {fn.__name__!r} has one input and one output")

    def keeping(value: Any) -> Any:
        return value if fn(value) else None

    attrs.update(
        fn=staticmethod(keeping),
        predicate=staticmethod(fn),
        input_schemas=in_ports,
        output_schemas=out_ports,
        output_port=next(iter(out_ports)),
        many=False,
    )
    return type(fn.__name__, (FunctionNode,), attrs)


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except (NameError, TypeError):
        return {}


def _item_type(annotation: object) -> object:
    args = typing.get_args(annotation)
    return args[0] if args else _NO_SCHEMA


def _without_none(annotation: object) -> object:
    # A transform returns None to emit nothing, so ``int | None`` emits ints.
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        kept = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(kept) == 1:
            return kept[0]
        return typing.Union[tuple(kept)]  # noqa: UP007  # built from a runtime tuple
    return annotation


def _or_none(schema: object) -> object:
    return None if schema is _NO_SCHEMA or schema is type(None) else schema
