from __future__ import annotations

import asyncio
import itertools

import pytest

from arachne import (
    ExecutionError,
    GraphError,
    IterSource,
    Node,
    NodeFailed,
    Runtime,
    Scheduler,
    Subgraph,
    node,
)
from arachne.runtime import ExecutionState
from tests.runtime.nodes import Collect, Count, Relay


def pipeline(*nodes: Node, capacity: int = 4) -> Subgraph:
    graph = Subgraph()
    for unit in nodes:
        graph.add_node(unit)
    for a, b in itertools.pairwise(nodes):
        graph.connect((a.name(), "out"), (b.name(), "in"), capacity=capacity)
    return graph


def run(graph: Subgraph, **kwargs: object) -> Runtime:
    runtime = Runtime(**kwargs)  # type: ignore[arg-type]
    runtime.register(graph)
    runtime.run()
    return runtime


def test_scheduler_is_the_runtime() -> None:
    assert Scheduler is Runtime


def test_linear_pipeline_delivers_everything_in_order() -> None:
    sink = Collect()
    runtime = run(pipeline(IterSource(range(100)), Relay(fn=lambda x: x * 2), sink))
    assert sink.payloads == [x * 2 for x in range(100)]
    stats = runtime.stats()
    assert stats.state == "completed"
    assert all(edge.high_water <= 4 for edge in stats.edges.values())
    assert stats.nodes["relay"].received == stats.nodes["relay"].emitted == 100


def test_hooks_run_in_topological_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    graph = pipeline(Count(3, log=log), Collect("a", log=log))
    graph.add_node(Collect("b", log=log))
    graph.connect(("count", "out"), ("b", "in"))
    run(graph)
    starts = [entry for entry in log if entry.startswith("start")]
    stops = [entry for entry in log if entry.startswith("stop")]
    assert starts[0] == "start count"
    assert stops[-1] == "stop count"
    assert [s.split()[1] for s in stops] == [s.split()[1] for s in reversed(starts)]
    finishes = [entry for entry in log if entry.startswith("finish")]
    assert finishes[0] == "finish count"
    assert log.index("finish a") < log.index("stop a")


def test_on_finish_may_emit_a_final_flush() -> None:
    class Batch(Node):
        def inputs(self) -> dict[str, object]:
            return {"in": int}

        def outputs(self) -> dict[str, object]:
            return {"out": list}

        def on_start(self) -> None:
            self.buffer: list[int] = []

        def on_message(self, port: str, msg: object) -> None:
            self.buffer.append(msg.payload)  # type: ignore[attr-defined]
            if len(self.buffer) == 4:
                self.emit("out", self.buffer)
                self.buffer = []

        def on_finish(self) -> None:
            if self.buffer:
                self.emit("out", self.buffer)

    sink = Collect()
    run(pipeline(IterSource(range(10)), Batch(), sink))
    assert sink.payloads == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_tick_source_that_never_finishes_completes_at_quiescence() -> None:
    sink = Collect()
    runtime = run(pipeline(Count(5, finish=False), sink))
    assert sink.payloads == [0, 1, 2, 3, 4]
    assert runtime.execution.state is ExecutionState.COMPLETED


def test_function_nodes_compose() -> None:
    @node
    def numbers() -> list[int]:
        return list(range(6))

    @node
    def square(x: int) -> int:
        return x * x

    @node
    def evens(x: int) -> int | None:
        return x if x % 2 == 0 else None

    @node
    def twice(x: int):  # type: ignore[no-untyped-def]
        yield x
        yield x

    sink = Collect()
    run(pipeline(numbers(), square(), evens(), twice(), sink))
    assert sink.payloads == [0, 0, 4, 4, 16, 16]


def test_fan_out_copies_and_fan_in_merges() -> None:
    graph = Subgraph()
    graph.add_node(IterSource(range(50), name="src"))
    graph.add_node(Relay("plus", lambda x: x + 1000))
    graph.add_node(Relay("minus", lambda x: -x))
    sink = Collect()
    graph.add_node(sink)
    graph.connect(("src", "out"), ("plus", "in"), capacity=2)
    graph.connect(("src", "out"), ("minus", "in"), capacity=3)
    graph.connect(("plus", "out"), ("collect", "in"), capacity=1)
    graph.connect(("minus", "out"), ("collect", "in"), capacity=5)
    run(graph, quantum=3)
    assert sorted(sink.payloads) == sorted([x + 1000 for x in range(50)] + [-x for x in range(50)])
    assert [p for p in sink.payloads if p >= 1000] == [x + 1000 for x in range(50)]


def test_nested_subgraph_runs_with_path_ids() -> None:
    inner = Subgraph("etl")
    inner.add_node(Relay("parse", int))
    inner.add_node(Relay("scale", lambda x: x * 10))
    inner.connect(("parse", "out"), ("scale", "in"))
    inner.expose_input("in", ("parse", "in"))
    inner.expose_output("out", ("scale", "out"))
    outer = Subgraph()
    outer.add_node(IterSource(["1", "2", "3"], name="src"))
    outer.add_node(inner)
    sink = Collect()
    outer.add_node(sink)
    outer.connect(("src", "out"), ("etl", "in"))
    outer.connect(("etl", "out"), ("collect", "in"))
    runtime = run(outer)
    assert sink.payloads == [10, 20, 30]
    assert set(runtime.stats().nodes) == {"src", "etl/parse", "etl/scale", "collect"}


def test_failure_names_the_node_chains_the_cause_and_still_stops_nodes() -> None:
    log: list[str] = []

    @node
    def explode(x: int) -> int:
        if x == 3:
            raise ValueError("three is not allowed")
        return x

    sink = Collect(log=log)
    runtime = Runtime()
    runtime.register(pipeline(IterSource(range(10)), explode(), sink))
    with pytest.raises(NodeFailed, match="'explode'.*ValueError: three is not allowed") as info:
        runtime.run()
    assert info.value.node_id == "explode"
    assert isinstance(info.value.__cause__, ValueError)
    assert runtime.execution.state is ExecutionState.FAILED
    assert "stop collect" in log
    assert runtime.stats().nodes["explode"].errors == 1


@pytest.mark.parametrize("hook", ["on_start", "on_finish", "on_stop"])
def test_failures_in_lifecycle_hooks_fail_the_run(hook: str) -> None:
    class Fragile(Collect):
        pass

    def boom(self: object) -> None:
        raise RuntimeError(f"{hook} broke")

    setattr(Fragile, hook, boom)
    runtime = Runtime()
    runtime.register(pipeline(IterSource(range(3)), Fragile("fragile")))
    with pytest.raises(NodeFailed, match=f"{hook} raised RuntimeError: {hook} broke"):
        runtime.run()
    assert runtime.execution.state is ExecutionState.FAILED


def test_invalid_graph_is_refused_with_every_issue() -> None:
    graph = Subgraph()
    graph.add_node(Collect())
    graph.connect(("nowhere", "out"), ("collect", "in"))
    graph.connect(("collect", "in"), ("collect", "missing"))
    runtime = Runtime()
    runtime.register(graph)
    with pytest.raises(GraphError) as info:
        runtime.run()
    codes = {issue.code for issue in info.value.issues}
    assert codes == {"unknown-node", "unknown-port", "cycle"}


def test_register_after_start_is_refused() -> None:
    runtime = Runtime()
    runtime.register(pipeline(IterSource(range(3)), Collect()))
    runtime.run()
    with pytest.raises(ExecutionError, match="before run"):
        runtime.register(Collect("late"))


def test_a_node_instance_cannot_run_twice_at_once() -> None:
    sink = Collect()
    first = Runtime()
    first.register(pipeline(IterSource(range(3)), sink))
    ex = first.execution
    # The instance is bound elsewhere, as a second execution running it would have bound it.
    sink.bind_runtime(ex.wiring.bindings["collect"], sink.context)
    with pytest.raises(ExecutionError, match="already part of a running execution"):
        first.run()


def test_instances_can_run_again_after_a_run_ends() -> None:
    sink = Collect()
    source = IterSource(range(3))
    run(pipeline(source, sink))
    run(pipeline(source, sink))
    assert sink.payloads == [0, 1, 2, 0, 1, 2]


def test_run_inside_an_event_loop_points_to_run_async() -> None:
    runtime = Runtime()
    runtime.register(pipeline(IterSource(range(3)), Collect()))

    async def main() -> None:
        with pytest.raises(ExecutionError, match="run_async"):
            runtime.run()
        await runtime.run_async()

    asyncio.run(main())
    assert runtime.execution.state is ExecutionState.COMPLETED


def test_register_rejects_non_nodes() -> None:
    with pytest.raises(TypeError, match="Node or Subgraph"):
        Runtime().register("producer")  # type: ignore[arg-type]


def test_quantum_must_be_positive() -> None:
    runtime = Runtime(quantum=0)
    runtime.register(pipeline(IterSource(range(3)), Collect()))
    with pytest.raises(ValueError, match="quantum"):
        runtime.run()


def test_passive_source_finishes_at_once() -> None:
    class Passive(Node):
        def outputs(self) -> dict[str, object]:
            return {"out": int}

    sink = Collect()
    runtime = run(pipeline(Passive(), sink))
    assert sink.payloads == []
    assert runtime.stats().nodes["passive"].state == "stopped"
