"""How ``arachne run`` prints what leaves the graph: one JSON line per value on stdout."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from arachne.components.json_text import plain

__all__ = ["Writer"]


class Writer:
    """Writes each value that leaves the graph as one JSON line.

    The stream is looked up on each write, so the live display (which takes over stdout only
    when stdout is the terminal it draws on) can put lines above itself. Error records and
    other ``to_dict()`` objects are written as objects. A value with no JSON form (NaN,
    infinities, other objects) raises ``ValueError`` rather than printing something a JSON
    reader would refuse: the printing node skips it (counted, logged, exit status 1) and the
    run goes on. With ``flush`` each line is flushed as written (output of a run fed from a
    pipe, read downstream as it comes).
    """

    def __init__(self, tag: bool, stream: IO[str] | None = None, *, flush: bool = False) -> None:
        self.tag = tag
        self.flush = flush
        self.count = 0
        self.refused = 0  # values with no JSON form, not printed
        self._stream = stream

    def __call__(self, node: str, port: str, value: Any) -> None:
        """Print ``value`` (with its node and port when tagging)."""
        data = {"node": node, "port": port, "value": value} if self.tag else value
        try:
            text = json.dumps(data, ensure_ascii=False, allow_nan=False, default=plain)
        except (TypeError, ValueError) as exc:
            self.refused += 1
            raise ValueError(
                f"a value from {node}:{port} has no JSON form ({exc}); emit JSON data "
                "(objects, arrays, strings, finite numbers, true/false/null)"
            ) from None
        out = self._stream or sys.stdout
        out.write(text + "\n")
        if self.flush:
            out.flush()
        self.count += 1
