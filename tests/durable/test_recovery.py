"""Checkpoints and recovery: consistent cuts, resumes, refusals, and runs killed with SIGKILL."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from arachne import Input, IterSource, Node, Output, Runtime, Subgraph
from arachne.components.builtins.accumulator import Accumulator
from arachne.components.builtins.delay import Delay
from arachne.components.builtins.jsonl_sink import JsonlSink
from arachne.components.builtins.jsonl_source import JsonlSource
from arachne.durable import SqliteStore
from arachne.durable.run_lock import RunBusy
from arachne.durable.runs import Run, run_state
from arachne.model.idempotency import IdempotencyKeys
from arachne.model.policies import Retry
from arachne.runtime.events import CheckpointCommitted, Event
from tests.durable.crash_graph import Pair
from tests.durable.faults import document_case, graph_case, inject
from tests.runtime.nodes import Collect


class Recorder:
    """A checkpoint target in memory that keeps every checkpoint (a run store too)."""

    def __init__(self, start: tuple[int, Mapping[str, Mapping[str, Any]]] | None = None) -> None:
        self.written: list[dict[str, dict[str, Any]]] = []
        self.start = start
        self.end: str | None = None

    def open_run(self, name: str, *, checksum: str | None, **_: Any) -> Recorder:
        return self

    def latest(self) -> tuple[int, Mapping[str, Mapping[str, Any]]] | None:
        return self.start

    def write(self, parts: Mapping[str, Mapping[str, str]]) -> int:
        decoded = {
            kind: {k: json.loads(v) for k, v in part.items()} for kind, part in parts.items()
        }
        self.written.append(decoded)
        return len(self.written)

    def ended(self, state: str) -> None:
        self.end = state


class Count(Node):
    """A sink counting what it got in ``context.state`` (the default snapshot)."""

    inp = Input(None, name="in")

    def on_message(self, port: str, msg: Any) -> None:
        state = self.context.state
        state["count"] = state.get("count", 0) + 1


def pairs_graph(n: int) -> Subgraph:
    g = Subgraph()
    g.add_node(IterSource(range(n), name="a"))
    g.add_node(IterSource(range(n), name="b"))
    g.add_node(Pair())
    g.add_node(Count(name="count"))
    g.connect(("a", "out"), ("pair", "left"), capacity=8)
    g.connect(("b", "out"), ("pair", "right"), capacity=8)
    g.connect(("pair", "out"), ("count", "in"), capacity=8)
    return g


def test_every_checkpoint_is_a_consistent_cut_across_a_fan_in() -> None:
    # Whatever the interleaving, at each checkpoint: what a source handed on is what the sink
    # counted plus what waits unpaired in the fan-in; nothing in flight is lost or counted twice.
    recorder = Recorder()
    runtime = Runtime(store=recorder, checkpoint_every=0.0005, quantum=4, batch=3)
    runtime.register(pairs_graph(20_000))
    runtime.run()
    assert recorder.end == "completed"
    assert len(recorder.written) >= 3  # (a run of 20,000 pairs in small turns takes a while)
    for parts in recorder.written:
        a, b = parts["position"]["a"]["index"], parts["position"]["b"]["index"]
        waiting = parts["state"]["pair"]
        counted = parts.get("sink", {}).get("count", {}).get("count", 0)
        assert a == counted + len(waiting["left"])
        assert b == counted + len(waiting["right"])
    assert runtime.stats().nodes["count"].received == 20_000


def test_a_resumed_run_starts_from_the_saved_state_and_finished_nodes_stay_finished() -> None:
    # Saved: source a at 5 of 10 and finished... no: a finished at 10, b at 4; two pairs
    # counted, and the fan-in holding the rest of a's values.
    saved = {
        "position": {"a": {"index": 10}, "b": {"index": 4}},
        "state": {"pair": {"left": [2, 3, 4, 5, 6, 7, 8, 9], "right": [2, 3]}},
        "sink": {"count": {"count": 2}},
        "finished": {"a": True},
    }
    recorder = Recorder(start=(7, saved))
    runtime = Runtime(store=recorder, checkpoint_every=60)
    runtime.register(pairs_graph(10))
    runtime.run()
    count = runtime.execution.instances["count"]
    assert count.context.state == {"count": 10}
    assert runtime.stats().nodes["a"].emitted == 0  # it had finished: it is not run again
    assert runtime.stats().nodes["b"].emitted == 6
    checkpointer = runtime.execution.checkpointer
    assert checkpointer is not None
    assert checkpointer.restored == 7


def test_state_that_is_not_json_fails_the_run_naming_the_node() -> None:
    class Holder(Node):
        inp = Input(None, name="in")

        def on_message(self, port: str, msg: Any) -> None:
            self.context.state["kept"] = object()

    g = Subgraph()
    g.add_node(IterSource(range(100_000), name="src"))
    g.add_node(Holder(name="holder"))
    g.connect(("src", "out"), ("holder", "in"), capacity=4)
    runtime = Runtime(store=Recorder(), checkpoint_every=0.001, quantum=2, batch=2)
    runtime.register(g)
    with pytest.raises(Exception, match=r"node 'holder': .*context.state.* JSON data"):
        runtime.run()


def test_state_that_would_come_back_changed_from_json_fails_the_run() -> None:
    class Buckets(Node):
        inp = Input(None, name="in")

        def on_message(self, port: str, msg: Any) -> None:
            buckets = self.context.state.setdefault("b", {})
            buckets[msg.payload % 5] = buckets.get(msg.payload % 5, 0) + 1  # int keys

    g = Subgraph()
    g.add_node(IterSource(range(100_000), name="src"))
    g.add_node(Buckets(name="buckets"))
    g.connect(("src", "out"), ("buckets", "in"), capacity=4)
    runtime = Runtime(store=Recorder(), checkpoint_every=0.001, quantum=2, batch=2)
    runtime.register(g)
    with pytest.raises(Exception, match="would not come back the same .* not strings"):
        runtime.run()


def test_a_graph_change_is_a_checkpoint_boundary() -> None:
    class Forever(Node):
        """A source that never ends by itself."""

        out = Output(int)
        keep_alive = True

        def on_tick(self) -> None:
            return None

    seen: list[Event] = []
    recorder = Recorder()
    runtime = Runtime(store=recorder, checkpoint_every=3600)  # no timed checkpoint here
    g = Subgraph()
    g.add_node(Forever(name="src"))
    g.add_node(Count(name="count"))
    g.connect(("src", "out"), ("count", "in"))
    runtime.register(g)
    runtime.subscribe(seen.append, CheckpointCommitted)
    ex = runtime.start()
    try:
        ex.add_node(Count(name="more"))
        ex.connect(("src", "out"), ("more", "in"))
        for _ in range(10_000):  # (a bound on a hang: each wait returns within a millisecond)
            if len(recorder.written) >= 2:
                break
            ex.wait(0.001)
        assert len(recorder.written) >= 2  # one per commit, none waiting for the hour
    finally:
        runtime.stop()
    assert seen


def test_a_run_is_resumed_only_with_its_own_graph_and_starts_over_once_completed(
    tmp_path: Path,
) -> None:
    with SqliteStore(tmp_path / "run.db") as store:
        run = Run(store, "orders", checksum="abc")
        assert not run.resumed
        assert run.write({"state": {"n": "1"}}) == 1
        again = Run(store, "orders", checksum="abc")
        assert again.resumed
        assert again.latest() == (1, {"state": {"n": 1}})
        with pytest.raises(ValueError, match="made from another graph .* start it over"):
            Run(store, "orders", checksum="xyz")
        fresh = Run(store, "orders", checksum="xyz", fresh=True)
        assert not fresh.resumed
        assert fresh.latest() is None
        fresh.ended("completed")
        assert fresh.state() == "completed"
        after = Run(store, "orders", checksum="xyz")
        assert not after.resumed
        assert after.state() == "running"
        after.ended("failed")  # a failed run stays resumable: that is what checkpoints are for
        assert Run(store, "orders", checksum="xyz").resumed


def test_builtins_save_and_take_back_their_state(tmp_path: Path) -> None:
    acc = Accumulator(count=3)
    acc.on_message("in", _msg(1))
    restored = Accumulator(count=3)
    restored.restore(acc.snapshot())
    assert restored.snapshot() == {"batch": [1]}
    delay = Delay(ms=50)
    delay.on_message("in", _msg("x"))
    later = Delay(ms=50)
    later.restore(delay.snapshot())
    assert later.snapshot() == {"waiting": ["x"]}
    with pytest.raises(ValueError, match="accumulator state"):
        Accumulator().restore({"nope": 1})


def test_a_jsonl_source_resumes_after_the_bytes_it_had_handed_on(tmp_path: Path) -> None:
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3}\n')
    saved = {"position": {"read": {"offset": len('{"a": 1}\n\n'), "line": 2}}}
    recorder = Recorder(start=(1, saved))
    g = Subgraph()
    g.add_node(JsonlSource(path=str(lines), name="read"))
    g.add_node(Collect("got"))
    g.connect(("read", "out"), ("got", "in"))
    runtime = Runtime(store=recorder, checkpoint_every=60)
    runtime.register(g)
    runtime.run()
    assert runtime.execution.instances["got"].payloads == [{"a": 2}, {"a": 3}]


def test_the_jsonl_sink_cuts_back_to_its_checkpoint_on_resume(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    sink = JsonlSink(path=str(out))
    sink.on_start()
    sink.on_message("in", _msg(1))
    saved = sink.snapshot()
    sink.on_message("in", _msg(2))  # after the checkpoint: written, then taken back
    sink.on_stop()
    assert out.read_text() == "1\n2\n"
    resumed = JsonlSink(path=str(out))
    resumed.restore(saved)
    resumed.on_start()
    resumed.on_message("in", _msg(3))
    resumed.on_stop()
    assert out.read_text() == "1\n3\n"
    assert JsonlSink(path="-").delivery == "at-least-once"
    assert sink.delivery == "exactly-once"


def _msg(value: Any) -> Any:
    from arachne.model.message import Message

    return Message(value)


# -- fault injection: real processes killed with SIGKILL ---------------------------------------


@pytest.mark.slow
def test_a_graph_killed_at_50_random_points_resumes_to_the_same_output(tmp_path: Path) -> None:
    # Fan-in, a fused chain of @node functions, a thread-mode node and an accumulator.
    report = inject(graph_case(tmp_path), points=50, seed=16)
    assert report.mismatches == []
    assert report.points == 50
    assert report.after_checkpoint >= 10  # many resumes really started mid-run


@pytest.mark.slow
def test_arachne_run_store_killed_at_random_points_resumes_to_the_same_output(
    tmp_path: Path,
) -> None:
    # Edge e1 is recorded: after the last resume, arachne replay must write the same file too.
    report = inject(document_case(tmp_path), points=10, seed=16)
    assert report.mismatches == []
    assert report.after_checkpoint >= 2
    assert report.replays >= 2


def test_a_source_that_cannot_reach_its_saved_position_reports_a_replay_gap(
    tmp_path: Path,
) -> None:
    short = IterSource([1, 2, 3], name="a")
    short.restore({"index": 5})
    with pytest.raises(ValueError, match="replay gap: .* 5 items"):
        short.on_start()
    lines = tmp_path / "in.jsonl"
    lines.write_text("1\n2\n")
    source = JsonlSource(path=str(lines))
    source.restore({"offset": 100, "line": 9})
    with pytest.raises(ValueError, match="replay gap: .* 100 bytes, but the file now holds 4"):
        source.on_start()


def test_a_timed_source_retrying_a_tick_does_not_hold_a_checkpoint_for_ever() -> None:
    class Ticker(Node):
        """Ticks on a timer; the fifth tick fails once and is retried."""

        out = Output(int)
        cadence = 0.005
        error_policy = Retry(max_attempts=3, backoff=0.05)

        def __init__(self) -> None:
            self.n = 0

        def on_tick(self) -> None:
            self.n += 1
            if self.n == 5:
                raise RuntimeError("transient")
            if self.n > 60:
                self.finish()
                return
            self.emit("out", self.n)

        def snapshot(self) -> dict[str, int]:
            return {"n": self.n}

    recorder = Recorder()
    g = Subgraph()
    g.add_node(Ticker())
    g.add_node(IterSource(range(100_000), name="big"))
    g.add_node(Pair())
    g.connect(("ticker", "out"), ("pair", "left"), capacity=4)
    g.connect(("big", "out"), ("pair", "right"), capacity=4)
    runtime = Runtime(store=recorder, checkpoint_every=0.01)
    runtime.register(g)
    runtime.run()
    after_retry = [p for p in recorder.written if p["position"]["ticker"]["n"] > 10]
    assert len(after_retry) >= 3  # checkpoints went on after the retried tick


def test_a_run_stopped_on_purpose_stays_resumable(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "run.db") as store:
        runtime = Runtime(store=store, checkpoint_every=0.001, run_name="stopped", quantum=8)
        runtime.register(pairs_graph(2_000_000))
        ex = runtime.start()
        for _ in range(10_000):  # (a bound on a hang: each wait returns within a millisecond)
            if runtime.execution.checkpointer is not None and ex.checkpointer.last >= 3:
                break
            ex.wait(0.001)
        assert ex.stop(drain=True, timeout=60)
        assert ex.state.value == "completed"  # drained to an early end
        assert run_state(store, "stopped") == "running"  # not complete: it resumes
        assert Run(store, "stopped").resumed


def test_checkpoint_zero_saves_where_an_appending_sink_starts(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('"before"\n')
    recorder = Recorder()
    g = Subgraph()
    g.add_node(IterSource(range(3), name="src"))
    g.add_node(JsonlSink(path=str(out), append=True, name="write"))
    g.connect(("src", "out"), ("write", "in"))
    runtime = Runtime(store=recorder, checkpoint_every=3600)  # no timed checkpoint
    runtime.register(g)
    runtime.run()
    first = recorder.written[0]
    assert first["sink"]["write"]["offset"] == len('"before"\n')  # taken before any value
    assert first["position"]["src"] == {"index": 0}


def test_the_jsonl_sink_refuses_to_resume_onto_a_shorter_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("1\n")
    sink = JsonlSink(path=str(out))
    sink.restore({"offset": 10, "written": 3})
    with pytest.raises(ValueError, match="replay gap: .* 10 bytes, but the file now holds 2"):
        sink.on_start()
    assert out.read_text() == "1\n"  # left as it was, not padded


def test_a_run_another_process_holds_is_refused_until_that_process_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from arachne.durable import SqliteStore, Run; "
            f"run = Run(SqliteStore({str(tmp_path / 'run.db')!r}), 'busy'); "
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with SqliteStore(tmp_path / "run.db") as store:
            with pytest.raises(RunBusy, match="run 'busy' is being run by another process"):
                Run(store, "busy")
            holder.kill()  # a crash lets go of it
            holder.wait(30)
            assert Run(store, "busy").resumed
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()


def test_a_jsonl_source_refuses_a_file_put_in_place_of_the_one_it_read(tmp_path: Path) -> None:
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"day": 1}\n{"day": 1}\n{"day": 1}\n')
    source = JsonlSource(path=str(lines))
    source._offset, source._line = len('{"day": 1}\n'), 1  # as after handing on one line
    saved = source.snapshot()
    lines.write_text('{"day": 2}\n{"day": 2}\n{"day": 2}\n{"day": 2}\n')  # not shorter: new
    resumed = JsonlSource(path=str(lines))
    resumed.restore(saved)
    with pytest.raises(ValueError, match=r"changed since the checkpoint .*\(--fresh\)"):
        resumed.on_start()
    lines.write_text('{"day": 1}\n{"day": 1}\n{"day": 1}\n{"day": 1}\n')  # the same, grown
    grown = JsonlSource(path=str(lines))
    grown.restore(saved)
    grown.on_start()
    grown.on_stop()


def test_idempotency_keys_repeat_for_the_messages_a_recovery_replays() -> None:
    class Charge(Node):
        """An at-least-once sink that keys each call."""

        inp = Input(int, name="in")

        def __init__(self) -> None:
            self.keys = IdempotencyKeys(self)
            self.sent: list[tuple[str, int]] = []

        def on_message(self, port: str, msg: Any) -> None:
            self.sent.append((self.keys.next(), msg.payload))

        def snapshot(self) -> dict[str, int]:
            return self.keys.snapshot()

        def restore(self, state: Any) -> None:
            self.keys.restore(state)

    def graph(sink: Charge) -> Subgraph:
        g = Subgraph()
        g.add_node(IterSource(range(10), name="src"))
        g.add_node(sink)
        g.connect(("src", "out"), ("charge", "in"))
        return g

    whole = Charge()
    first = Runtime(store=Recorder(), checkpoint_every=60)
    first.register(graph(whole))
    first.run()
    # Resumed from a checkpoint taken after 4 messages: the rest come with the same keys.
    saved = {"position": {"src": {"index": 4}}, "sink": {"charge": {"keys": 4}}}
    resumed = Charge()
    again = Runtime(store=Recorder(start=(2, saved)), checkpoint_every=60)
    again.register(graph(resumed))
    again.run()
    assert resumed.sent == whole.sent[4:]
    with pytest.raises(ValueError, match="idempotency keys"):
        IdempotencyKeys(Charge()).restore({"keys": -1})
