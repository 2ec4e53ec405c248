"""The ``@node`` decorator: a plain function becomes a node class (map, filter, batch, source)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, overload

from arachne.model.function_kinds import (
    NO_SCHEMA,
    batch_class,
    filter_class,
    hints_of,
    item_type,
    or_none,
    without_none,
)
from arachne.model.function_node import AsyncFunctionNode, FunctionNode, FunctionSource
from arachne.model.function_stage import FunctionStage
from arachne.model.node import Node
from arachne.model.policies import (
    ErrorPolicy,
    Mode,
    check_error_policy,
    check_mode,
    check_timeout,
)

__all__ = ["node"]


@overload
def node(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    mode: Mode = "inline",
    concurrency: int = 1,
    ordered: bool = True,
    error_policy: ErrorPolicy = "fail",
    timeout: float | None = None,
    filter: bool = False,
    batch: bool = False,
) -> type[Node]: ...


@overload
def node(
    fn: None = None,
    *,
    name: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    mode: Mode = "inline",
    concurrency: int = 1,
    ordered: bool = True,
    error_policy: ErrorPolicy = "fail",
    timeout: float | None = None,
    filter: bool = False,
    batch: bool = False,
) -> Callable[[Callable[..., Any]], type[Node]]: ...


def node(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    mode: Mode = "inline",
    concurrency: int = 1,
    ordered: bool = True,
    error_policy: ErrorPolicy = "fail",
    timeout: float | None = None,
    filter: bool = False,  # reads as the operator it is
    batch: bool = False,
) -> Any:
    """Turn a function into a node class; instantiate it to add it to a graph.

    - No parameters: a source. The function returns an iterable (or is a generator); its items
      are emitted on ``out``, pulled only while the output has room.
    - One parameter: a transform. Called with each payload arriving on ``in``; the return value
      is emitted on ``out`` (``None`` emits nothing), or every item if it is a generator.
    - ``filter=True``: a predicate. The payload itself is emitted when the function returns
      something truthy, else dropped. Fused chains run predicates without a wrapper call.
    - ``batch=True``: a batch transform. Called with a list of payloads (up to a quantum, or
      a fused chain's whole batch), it returns a list of results, each emitted, or ``None``
      to emit nothing (a sink summing a batch, say). Its error policy treats the batch as one.

    ``outputs=`` may rename the one output port (``{"evens": int}``); ``inputs=`` likewise.
    ``mode``, ``concurrency``, ``ordered``, ``error_policy`` and ``timeout`` set the class
    attributes of the same names (see :class:`~arachne.model.node.Node`); ``mode="async"`` takes an
    ``async def`` function, and ``mode="process"`` needs a function defined at module level.

    Port schemas come from the annotations unless ``inputs=``/``outputs=`` are given.
    ``@node`` and ``@node(name=...)`` both work.
    """
    mode = check_mode(mode, concurrency)
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
            timeout=timeout,
            filter=filter,
            batch=batch,
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
    hints = hints_of(fn)
    generator = inspect.isgeneratorfunction(fn)
    returned = hints.get("return", NO_SCHEMA)
    # A source's items and a generator's yields are what flows, not the container.
    out_schema = item_type(returned) if generator or not params else without_none(returned)
    out_ports = dict(outputs) if outputs is not None else {"out": or_none(out_schema)}
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
        "timeout": check_timeout(timeout, None),  # the mode is checked with the graph
        "__doc__": fn.__doc__ or f"Node made from {fn.__qualname__}.",
        "__module__": fn.__module__,
        "__qualname__": fn.__qualname__,
    }
    attrs["default_name"] = name or fn.__name__
    if filter and batch:
        raise TypeError(f"@node function {fn.__name__!r}: choose filter=True or batch=True")
    if filter:
        return filter_class(fn, params, attrs, inputs, outputs, hints)
    if batch:
        return batch_class(fn, params, attrs, inputs, outputs, hints)
    if inspect.iscoroutinefunction(fn):
        if not params:
            raise TypeError(f"@node source {fn.__name__!r} cannot be async def yet; use a Node")
        if mode not in ("inline", "async"):
            raise TypeError(f"@node function {fn.__name__!r} is async def: it runs in mode 'async'")
        attrs["mode"] = "async"
        attrs["input_schemas"] = (
            dict(inputs)
            if inputs is not None
            else {"in": or_none(hints.get(params[0].name, NO_SCHEMA))}
        )
        return type(fn.__name__, (AsyncFunctionNode,), attrs)
    if inspect.isasyncgenfunction(fn):
        raise TypeError(f"@node function {fn.__name__!r}: async generators are not supported")
    if not params:
        cls = type(fn.__name__, (FunctionSource,), attrs)
    else:
        in_schema = hints.get(params[0].name, NO_SCHEMA)
        attrs["input_schemas"] = dict(inputs) if inputs is not None else {"in": or_none(in_schema)}
        attrs["stage"] = FunctionStage(fn, "many" if generator else "map", attrs["output_port"])
        cls = type(fn.__name__, (FunctionNode,), attrs)
    return cls
