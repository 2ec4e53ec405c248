"""How ``arachne run`` prints what leaves the graph: one JSON line per value on stdout."""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import IO, Any

from arachne.components.json_text import plain

__all__ = ["Held", "Writer"]


class Held:
    """Lines waiting to be printed above a live display, all at its next redraw.

    A live display redraws itself after every line printed above it; at one value per line
    that made 2,000 values take 20 s on a terminal. Held lines are printed together, four
    times a second. Safe from any thread (log records come from the loop thread).
    """

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        """Keep ``line`` for the next redraw."""
        with self._lock:
            self._lines.append(line)

    def drain(self) -> list[str]:
        """Return the lines kept so far and forget them."""
        with self._lock:
            lines, self._lines = self._lines, []
        return lines


class HeldLogs(logging.Handler):
    """A log handler that keeps each record as one plain line in a :class:`Held`."""

    def __init__(self, held: Held, formatter: logging.Formatter | None = None) -> None:
        super().__init__()
        self.held = held
        self.setFormatter(formatter or logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the formatted record."""
        try:
            self.held.add(self.format(record))
        except Exception:  # a handler must not raise into the code that logged
            self.handleError(record)


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
        self.held: Held | None = None  # while a live display runs: lines wait for its redraw

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
        held = self.held
        if held is not None:
            held.add(text)
            self.count += 1
            return
        out = self._stream or sys.stdout
        out.write(text + "\n")
        if self.flush:
            out.flush()
        self.count += 1
