"""``arachne.io.jsonl-sink``: write one JSON line per value to a file or stdout."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import IO, TYPE_CHECKING, Any

from arachne.components.builtins._defs import (
    ANY_VALUE,
    ERROR_OUTPUT,
    keyword_factory,
    strict_object,
)
from arachne.components.builtins._lines import is_fifo, wait_for_reader, write_all
from arachne.components.builtins.jsonl_source import check_encoding
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.components.files import FILE_PATH
from arachne.components.json_text import dumps
from arachne.model.node import Node
from arachne.model.port import Input
from arachne.runtime.simulation import declare, fault

if TYPE_CHECKING:
    from arachne.model.message import Message
    from arachne.model.policies import Delivery

__all__ = ["JSONL_SINK", "JsonlSink"]

TORN_WRITE = declare("jsonl-sink.torn-write", "a line is half written when the write fails")

TAIL = 1 << 16
"""Bytes read at a time, back from the end, to find where the last whole line ends."""


class JsonlSink(Node):
    """Write each value as one line of compact JSON to ``path`` (``-``: stdout).

    The file is created (or, with ``append``, extended) at start and flushed at end of stream;
    ``flush`` writes every line through at once, for readers that follow the file live. An
    ``ErrorRecord`` (from some node's ``error`` port) is written as an object. A value JSON
    cannot hold fails (``TypeError``; ``ValueError`` for NaN and infinities): under the
    default ``skip`` policy it becomes an ``ErrorRecord`` on ``error`` (or a logged warning)
    and writing goes on.

    A path that is a named pipe (FIFO) when the node is made runs the node in mode
    ``"thread"``: the pipe is opened at the first value, once it has a reader, and each line
    waits for room there, off the loop; stopping the run ends both waits within a tenth of a
    second.

    Under checkpointing it is exactly-once: at each barrier what it wrote is flushed and
    synced to disk and its length saved with the checkpoint; a resumed run cuts the file back
    to that length and writes on from there, so the file ends as an uninterrupted run leaves
    it. (Stdout and named pipes cannot be taken back: there it is at-least-once.)
    """

    default_name = "jsonl_sink"
    error_policy = "skip"
    delivery: Delivery = "exactly-once"
    inp = Input(None, name="in", description="Any JSON value")

    def __init__(
        self,
        *,
        path: str,
        append: bool = False,
        flush: bool = False,
        encoding: str = "utf-8",
        name: str | None = None,
    ) -> None:
        if not isinstance(path, str) or not path:
            raise ValueError(f"path must be a file path or '-' for stdout, got {path!r}")
        check_encoding(encoding)
        super().__init__(
            name=name,
            config={"path": path, "append": append, "flush": flush, "encoding": encoding},
        )
        self.path = path
        self.append = append
        self.flush_each = flush
        self.encoding = encoding
        self.written = 0
        self._file: IO[str] | None = None
        self.fifo = path != "-" and is_fifo(path)
        if self.fifo:
            self.mode = "thread"  # per instance: its writes may wait
        self._pipe: int | None = None
        self._lock = threading.Lock()  # the pipe's descriptor, between a write and on_stop
        self._closed = threading.Event()
        self._resume_at: int | None = None  # the length to cut the file back to (resuming)
        if path == "-" or self.fifo:
            self.delivery = "at-least-once"

    def on_start(self) -> None:
        """Open the file for writing (stdout is used as it is; a FIFO at the first value)."""
        if self.path == "-":
            self._file = sys.stdout
        elif self.fifo:
            self._closed.clear()
        elif self._resume_at is not None:
            file = open(self.path, "a", encoding=self.encoding)  # noqa: SIM115  # on_stop
            size = os.fstat(file.fileno()).st_size
            if size < self._resume_at:
                file.close()
                raise ValueError(
                    f"{self.path!r}: replay gap: the checkpoint resumed from had written "
                    f"{self._resume_at:,} bytes, but the file now holds {size:,}; put back the "
                    "file the interrupted run wrote, or start the run over (--fresh)"
                )
            file.truncate(self._resume_at)  # what came after the checkpoint is written again
            self._file = file
        else:
            mode = "a" if self.append else "w"
            self._file = open(self.path, mode, encoding=self.encoding)  # noqa: SIM115  # on_stop

    def on_message(self, port: str, msg: Message) -> None:
        """Write the value as one line."""
        if self.fifo:
            self._write_pipe((dumps(msg.payload) + "\n").encode(self.encoding))
            return
        file = self._file
        if file is None:
            return
        line = dumps(msg.payload) + "\n"
        try:
            if fault(TORN_WRITE):  # half a line reaches the file, then the write fails
                file.write(line[: len(line) // 2])
                raise OSError(f"write to {self.path} failed part way (simulated)")
            file.write(line)
        except OSError:
            self._cut_torn_line(file)
            raise
        self.written += 1
        if self.flush_each:
            file.flush()

    def _cut_torn_line(self, file: IO[str]) -> None:
        """Cut what a failed write left of its line, so the file holds only whole lines.

        The node's error policy then decides about the value; the file stays readable.
        """
        if file is sys.stdout:
            return
        with contextlib.suppress(OSError):
            file.flush()
        with contextlib.suppress(OSError), open(self.path, "rb") as reader:
            size = end = os.fstat(reader.fileno()).st_size
            whole = 0
            while end > 0:  # back from the end, a block at a time, to the last newline
                start = max(0, end - TAIL)
                reader.seek(start)
                cut = reader.read(end - start).rfind(b"\n")
                if cut >= 0:
                    whole = start + cut + 1
                    break
                end = start
            if whole < size:
                os.truncate(self.path, whole)
                file.seek(whole)

    def snapshot(self) -> dict[str, int] | None:
        """Make every line written so far durable (flush, fsync); return the file's length."""
        file = self._file
        if file is None or file is sys.stdout:
            return None
        file.flush()
        os.fsync(file.fileno())
        return {"offset": os.fstat(file.fileno()).st_size, "written": self.written}

    def restore(self, state: Any) -> None:
        """Resume at a checkpoint: the file is cut back to its saved length at start."""
        offset = state.get("offset") if isinstance(state, dict) else None
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"a saved jsonl-sink state is {{'offset': <int >= 0>}}, got {state!r}")
        written = state.get("written", 0)
        self._resume_at = offset
        self.written = written if isinstance(written, int) else 0

    def on_finish(self) -> None:
        """Flush what was written."""
        if self._file is not None:
            self._file.flush()
        if self.fifo and self._pipe is None and not self._closed.is_set():
            # Nothing was written: a reader waiting now still gets its end of file.
            with contextlib.suppress(OSError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))

    def on_stop(self) -> None:
        """Flush and close the file (stdout is only flushed)."""
        self._closed.set()  # a write waiting for a reader or for room gives up within POLL
        with self._lock:
            pipe, self._pipe = self._pipe, None
        if pipe is not None:
            os.close(pipe)
        file, self._file = self._file, None
        if file is None:
            return
        file.flush()
        if file is not sys.stdout:
            file.close()

    def _write_pipe(self, line: bytes) -> None:
        with self._lock:
            if self._pipe is None:
                self._pipe = wait_for_reader(self.path, self._closed)
            if self._pipe is not None and write_all(self._pipe, line, self._closed):
                self.written += 1


JSONL_SINK = ComponentDefinition(
    id="arachne.io.jsonl-sink",
    factory=keyword_factory(JsonlSink),
    name="JSON lines sink",
    category="io",
    description="Write one JSON line per value to a file or stdout",
    inputs=(PortDoc("in", ANY_VALUE, "Any JSON value"),),
    outputs=(ERROR_OUTPUT,),
    config_schema=strict_object(
        {
            "path": {
                "type": "string",
                "minLength": 1,
                "format": FILE_PATH,
                "description": "File to write, or '-' for standard output",
            },
            "append": {
                "type": "boolean",
                "default": False,
                "description": "Add to the end of the file instead of replacing it",
            },
            "flush": {
                "type": "boolean",
                "default": False,
                "description": "Flush after every line, not only at end of stream",
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
"""The JSON-lines sink component."""
