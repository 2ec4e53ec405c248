"""WebAssembly components: a module built here from WAT text runs under fuel and memory limits."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import wasmtime

from arachne.components import Registry
from arachne.components.code import CodeHost, enable_code
from arachne.model.error_record import ErrorRecord
from arachne.model.errors import SpecError
from tests.components.builtins.helpers import collected, line, run, source

# Echoes each value after the one it kept before (get_state/set_state), logs a line; "loop"
# spins for ever (until its fuel runs out); "grow" asks for 64 MiB more memory and says whether
# it got it. Its memory allocator only bumps: a few calls per instance are all it is for.
ECHO = r"""
(module
  (import "arachne" "emit" (func $emit (param i32 i32 i32 i32)))
  (import "arachne" "set_state" (func $set (param i32 i32 i32 i32)))
  (import "arachne" "get_state" (func $get (param i32 i32) (result i64)))
  (import "arachne" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "out")
  (data (i32.const 8) "prev")
  (data (i32.const 16) "hello")
  (data (i32.const 32) "\22denied\22")
  (data (i32.const 48) "\22grown\22")
  (global $next (mut i32) (i32.const 1024))
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $n)))
    (local.get $p))
  (func (export "process") (param $pp i32) (param $pl i32) (param $vp i32) (param $vl i32)
    (local $prev i64)
    (local $first i32)
    (local.set $first (i32.load8_u (i32.add (local.get $vp) (i32.const 1))))
    (if (i32.eq (local.get $first) (i32.const 108))
      (then (loop $spin (br $spin))))
    (if (i32.eq (local.get $first) (i32.const 103))
      (then
        (if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1))
          (then (call $emit (i32.const 0) (i32.const 3) (i32.const 32) (i32.const 8)))
          (else (call $emit (i32.const 0) (i32.const 3) (i32.const 48) (i32.const 7))))
        (return)))
    (local.set $prev (call $get (i32.const 8) (i32.const 4)))
    (if (i64.ne (local.get $prev) (i64.const -1))
      (then
        (call $emit (i32.const 0) (i32.const 3)
          (i32.wrap_i64 (i64.shr_u (local.get $prev) (i64.const 32)))
          (i32.wrap_i64 (local.get $prev)))))
    (call $set (i32.const 8) (i32.const 4) (local.get $vp) (local.get $vl))
    (call $log (i32.const 1) (i32.const 16) (i32.const 5))
    (call $emit (i32.const 0) (i32.const 3) (local.get $vp) (local.get $vl)))
)
"""


def definition(source_text: str, **execution: Any) -> dict[str, Any]:
    return {
        "id": "test.wasm.echo",
        "ports": {"inputs": [{"name": "in"}], "outputs": [{"name": "out"}]},
        "execution": {"type": "wasm", "source": source_text, **execution},
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


def test_a_module_from_wat_runs_with_state_under_fuel_and_memory_limits(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    limits = {"fuel": 200_000, "memoryBytes": 8 << 20}
    registry.add_code(definition(ECHO, limits=limits))
    node = registry.create("test.wasm.echo", {})
    node.error_policy = "skip"
    graph, sink = line(source(["a", "b", "loop", "c", "grow"]), node, errors=node.name())
    with caplog.at_level("INFO", logger="arachne.node"):
        run(graph)
    # "loop" ran out of fuel and left no trace; the instance was built again, its state kept.
    assert sink.payloads == ["a", "a", "b", "b", "c", "denied"]
    errors = [p for p in collected(graph, "errors").payloads if isinstance(p, ErrorRecord)]
    assert [(e.error_type, e.payload) for e in errors] == [("LimitExceeded", "loop")]
    assert "(limit fuel)" in errors[0].error
    assert node.context.state == {"prev": "c"}  # mirrored in the runtime: checkpointed state
    assert [r.getMessage() for r in caplog.records].count("hello") == 3


def test_memory_past_the_limit_is_not_granted_and_a_larger_module_is_refused(
    registry: Registry,
) -> None:
    registry.add_code(definition(ECHO, limits={"memoryBytes": 128 << 20}))
    node = registry.create("test.wasm.echo", {})
    graph, sink = line(source(["grow"]), node)
    run(graph)
    assert sink.payloads == ["grown"]  # 64 MiB more fits in 128
    big = ECHO.replace('(memory (export "memory") 1)', '(memory (export "memory") 200)')
    with pytest.raises(SpecError, match=r"execution.source: the module did not instantiate"):
        registry.add_code(definition(big, limits={"memoryBytes": 8 << 20}), replace=True)


def test_a_binary_module_loads_from_base64_and_bad_modules_are_refused(
    registry: Registry,
) -> None:
    binary = base64.b64encode(wasmtime.wat2wasm(ECHO)).decode()
    registry.add_code(definition(binary, encoding="base64"))
    node = registry.create("test.wasm.echo", {})
    graph, sink = line(source([1]), node)
    run(graph)
    assert sink.payloads == [1]
    for text, named in [
        ("(module", "did not compile"),
        ("(module (memory 1))", "must export 'memory'"),
        ("not base64!", "not base64"),
    ]:
        extra = {"encoding": "base64"} if text == "not base64!" else {}
        with pytest.raises(SpecError, match=named):
            registry.add_code(definition(text, **extra), replace=True)
