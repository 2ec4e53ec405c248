"""Lines of a file or pipe read by a daemon thread, so a slow pipe never blocks the loop.

The thread reads with ``os.read`` on a descriptor of its own, not through Python's buffered
``sys.stdin``: a daemon thread blocked inside a buffered reader aborts the interpreter at exit.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator
from typing import IO, Final

__all__ = ["END", "LineReader", "TooLong"]

END: Final = object()
"""Placed in the queue after the last line."""

CHUNK: Final = 1 << 16
"""Bytes asked of one ``os.read``."""


class TooLong:
    """Stands for a line longer than the limit; the line itself was dropped unread."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


Item = bytes | TooLong | BaseException | object


class LineReader:
    """Reads lines into a bounded queue in a daemon thread; :meth:`take` never blocks.

    The source is a descriptor the reader owns (it closes it when done), or a text stream
    without one (a ``StringIO`` standing in for stdin), read line by line and encoded. The
    queue holds at most ``depth`` lines, so a fast file waits for its consumer; a line longer
    than ``max_line`` bytes becomes a :class:`TooLong`. A read error is handed over in order,
    then :data:`END`.
    """

    def __init__(
        self,
        source: int | IO[str],
        *,
        name: str,
        max_line: int,
        encoding: str = "utf-8",
        depth: int = 128,
    ) -> None:
        self._source = source
        self._max = max_line
        self._encoding = encoding
        self._queue: queue.Queue[Item] = queue.Queue(depth)
        self._closed = threading.Event()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def take(self, limit: int) -> list[Item]:
        """Return up to ``limit`` items that are ready (possibly none), without waiting."""
        items: list[Item] = []
        get = self._queue.get_nowait
        try:
            while len(items) < limit:
                items.append(get())
        except queue.Empty:
            pass
        return items

    def close(self) -> None:
        """Stop reading: the thread ends after its current read and closes the descriptor."""
        self._closed.set()
        self.take(1 << 30)  # unblock a put waiting for room

    def _run(self) -> None:
        try:
            self._split(self._chunks())
        except BaseException as exc:  # handed to the consumer, which reports it
            self._put(exc)
        finally:
            if isinstance(self._source, int):
                with contextlib.suppress(OSError):
                    os.close(self._source)
            self._put(END)

    def _chunks(self) -> Iterator[bytes]:
        source = self._source
        while not self._closed.is_set():
            if isinstance(source, int):
                chunk = os.read(source, CHUNK)
            else:
                chunk = source.readline(CHUNK).encode(self._encoding, "surrogateescape")
            if not chunk:
                return
            yield chunk

    def _split(self, chunks: Iterator[bytes]) -> None:
        pending = bytearray()
        dropped = 0  # bytes of an overlong line being skipped
        for chunk in chunks:
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                if dropped:
                    self._put(TooLong(dropped + end - start))
                    dropped = 0
                elif len(pending) + end - start > self._max:
                    self._put(TooLong(len(pending) + end - start))
                else:
                    self._put(bytes(pending + chunk[start:end]))
                pending.clear()
                start = end + 1
            rest = len(chunk) - start
            if dropped or len(pending) + rest > self._max:
                dropped += len(pending) + rest
                pending.clear()
            else:
                pending += chunk[start:]
        if dropped:
            self._put(TooLong(dropped))
        elif pending:
            self._put(bytes(pending))

    def _put(self, item: Item) -> None:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            return
