"""Where ``arachne run`` gets its input: ``--inject`` values, JSON-lines files and stdin."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["Feed", "InputError", "parse_inject", "read_json_lines"]


class InputError(ValueError):
    """Input given to the command line is malformed; the message names it and the fix."""


@dataclass(frozen=True, slots=True)
class Feed:
    """Values for one input port: ``port`` is ``None`` to mean the node's only input."""

    node: str
    port: str | None
    values: Iterable[Any]
    label: str


def parse_inject(option: str) -> tuple[str, str | None, Any]:
    """Split ``node:port=JSON`` (or ``node=JSON``) into node, port and the decoded value."""
    target, sep, text = option.partition("=")
    if not sep or not target:
        raise InputError(
            f"--inject {option!r}: expected NODE:PORT=JSON, e.g. --inject 'input:in=21'"
        )
    node, colon, port = target.partition(":")
    if not node or (colon and not port):
        raise InputError(f"--inject {option!r}: name the node (and port) before '=', as input:in")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"--inject {option!r}: {text!r} is not JSON ({exc.msg}); quote strings, "
            """e.g. --inject 'input:in="hello"'"""
        ) from None
    return node, port or None, value


def read_json_lines(stream: IO[str], label: str) -> Iterator[Any]:
    """Yield one decoded value per non-blank line of ``stream``; a bad line names its number."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{label} line {number}: not JSON ({exc.msg}); each line must hold one JSON value"
            ) from None
