"""CodeNode: the ExecutionContext, the lifecycle, order, and state that is checkpointed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from arachne import Runtime
from arachne.components import Registry
from arachne.components.code import CodeHost, enable_code
from arachne.model.errors import SpecError
from tests.components.builtins.helpers import collected, line, run, source
from tests.durable.test_recovery import Recorder

TOTAL = """
return {
  initialize(ctx) {
    if (ctx.getState("total") === undefined) ctx.setState("total", 0);
  },
  process(ctx, port, value) {
    const total = ctx.getState("total") + value;
    ctx.setState("total", total);
    ctx.emit("out", total);
  },
};
"""


def definition(component_id: str, source_text: str, **extra: Any) -> dict[str, Any]:
    ports = extra.pop("ports", {"inputs": [{"name": "in"}], "outputs": [{"name": "out"}]})
    return {
        "id": component_id,
        "ports": ports,
        "execution": {"type": "javascript", "source": source_text, **extra},
    }


@pytest.fixture(scope="module")
def host() -> Iterator[CodeHost]:
    code = CodeHost()
    yield code
    code.close()


@pytest.fixture
def registry(host: CodeHost) -> Registry:
    registry = Registry()
    enable_code(registry, host)
    return registry


def test_the_context_carries_ids_config_and_the_handlers_lifecycle(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    registry.add_code(
        {
            **definition(
                "t.ctx.ids",
                """
                return {
                  initialize(ctx) { ctx.emit("out", "ready " + ctx.config.label); },
                  process(ctx, port, value) {
                    ctx.emitBatch("out", [ctx.nodeId, ctx.instanceId === ctx.executionId + "/" +
                      ctx.nodeId, ctx.executionId.length > 0, Object.isFrozen(ctx.config), value]);
                  },
                  cleanup(ctx) { ctx.log("warn", "cleaning up", { label: ctx.config.label }); },
                };
                """,
            ),
            "config": {"type": "object", "properties": {"label": {"type": "string"}}},
        }
    )
    node = registry.create("t.ctx.ids", {"label": "L"})
    graph, sink = line(source([7]), node)
    with caplog.at_level("INFO", logger="arachne.node"):
        run(graph)
    assert sink.payloads == ["ready L", node.name(), True, True, True, 7]
    assert 'cleaning up {"label":"L"}' in [r.getMessage() for r in caplog.records]


def test_order_is_kept_across_batches_and_state_is_mirrored(registry: Registry) -> None:
    registry.add_code(definition("t.state.total", TOTAL))
    node = registry.create("t.state.total", {})
    graph, sink = line(source(range(1, 501)), node)
    run(graph)
    assert sink.payloads == [n * (n + 1) // 2 for n in range(1, 501)]
    assert node.context.state == {"total": 125250}


def test_code_state_is_checkpointed_and_restored(registry: Registry) -> None:
    registry.add_code(definition("t.state.durable", TOTAL))
    node = registry.create("t.state.durable", {})
    graph, sink = line(source(range(5), name="numbers"), node)
    saved = {"position": {"numbers": {"index": 3}}, "state": {node.name(): {"total": 100}}}
    recorder = Recorder(start=(4, saved))
    runtime = Runtime(store=recorder, checkpoint_every=60)
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [103, 107]  # 3 and 4, onto the total the checkpoint held
    assert node.snapshot() == {"total": 107}  # what the next checkpoint saves


def test_a_failed_call_leaves_no_trace_and_the_next_one_is_served(registry: Registry) -> None:
    registry.add_code(
        definition(
            "t.fail.trace",
            """
            return { process(ctx, port, value) {
              ctx.setState("seen", (ctx.getState("seen") || 0) + 1);
              ctx.emit("out", value);
              if (value === "bad") throw new TypeError("no bad values");
            } };
            """,
        )
    )
    node = registry.create("t.fail.trace", {})
    node.error_policy = "skip"
    graph, sink = line(source(["a", "bad", "b"]), node, errors=node.name())
    run(graph)
    assert sink.payloads == ["a", "b"]
    (record,) = collected(graph, "errors").payloads
    assert record.error_type == "CodeError"
    assert "TypeError: no bad values" in record.error
    assert node.context.state == {"seen": 2}  # the failed call's change was dropped


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"execution": {"type": "typescript", "source": "x"}}, "compile it to JavaScript"),
        ({"execution": {"type": "javascript", "source": ""}}, "execution.source must be"),
        ({"execution": {"type": "javascript", "source": "return 1"}}, "must return { process"),
        (
            {"execution": {"type": "javascript", "source": "x", "entrypoint": "new"}},
            "execution.entrypoint 'new' must be a JavaScript identifier",
        ),
        (
            {"execution": {"type": "javascript", "source": "x", "limits": {"timeMs": 10**9}}},
            "timeMs: 1000000000 is over the operator's ceiling",
        ),
        (
            {"execution": {"type": "javascript", "source": "x" * 300_000}},
            "over execution.limits.sourceBytes",
        ),
        ({"ports": {"inputs": [{"name": "in"}], "outputs": [{"name": "error"}]}}, "implicit"),
        ({"ports": {"inputs": [{"name": "a/b"}]}}, "name 'a/b' must be a letter"),
        ({"ports": {"inputs": [{"name": "my in"}]}}, "name 'my in' must be a letter"),
        ({"config": {"type": "objcet"}}, "config is not a valid JSON Schema"),
        ({"ports": {"inputs": [{"name": "in", "schema": {"type": "decimal"}}]}}, "'decimal'"),
        ({"id": "flat"}, "must be namespaced"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_field(
    registry: Registry, change: dict[str, Any], named: str
) -> None:
    data = {**definition("t.bad.one", "return { process() {} }"), **change}
    with pytest.raises(SpecError, match=named.replace("(", r"\(").replace("{", r"\{")):
        registry.add_code(data)
    assert "t.bad.one" not in registry


def test_code_is_refused_unless_enabled() -> None:
    with pytest.raises(SpecError, match="--allow-code"):
        Registry().add_code(definition("t.off.one", TOTAL))


def test_replies_cut_short_are_sent_again_in_order(registry: Registry) -> None:
    # Each call emits 300,000 characters: a reply is cut short after 14, with the next batch
    # already sent behind it (which runs nothing); every value comes out once, in order.
    registry.add_code(
        definition(
            "t.big.replies",
            "return { process(ctx, port, value) {"
            " ctx.emit('out', [value, 'x'.repeat(300000)]); } };",
            limits={"emitBytes": 4 << 20},
        )
    )
    node = registry.create("t.big.replies", {})
    graph, sink = line(source(range(200)), node)
    run(graph)
    assert [value for value, _ in sink.payloads] == list(range(200))
    assert all(len(text) == 300_000 for _, text in sink.payloads)
