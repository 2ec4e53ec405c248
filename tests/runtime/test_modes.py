"""One graph, every execution mode: the same results whether hooks run inline, as coroutines,
in a thread pool or in worker processes."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from arachne import GraphError, Input, IterSource, Node, Output, Runtime, Subgraph, node
from arachne.runtime import ExecutionState
from tests.runtime.modes_functions import MODES, square_in
from tests.runtime.nodes import Collect


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_same_graph_gives_the_same_results_in_every_mode(mode: str) -> None:
    graph = Subgraph()
    graph.add_node(IterSource(range(200), schema=int, name="numbers"))
    graph.add_node(square_in(mode)(name="square"))
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("numbers", "out"), ("square", "in"), capacity=8)
    graph.connect(("square", "out"), ("collect", "in"), capacity=8)
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [x * x for x in range(200) if x % 5]
    stats = runtime.stats()
    assert stats.state == "completed"
    assert stats.nodes["square"].received == 200
    assert stats.nodes["square"].in_flight == 0
    assert all(edge.high_water <= 8 + 4 - 1 for edge in stats.edges.values())


class SlowAsync(Node):
    """Sleeps (really, on the event loop) a time that shrinks with the payload."""

    mode = "async"
    concurrency = 4
    inp = Input(int, name="in")
    out = Output(int)

    async def on_message(self, port: str, msg: Any) -> None:
        await asyncio.sleep(0.001 * (5 - msg.payload % 5))
        self.emit("out", msg.payload)


def run_slow(ordered: bool) -> list[int]:
    class Slow(SlowAsync):
        pass

    Slow.ordered = ordered
    graph = Subgraph()
    graph.add_node(IterSource(range(20), name="src"))
    graph.add_node(Slow(name="slow"))
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("slow", "in"))
    graph.connect(("slow", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    return sink.payloads


def test_async_keeps_input_order_unless_told_not_to() -> None:
    assert run_slow(ordered=True) == list(range(20))
    unordered = run_slow(ordered=False)
    assert sorted(unordered) == list(range(20))
    assert unordered != list(range(20))  # later, faster calls overtook earlier, slower ones


def test_async_concurrency_is_bounded() -> None:
    in_flight = 0
    peak = 0

    class Probe(Node):
        mode = "async"
        concurrency = 3
        inp = Input(int, name="in")

        async def on_message(self, port: str, msg: Any) -> None:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            in_flight -= 1

    graph = Subgraph()
    graph.add_node(IterSource(range(50), name="src"))
    graph.add_node(Probe())
    graph.connect(("src", "out"), ("probe", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert peak == 3


def test_thread_mode_runs_off_the_loop_thread() -> None:
    threads: set[str] = set()

    class Blocking(Node):
        mode = "thread"
        concurrency = 2
        inp = Input(int, name="in")
        out = Output(int)

        def on_message(self, port: str, msg: Any) -> None:
            threads.add(threading.current_thread().name)
            self.emit("out", msg.payload + 1)

    graph = Subgraph()
    graph.add_node(IterSource(range(30), name="src"))
    graph.add_node(Blocking())
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("blocking", "in"))
    graph.connect(("blocking", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == list(range(1, 31))
    assert threading.main_thread().name not in threads
    assert all("worker" in name for name in threads)


def test_async_source_and_async_lifecycle_hooks() -> None:
    log: list[str] = []

    class Feed(Node):
        mode = "async"
        out = Output(int)

        async def on_start(self) -> None:
            self.left = 5
            log.append("start")

        async def on_tick(self) -> None:
            await asyncio.sleep(0)
            if self.left:
                self.emit("out", self.left)
                self.left -= 1
            else:
                self.finish()

        async def on_finish(self) -> None:
            await asyncio.sleep(0)
            self.emit("out", 0)

        async def on_stop(self) -> None:
            log.append("stop")

    graph = Subgraph()
    graph.add_node(Feed())
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("feed", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [5, 4, 3, 2, 1, 0]
    assert log == ["start", "stop"]


def test_async_function_node_infers_its_mode() -> None:
    @node
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return -x

    assert fetch.mode == "async"
    graph = Subgraph()
    graph.add_node(IterSource(range(5), name="src"))
    graph.add_node(fetch())
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("fetch", "in"))
    graph.connect(("fetch", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [0, -1, -2, -3, -4]


def test_process_mode_needs_a_module_level_function() -> None:
    @node(mode="process")
    def local(x: int) -> int:
        return x

    class NotAFunction(Collect):
        mode = "process"

    for unit in (local(), NotAFunction("nf")):
        graph = Subgraph()
        graph.add_node(IterSource(range(3), name="src"))
        graph.add_node(unit)
        graph.connect(("src", "out"), (unit.name(), "in"))
        runtime = Runtime()
        runtime.register(graph)
        with pytest.raises(GraphError, match="process"):
            runtime.run()


def test_cancel_with_calls_in_flight_ends_cleanly() -> None:
    started = threading.Event()

    class Hang(Node):
        mode = "async"
        inp = Input(int, name="in")

        async def on_message(self, port: str, msg: Any) -> None:
            started.set()
            await asyncio.Event().wait()

    graph = Subgraph()
    graph.add_node(IterSource(range(10), name="src"))
    graph.add_node(Hang())
    graph.connect(("src", "out"), ("hang", "in"))
    runtime = Runtime()
    runtime.register(graph)
    ex = runtime.start()
    assert started.wait(10)
    ex.request_stop(drain=False)
    assert ex.wait(10)
    assert ex.state is ExecutionState.CANCELLED
    runtime.shutdown()
