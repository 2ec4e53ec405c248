"""``arachne.io.jsonl-source``: read one JSON value per line from a file or stdin."""

from __future__ import annotations

import codecs
import errno
import hashlib
import json
import os
import stat
import sys
from typing import IO, Any, Final

from arachne.components.builtins._defs import (
    ANY_VALUE,
    ERROR_OUTPUT,
    keyword_factory,
    strict_object,
)
from arachne.components.builtins._lines import END, LineReader, TooLong, Truncated
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.components.files import FILE_PATH
from arachne.model.node import Node
from arachne.model.port import Output

__all__ = ["JSONL_SOURCE", "MAX_LINE_BYTES", "JsonlSource", "check_encoding"]

LINES_PER_TICK: Final = 64
"""Lines handled per tick at most; a tick takes only lines already read."""

MAX_LINE_BYTES: Final = 1 << 20
"""Default longest line (1 MiB); a longer one is reported and skipped."""

MAX_REPORTED: Final = 5
"""Bad lines described in one error; the rest are counted."""


class JsonlSource(Node):
    """Emit the JSON value on each line of ``path`` (``-``: stdin), then finish.

    A daemon thread reads the lines (at most ``max_line_bytes`` each, a bounded number ahead),
    so a slow pipe never stalls the loop and each value leaves as soon as its line is read; the
    run stays open while input may still come. Blank lines are skipped. A line that is not
    JSON, not valid in ``encoding`` or too long fails with an error naming the file and line
    number (bad lines met in one tick share one error); under the default ``skip`` policy it
    becomes an ``ErrorRecord`` on ``error`` (or a logged warning) and reading goes on. Every
    line must end with a newline: a last line without one is taken for input cut off (``100``
    of ``10029128``), so it fails the same way instead of passing on a value never written.
    A file that cannot be opened fails the run at start; a named pipe (FIFO) is opened by the
    reading thread, which waits there for a writer while the run can still be stopped.
    """

    default_name = "jsonl_source"
    error_policy = "skip"
    keep_alive = True  # waiting for a slow pipe is not the end of the run
    out = Output(None, description="One JSON value per non-blank line, in file order")

    def __init__(
        self,
        *,
        path: str,
        encoding: str = "utf-8",
        max_line_bytes: int = MAX_LINE_BYTES,
        name: str | None = None,
    ) -> None:
        if not isinstance(path, str) or not path:
            raise ValueError(f"path must be a file path or '-' for stdin, got {path!r}")
        check_encoding(encoding)
        if isinstance(max_line_bytes, bool) or not isinstance(max_line_bytes, int):
            raise ValueError(f"max_line_bytes must be an integer, got {max_line_bytes!r}")
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
        config = {"path": path, "encoding": encoding, "max_line_bytes": max_line_bytes}
        super().__init__(name=name, config=config)
        self.path = path
        self.encoding = encoding
        self.max_line_bytes = max_line_bytes
        self._reader: LineReader | None = None
        self._line = 0
        self._offset = 0  # bytes of the file whose lines were handed on: the position saved
        self._tail: str | None = None  # a resumed run: the digest the bytes before it must have

    def on_start(self) -> None:
        """Open the file (or take stdin) and start reading it in a thread."""
        source: int | str | IO[str]
        if self.path != "-":
            source = _open(self.path)
            if self._offset and isinstance(source, int):
                size = os.fstat(source).st_size
                if size < self._offset:
                    os.close(source)
                    raise ValueError(
                        f"{self.path!r}: replay gap: the checkpoint resumed from had read "
                        f"{self._offset:,} bytes, but the file now holds {size:,}; give it the "
                        "file the interrupted run read, or start the run over (--fresh)"
                    )
                if self._tail is not None and _tail(source, self._offset) != self._tail:
                    os.close(source)
                    raise ValueError(
                        f"{self.path!r} changed since the checkpoint resumed from: the bytes it "
                        "had read are not the same; give it the file the interrupted run read, "
                        "or start the run over (--fresh)"
                    )
                os.lseek(source, self._offset, os.SEEK_SET)  # resumed: on from the checkpoint
        else:
            try:
                source = os.dup(sys.stdin.fileno())  # the reader's own, closed by it
            except (AttributeError, OSError, ValueError):
                source = sys.stdin  # a stand-in without a descriptor (a StringIO)
        self._reader = LineReader(
            source,
            name=f"arachne-read-{self.name()}",
            max_line=self.max_line_bytes,
            encoding=self.encoding,
        )

    def on_tick(self) -> None:
        """Emit the values of the lines read so far (up to a few dozen); finish at the end."""
        reader = self._reader
        if reader is None:
            return
        bad: list[str] = []
        for item in reader.take(LINES_PER_TICK):
            if item is END:
                self.finish()
                break
            if isinstance(item, BaseException):
                bad.append(f"reading stopped: {type(item).__name__}: {item}")
                continue
            self._line += 1
            self._offset += _span(item)
            value = self._decode(item, bad)
            if value is not _SKIP:
                self.emit("out", value)
        if bad:
            raise self._bad_lines(bad)

    def snapshot(self) -> dict[str, Any]:
        """Return the position: the bytes and lines handed on, and a digest of the last bytes.

        The digest (of up to ``TAIL`` bytes before the position) lets a resumed run tell the
        file it read from another one put in its place.
        """
        state: dict[str, Any] = {"offset": self._offset, "line": self._line}
        if self.path != "-" and self._offset:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError:
                return state
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    state["tail"] = _tail(fd, self._offset)
            finally:
                os.close(fd)
        return state

    def restore(self, state: Any) -> None:
        """Resume reading after the bytes a checkpoint saved (a file; stdin starts over)."""
        offset = state.get("offset") if isinstance(state, dict) else None
        line = state.get("line", 0) if isinstance(state, dict) else None
        if (
            isinstance(offset, bool)
            or not isinstance(offset, int)
            or offset < 0
            or not isinstance(line, int)
        ):
            raise ValueError(
                f"a saved jsonl-source position is {{'offset': <int >= 0>, 'line': <int>}}, "
                f"got {state!r}"
            )
        if self.path == "-" and offset:
            raise ValueError(
                "a run that read standard input cannot be resumed: what it read cannot be "
                "read again; give the input as a file (--input FILE), or start over (--fresh)"
            )
        tail = state.get("tail")
        self._offset, self._line = offset, line
        self._tail = tail if isinstance(tail, str) else None

    def on_stop(self) -> None:
        """Stop the reader (it closes what it reads)."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def _decode(self, item: object, bad: list[str]) -> Any:
        where = f"line {self._line}"
        if isinstance(item, TooLong):
            bad.append(
                f"{where}: {item.size:,} bytes, over max_line_bytes ({self.max_line_bytes:,})"
            )
            return _SKIP
        if isinstance(item, Truncated):
            bad.append(
                f"{where}: the last line has no newline ({item.size:,} bytes): the input was "
                "cut off, so the line was not used; end every line with a newline"
            )
            return _SKIP
        assert isinstance(item, bytes)  # noqa: S101  # the reader queues bytes, TooLong, errors
        try:
            text = item.decode(self.encoding)
        except UnicodeDecodeError as exc:
            bad.append(f"{where}: not valid {self.encoding} ({exc.reason} at byte {exc.start})")
            return _SKIP
        if not text.strip():
            return _SKIP
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            bad.append(f"{where}, column {exc.colno}: not JSON ({exc.msg}): {_clip(text)}")
        except (ValueError, RecursionError) as exc:  # huge integers, deep nesting
            bad.append(f"{where}: not readable JSON ({type(exc).__name__}): {_clip(text)}")
        return _SKIP

    def _bad_lines(self, bad: list[str]) -> ValueError:
        where = "stdin" if self.path == "-" else repr(self.path)
        shown = "; ".join(bad[:MAX_REPORTED])
        more = f"; and {len(bad) - MAX_REPORTED} more" if len(bad) > MAX_REPORTED else ""
        return ValueError(f"{where} {shown}{more}; fix the line or remove it")


_SKIP: Final = object()

TAIL: Final = 4096
"""Bytes before a saved position whose digest a checkpoint keeps (to notice a new file)."""


def _tail(fd: int, offset: int) -> str:
    """Return the SHA-256 of the ``TAIL`` bytes (or fewer) before ``offset`` in ``fd``."""
    start = max(0, offset - TAIL)
    return hashlib.sha256(os.pread(fd, offset - start, start)).hexdigest()


def _span(item: object) -> int:
    """Return the bytes of the file a line item stands for, its newline included."""
    if isinstance(item, bytes):
        return len(item) + 1
    if isinstance(item, TooLong):
        return item.size + 1
    if isinstance(item, Truncated):
        return item.size  # the last line, with no newline
    return 0


def _open(path: str) -> int | str:
    """Return a descriptor of the file at ``path``, or ``path`` itself if it is a FIFO.

    Opening a FIFO waits for a writer, so the reading thread does it; whether it may is
    checked here, so a missing or unreadable file still fails the run at start.
    """
    if not stat.S_ISFIFO(os.stat(path).st_mode):
        return os.open(path, os.O_RDONLY)
    if not os.access(path, os.R_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
    return path


def check_encoding(encoding: str) -> None:
    """Raise ``ValueError`` unless Python knows the text encoding ``encoding``."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}; try 'utf-8' or 'latin-1'") from None
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError(f"{encoding!r} is not a text encoding; try 'utf-8' or 'latin-1'")
    if "\n".encode(info.name) != b"\n":  # lines are split on the byte before decoding
        raise ValueError(
            f"{encoding!r} does not write a newline as one byte (UTF-16 and UTF-32 do not); "
            "convert the file to UTF-8 first"
        )


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
                "format": FILE_PATH,
                "description": "File to read, or '-' for standard input",
            },
            "encoding": {
                "type": "string",
                "minLength": 1,
                "default": "utf-8",
                "description": "Text encoding of the file",
            },
            "max_line_bytes": {
                "type": "integer",
                "minimum": 1,
                "maximum": 1 << 30,
                "default": MAX_LINE_BYTES,
                "description": "Longest line read; a longer one is reported and skipped",
            },
        },
        required=("path",),
    ),
)
"""The JSON-lines source component."""
