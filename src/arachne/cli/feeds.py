"""Where ``arachne run`` gets its input: ``--inject`` values, JSON-lines files and stdin.

Files and stdin are read by the ``arachne.io.jsonl-source`` component (a thread per input, so
a slow pipe never holds the graph up); injected values are already in memory. Every line must
end with a newline: a last line without one is input cut off, reported, and the run exits 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Feed", "InputError", "collect_feeds", "parse_inject"]


class InputError(ValueError):
    """Input given to the command line is malformed; the message names it and the fix."""


@dataclass(frozen=True, slots=True)
class Feed:
    """Input for one port: ``values``, or the JSON-lines file at ``path`` (``-``: stdin).

    ``port`` is ``None`` to mean the node's only input; ``label`` names the feed in errors.
    """

    node: str
    port: str | None
    label: str
    values: Iterable[Any] | None = None
    path: str | None = None


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


def collect_feeds(
    injects: Sequence[str],
    inputs: Sequence[str],
    to: str | None,
    pick: Callable[[], str | None],
    *,
    stdin_piped: bool,
) -> list[Feed]:
    """Return the feeds the options ask for.

    ``pick`` names the graph's one input node that takes values (``None`` if there is not
    exactly one); it is where ``--input`` goes without ``--to``. With no options at all, a
    piped stdin feeds that node.
    """
    # In the order given: ``n=1 n:in=2 n=3`` may name one port two ways, so values are not
    # grouped here; the graph's ports are known when the feeds are attached (and merged).
    feeds = []
    for option in injects:
        node, port, value = parse_inject(option)
        feeds.append(Feed(node, port, f"--inject {node}", values=[value]))
    sources = list(inputs)
    if not sources and not injects and stdin_piped and pick() is not None:
        sources = ["-"]
    for source in sources:
        label = f"--input {source}"
        if to:
            node, _, port = to.partition(":")
            target: tuple[str, str | None] = (node, port or None)
        else:
            chosen = pick()
            if chosen is None:
                raise InputError(f"{label}: the graph has no single input node; add --to NODE")
            target = (chosen, None)
        # A named pipe (or /dev/fd/N from a shell's <(...)) is read as it is written.
        if source != "-" and (not Path(source).exists() or Path(source).is_dir()):
            raise InputError(f"{label}: no such file; give a JSON-lines file or '-' for stdin")
        feeds.append(Feed(*target, label, path=source))
    return feeds
