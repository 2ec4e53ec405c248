"""``arachne.io.jsonl-source``: read one JSON value per line from a file or stdin."""

from __future__ import annotations

import codecs
import json
import sys
from typing import IO, Any, Final

from arachne.components.builtins._defs import (
    ANY_VALUE,
    ERROR_OUTPUT,
    keyword_factory,
    strict_object,
)
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.model.node import Node
from arachne.model.port import Output

__all__ = ["JSONL_SOURCE", "JsonlSource", "check_encoding"]

STDIN_LINES_PER_TICK: Final = 64
"""Lines read per tick from stdin, where each tick is a hop to a worker thread."""

MAX_REPORTED: Final = 5
"""Bad lines described in one error; the rest are counted."""


class JsonlSource(Node):
    """Emit the JSON value on each line of ``path`` (``-``: stdin), then finish.

    Blank lines are skipped. A line that is not JSON fails with an error naming the file and
    line number (bad lines met in one tick share one error); under the default ``skip`` policy
    it becomes an ``ErrorRecord`` on ``error`` (or a logged warning) and reading goes on. A
    file that cannot be opened fails the run at start. Stdin is read in a worker thread, so a
    slow pipe never stalls the event loop; a file is read on the loop, a line per tick, as the
    output has room.
    """

    default_name = "jsonl_source"
    error_policy = "skip"
    out = Output(None, description="One JSON value per non-blank line, in file order")

    def __init__(self, *, path: str, encoding: str = "utf-8", name: str | None = None) -> None:
        if not isinstance(path, str) or not path:
            raise ValueError(f"path must be a file path or '-' for stdin, got {path!r}")
        check_encoding(encoding)
        super().__init__(name=name, config={"path": path, "encoding": encoding})
        self.path = path
        self.encoding = encoding
        self._per_tick = 1
        if path == "-":
            self.mode = "thread"  # type: ignore[misc]  # a blocking read belongs off the loop
            self._per_tick = STDIN_LINES_PER_TICK
        self._file: IO[str] | None = None
        self._line = 0
        self._failure: ValueError | None = None

    def on_start(self) -> None:
        """Open the file (stdin is used as it is)."""
        if self.path == "-":
            self._file = sys.stdin
        else:
            self._file = open(self.path, encoding=self.encoding)  # noqa: SIM115  # closed in on_stop

    def on_tick(self) -> None:
        """Emit the next value (up to a few, from stdin), or finish at end of input.

        Bad lines are reported after the next good value has gone out, in one error for the
        tick: a tick that only failed would look idle to the scheduler, which may then end
        the run before the rest of the file is read.
        """
        stashed = self._failure
        if stashed is not None:
            self._failure = None
            raise stashed
        file = self._file
        if file is None:
            return
        bad: list[str] = []
        emitted = 0
        at_end = False
        while emitted < self._per_tick:  # blank and bad lines do not count
            text = file.readline()
            if not text:
                at_end = True
                break
            self._line += 1
            if not text.strip():
                continue
            try:
                value: Any = json.loads(text.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                bad.append(
                    f"line {self._line}, column {exc.colno}: not JSON ({exc.msg}): {_clip(text)}"
                )
                continue
            self.emit("out", value)
            emitted += 1
        if bad:
            error = self._bad_lines(bad)
            if emitted and self.mode != "inline":
                self._failure = error  # raising now would discard this tick's good values
                return  # (and not finish yet: the next tick reports it)
            if at_end:
                self.finish()
            raise error
        if at_end:
            self.finish()

    def on_stop(self) -> None:
        """Close the file."""
        file, self._file = self._file, None
        if file is not None and file is not sys.stdin:
            file.close()

    def _bad_lines(self, bad: list[str]) -> ValueError:
        where = "stdin" if self.path == "-" else repr(self.path)
        shown = "; ".join(bad[:MAX_REPORTED])
        more = f"; and {len(bad) - MAX_REPORTED} more" if len(bad) > MAX_REPORTED else ""
        return ValueError(f"{where} {shown}{more}; fix the line or remove it")


def check_encoding(encoding: str) -> None:
    """Raise ``ValueError`` unless Python knows the text encoding ``encoding``."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}; try 'utf-8' or 'latin-1'") from None


def _clip(text: str, limit: int = 80) -> str:
    text = text.rstrip("\r\n")
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


JSONL_SOURCE = ComponentDefinition(
    id="arachne.io.jsonl-source",
    factory=keyword_factory(JsonlSource),
    name="JSON lines source",
    category="io",
    description="Read one JSON value per line from a file or stdin",
    outputs=(
        PortDoc("out", ANY_VALUE, "One JSON value per non-blank line, in file order"),
        ERROR_OUTPUT,
    ),
    config_schema=strict_object(
        {
            "path": {
                "type": "string",
                "minLength": 1,
                "description": "File to read, or '-' for standard input",
            },
            "encoding": {
                "type": "string",
                "minLength": 1,
                "default": "utf-8",
                "description": "Text encoding of the file",
            },
        },
        required=("path",),
    ),
)
"""The JSON-lines source component."""
