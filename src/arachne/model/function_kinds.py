"""How ``@node`` reads a function: its port schemas, and the filter and batch node classes."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final

from arachne.model.function_node import BatchFunctionNode, FunctionNode
from arachne.model.function_stage import FunctionStage

__all__ = [
    "NO_SCHEMA",
    "batch_class",
    "filter_class",
    "hints_of",
    "item_type",
    "or_none",
    "without_none",
]

NO_SCHEMA: Final = object()
"""Stands for a missing annotation."""


def filter_class(
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
        else {"in": or_none(hints.get(params[0].name, NO_SCHEMA))}
    )
    out_ports = dict(outputs) if outputs is not None else {"out": next(iter(in_ports.values()))}
    if len(in_ports) != 1 or len(out_ports) != 1:
        raise TypeError(f"@node(filter=True) function {fn.__name__!r} has one input and one output")

    port = next(iter(out_ports))
    attrs.update(
        stage=FunctionStage(fn, "filter", port),
        input_schemas=in_ports,
        output_schemas=out_ports,
        output_port=port,
    )
    return type(fn.__name__, (FunctionNode,), attrs)


def batch_class(
    fn: Callable[..., Any],
    params: list[inspect.Parameter],
    attrs: dict[str, Any],
    inputs: Mapping[str, Any] | None,
    outputs: Mapping[str, Any] | None,
    hints: dict[str, Any],
) -> type[FunctionNode]:
    """Build the class for ``@node(batch=True)``: ports typed by the lists' item types."""
    if len(params) != 1 or inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
        raise TypeError(
            f"@node(batch=True) function {fn.__name__!r} must be a plain function of one "
            "parameter (a list of payloads) returning a list of results or None"
        )
    if attrs.get("mode") not in ("inline", "thread"):
        raise TypeError(
            f"@node(batch=True) function {fn.__name__!r} runs inline or in a thread; "
            f"mode {attrs.get('mode')!r} is not supported for batch functions"
        )
    in_schema = item_type(hints.get(params[0].name, NO_SCHEMA))
    out_schema = item_type(without_none(hints.get("return", NO_SCHEMA)))
    in_ports = dict(inputs) if inputs is not None else {"in": or_none(in_schema)}
    out_ports = dict(outputs) if outputs is not None else {"out": or_none(out_schema)}
    if len(in_ports) != 1 or len(out_ports) != 1:
        raise TypeError(f"@node(batch=True) function {fn.__name__!r} has one input and one output")
    port = next(iter(out_ports))
    attrs.update(
        stage=FunctionStage(fn, "batch", port),
        input_schemas=in_ports,
        output_schemas=out_ports,
        output_port=port,
    )
    return type(fn.__name__, (BatchFunctionNode,), attrs)


def hints_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """Return ``fn``'s resolved annotations, or none if they cannot be resolved."""
    try:
        return typing.get_type_hints(fn)
    except (NameError, TypeError):
        return {}


def item_type(annotation: object) -> object:
    """Return the item type of ``list[int]``, ``Iterator[int]`` and the like."""
    args = typing.get_args(annotation)
    return args[0] if args else NO_SCHEMA


def without_none(annotation: object) -> object:
    """Return ``annotation`` without ``None``: a transform returning ``None`` emits nothing."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        kept = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(kept) == 1:
            return kept[0]
        return typing.Union[tuple(kept)]  # noqa: UP007  # built from a runtime tuple
    return annotation


def or_none(schema: object) -> object:
    """Return the port schema for an annotation: ``None`` (anything) when there is none."""
    return None if schema is NO_SCHEMA or schema is type(None) else schema
