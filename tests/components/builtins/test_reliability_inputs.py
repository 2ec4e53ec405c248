"""jsonl-source and jsonl-sink on named pipes and cut-off input (issue 10, items 7 and 12)."""

from __future__ import annotations

import io
import os
import sys
import threading
from pathlib import Path

import pytest

from arachne import ErrorRecord, Message, Runtime, Subgraph
from arachne.components.builtins import JsonlSink, JsonlSource
from arachne.runtime.execution import Execution
from tests.components.builtins.helpers import Collect, fifo, line, run, source

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")

BOUND = 10.0  # seconds: a bound on a hang, not a timing claim


def started(graph: Subgraph) -> tuple[Runtime, Execution]:
    runtime = Runtime()
    runtime.register(graph)
    return runtime, runtime.start()


def threads_named(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


@pytest.mark.parametrize("drain", [False, True])
def test_a_source_on_a_fifo_without_a_writer_stops_when_asked(tmp_path: Path, drain: bool) -> None:
    with fifo(tmp_path) as path:
        graph, sink = line(JsonlSource(path=str(path), name="src"))
        runtime, ex = started(graph)
        try:
            ex.request_stop(drain=drain)
            assert ex.wait(timeout=BOUND), "the run hung opening the FIFO"
            assert ex.state.value == ("completed" if drain else "cancelled")
            assert sink.payloads == []
            for reader in threads_named("arachne-read-src"):
                reader.join(BOUND)
                assert not reader.is_alive(), "the reading thread is still waiting"
        finally:
            runtime.shutdown(timeout=BOUND)


def test_a_source_on_a_fifo_reads_what_a_later_writer_sends(tmp_path: Path) -> None:
    """Not a regression test: waiting for the writer off the loop still reads the pipe."""
    with fifo(tmp_path) as path:
        graph, sink = line(JsonlSource(path=str(path), name="src"))
        runtime, ex = started(graph)
        try:
            with open(path, "w", encoding="utf-8") as writer:  # waits for the reader thread
                writer.write("1\n2\n3\n")
            assert ex.wait(timeout=BOUND)
            assert ex.state.value == "completed"
            assert sink.payloads == [1, 2, 3]
        finally:
            runtime.shutdown(timeout=BOUND)


class Seen(Collect):
    """A ``Collect`` that says when its first value arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.first = threading.Event()

    def on_message(self, port: str, msg: Message) -> None:
        super().on_message(port, msg)
        self.first.set()


def test_a_source_reading_a_silent_fifo_writer_stops_when_asked(tmp_path: Path) -> None:
    with fifo(tmp_path) as path:
        seen = Seen()
        graph, _ = line(JsonlSource(path=str(path), name="src"), sink=seen)
        runtime, ex = started(graph)
        writer = os.open(path, os.O_WRONLY)  # connected, but writes only one line
        try:
            os.write(writer, b"7\n")
            assert seen.first.wait(BOUND)  # the reader is past its first read, in the next
            ex.request_stop(drain=False)
            assert ex.wait(timeout=BOUND)
            assert seen.payloads == [7]
            for reader in threads_named("arachne-read-src"):
                reader.join(BOUND)
                assert not reader.is_alive(), "the reading thread is still in read()"
        finally:
            os.close(writer)
            runtime.shutdown(timeout=BOUND)


class Watched(JsonlSink):
    """A jsonl-sink that says when its first write begins."""

    def __init__(self, path: str) -> None:
        super().__init__(path=path, name="sink")
        self.writing = threading.Event()

    def on_message(self, port: str, msg: Message) -> None:
        self.writing.set()
        super().on_message(port, msg)


@pytest.mark.parametrize("drain", [False, True])
def test_a_sink_on_a_fifo_without_a_reader_stops_when_asked(tmp_path: Path, drain: bool) -> None:
    with fifo(tmp_path) as path:
        graph = Subgraph()
        graph.add_node(source([1, 2, 3]))
        sink = Watched(str(path))
        graph.add_node(sink)
        graph.connect(("src", "out"), ("sink", "in"))
        runtime, ex = started(graph)
        try:
            assert sink.writing.wait(BOUND), "the run hung opening the FIFO"
            if drain:  # a graceful stop waits for a reader; a second stop cancels, as Ctrl-C
                ex.request_stop(drain=True)
            ex.request_stop(drain=False)
            assert ex.wait(timeout=BOUND), "the run hung writing to the FIFO"
            assert ex.state.value == "cancelled"
        finally:
            runtime.shutdown(timeout=BOUND)


def test_a_sink_on_a_fifo_writes_to_its_reader(tmp_path: Path) -> None:
    """Not a regression test: the FIFO sink writes every line once a reader comes."""
    with fifo(tmp_path) as path:
        graph = Subgraph()
        graph.add_node(source(list(range(5000))))
        graph.add_node(JsonlSink(path=str(path), name="sink"))
        graph.connect(("src", "out"), ("sink", "in"))
        runtime, ex = started(graph)
        try:
            with open(path, encoding="utf-8") as reader:
                got = reader.read()
            assert ex.wait(timeout=BOUND)
            assert got == "".join(f"{i}\n" for i in range(5000))
        finally:
            runtime.shutdown(timeout=BOUND)


# -- cut-off input ---------------------------------------------------------------------------


def errors_of(graph: Subgraph) -> list[ErrorRecord]:
    errors = next(m.unit for m in graph.members if m.id == "errors")
    assert isinstance(errors, Collect)
    return errors.payloads


def test_a_last_line_without_a_newline_is_reported_not_emitted(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"10029128\n100")  # "100" is the start of a value cut off mid-write
    graph, sink = line(JsonlSource(path=str(path), name="src"), errors="src")
    runtime = run(graph)
    assert sink.payloads == [10029128]
    [record] = errors_of(graph)
    assert record.error_type == "ValueError"
    assert f"{str(path)!r} line 2: the last line has no newline (3 bytes)" in record.error
    assert "the input was cut off" in record.error
    assert "end every line with a newline" in record.error
    nodes = runtime.stats().nodes["src"]
    assert (nodes.errors, nodes.skipped) == (1, 1)


def test_a_cut_off_last_line_on_stdin_is_reported_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("5\n7"))
    graph, sink = line(JsonlSource(path="-", name="src"), errors="src")
    run(graph)
    assert sink.payloads == [5]
    [record] = errors_of(graph)
    assert record.error.startswith("stdin line 2: the last line has no newline")
