"""Hostile JavaScript: each attack ends in a named limit or a refusal, and the node serves on.

Every case is a component whose ``process`` doubles ordinary values and runs the attack only
for the value ``"attack"``, after staging a state change and an emit that the failure must
drop. The node is fed ``[1, "attack", 2]``: the sink must get exactly ``[2, 4]`` (so nothing
of the failed invocation leaked, and the same node served the value after it) and the error
port exactly one record, naming the limit or saying what was refused.
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from arachne.components import Registry
from arachne.components.code import CodeHost, CodeNode, Worker, enable_code
from arachne.model.error_record import ErrorRecord
from arachne.model.errors import SpecError
from tests.components.builtins.helpers import Collect, collected, line, run, source

BOUND = 30.0  # seconds: a bound on a wait, not a timing claim
MEMORY_CASE_TIME_MS = 10_000  # a memory bomb reaches memoryBytes long before this

LIMITS = {
    "timeMs": 150,
    "memoryBytes": 16 << 20,
    "emits": 100,
    "emitBytes": 64 << 10,
    "logs": 20,
    "stateBytes": 64 << 10,
}

TEMPLATE = """
return {
  process(ctx, port, value) {
    if (value === "attack") {
      ctx.setState("leak", 100);
      ctx.emit("out", "leaked");
      %s
    }
    ctx.emit("out", value * 2 + (ctx.getState("leak") ?? 0));
  },
};
"""


@dataclass(frozen=True)
class Limit:
    """The invocation fails with ``LimitExceeded`` naming one of ``names``."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Refused:
    """The invocation fails with a ``CodeError`` whose text contains ``text``."""

    text: str


@dataclass(frozen=True)
class NotLoaded:
    """``add_code`` refuses the source with a ``SpecError`` containing ``text``."""

    text: str


def limit(*names: str) -> Limit:
    return Limit(names)


def case(name: str, attack: str, expect: Limit | Refused | NotLoaded) -> object:
    return pytest.param(attack, expect, id=name)


DISABLED = "is disabled"
NOT_JSON = "cannot be sent as JSON"

CASES = [
    # -- escapes through the constructors of functions ------------------------------------------
    case(
        "function-constructor",
        '(function () {}).constructor("return this")();',
        Refused("TypeError: Function " + DISABLED),
    ),
    case(
        "array-constructor-constructor",
        '[].constructor.constructor("return this")();',
        Refused("TypeError: Function " + DISABLED),
    ),
    case(
        "arrow-constructor",
        '(() => 0).constructor("return globalThis")();',
        Refused("TypeError: Function " + DISABLED),
    ),
    case(
        "method-constructor",
        '({ m() {} }).m.constructor("return 1")();',
        Refused("TypeError: Function " + DISABLED),
    ),
    case(
        "async-function-constructor",
        'Object.getPrototypeOf(async function () {}).constructor("return 1");',
        Refused("TypeError: AsyncFunction " + DISABLED),
    ),
    case(
        "generator-constructor",
        'Object.getPrototypeOf(function* () {}).constructor("yield this");',
        Refused("TypeError: GeneratorFunction " + DISABLED),
    ),
    case(
        "async-generator-constructor",
        'Object.getPrototypeOf(async function* () {}).constructor("yield 1");',
        Refused("TypeError: AsyncGeneratorFunction " + DISABLED),
    ),
    case(
        "bound-function-constructor",
        'Function.prototype.bind.call(Function, null, "return this")();',
        Refused("TypeError: Function " + DISABLED),
    ),
    case(
        "arguments-callee",
        "(function () { return arguments.callee; })();",
        Refused("TypeError: invalid property access"),
    ),
    # -- eval, in every spelling ----------------------------------------------------------------
    case("eval-direct", 'eval("globalThis");', Refused("TypeError: eval " + DISABLED)),
    case("eval-indirect", '(0, eval)("globalThis");', Refused("TypeError: eval " + DISABLED)),
    case(
        "eval-computed",
        'globalThis["ev" + "al"]("globalThis");',
        Refused("TypeError: eval " + DISABLED),
    ),
    case("function-call", 'Function("return this")();', Refused("TypeError: Function " + DISABLED)),
    case(
        "function-new", 'new Function("return this")();', Refused("TypeError: Function " + DISABLED)
    ),
    case(
        "reflect-construct-function",
        'Reflect.construct(Function, ["return this"])();',
        Refused("TypeError: Function " + DISABLED),
    ),
    case(
        "reflect-apply-function",
        'Reflect.apply(Function, null, ["return this"])();',
        Refused("TypeError: Function " + DISABLED),
    ),
    # -- what the global object does not have ---------------------------------------------------
    case("process", "process.exit(1);", Refused("ReferenceError: process is not defined")),
    case("require", 'require("child_process");', Refused("ReferenceError: require is not defined")),
    case("std", 'std.open("/etc/passwd", "r");', Refused("ReferenceError: std is not defined")),
    case("os", 'os.exec(["sh"]);', Refused("ReferenceError: os is not defined")),
    case("fetch", 'fetch("http://127.0.0.1/");', Refused("ReferenceError: fetch is not defined")),
    case(
        "xmlhttprequest",
        "new XMLHttpRequest();",
        Refused("ReferenceError: XMLHttpRequest is not defined"),
    ),
    case(
        "webassembly",
        "WebAssembly.compile(new Uint8Array(8));",
        Refused("ReferenceError: WebAssembly is not defined"),
    ),
    case(
        "set-timeout",
        "setTimeout(() => {}, 0);",
        Refused("ReferenceError: setTimeout is not defined"),
    ),
    case(
        "set-interval",
        "setInterval(() => {}, 1);",
        Refused("ReferenceError: setInterval is not defined"),
    ),
    case("dynamic-import-os", 'return import("os");', Refused("could not load module 'os'")),
    case(
        "dynamic-import-file",
        'return import("/etc/passwd");',
        Refused("could not load module '/etc/passwd'"),
    ),
    case(
        "import-meta", "return import.meta.url;", NotLoaded("import.meta only valid in module code")
    ),
    case("static-import", 'import os from "os";', NotLoaded("SyntaxError")),
    # -- shared objects are frozen: nothing outlives the invocation -----------------------------
    case(
        "object-prototype-pollution",
        "Object.prototype.polluted = 1;",
        Refused("TypeError: object is not extensible"),
    ),
    case(
        "proto-pollution",
        "({}).__proto__.polluted = 1;",
        Refused("TypeError: object is not extensible"),
    ),
    case(
        "object-prototype-reparent",
        "Object.setPrototypeOf(Object.prototype, { polluted: 1 });",
        Refused("TypeError: 'Immutable prototype object"),
    ),
    case(
        "proto-setter-on-prototype",
        "Object.prototype.__proto__ = { polluted: 1 };",
        Refused("TypeError: 'Immutable prototype object"),
    ),
    case(
        "tojson-on-prototype",
        'Object.defineProperty(Object.prototype, "toJSON", { value: () => 1 });',
        Refused("TypeError: object is not extensible"),
    ),
    case(
        "array-push-replaced",
        "Array.prototype.push = () => 0;",
        Refused("TypeError: 'push' is read-only"),
    ),
    case(
        "json-stringify-replaced",
        'JSON.stringify = () => "{}";',
        Refused("TypeError: 'stringify' is read-only"),
    ),
    case("global-added", "globalThis.leak = 1;", Refused("TypeError: object is not extensible")),
    case("ctx-emit-replaced", "ctx.emit = () => {};", Refused("TypeError: 'emit' is read-only")),
    case("ctx-config-changed", "ctx.config.x = 1;", Refused("TypeError: object is not extensible")),
    # -- promises that never settle, and time ---------------------------------------------------
    case("promise-never-settles", "return new Promise(() => {});", Refused("never settled")),
    case(
        "await-forever",
        "return (async () => { await new Promise(() => {}); })();",
        Refused("never settled"),
    ),
    case("busy-for", "for (;;) {}", limit("timeMs")),
    case("busy-while", "while (true) {}", limit("timeMs")),
    case(
        "busy-after-await", "return (async () => { await null; for (;;) {} })();", limit("timeMs")
    ),
    case("busy-in-then", "return Promise.resolve().then(() => { for (;;) {} });", limit("timeMs")),
    case(
        "busy-in-dangling-then", "Promise.resolve().then(() => { for (;;) {} });", limit("timeMs")
    ),
    case("busy-caught", "try { for (;;) {} } catch (e) {}", limit("timeMs")),
    case("busy-tojson", 'ctx.emit("out", { toJSON() { for (;;) {} } });', limit("timeMs")),
    case(
        "busy-proxy-trap",
        'ctx.emit("out", new Proxy({}, { ownKeys() { for (;;) {} } }));',
        limit("timeMs"),
    ),
    case(
        "promise-storm-returned",
        "function f() { return Promise.resolve().then(f); } return f();",
        limit("memoryBytes", "timeMs"),
    ),
    case(
        "promise-storm-dangling",
        "function f() { Promise.resolve().then(f); } f();",
        limit("timeMs"),
    ),
    case(
        "promise-flood", "for (;;) Promise.resolve().then(() => 0);", limit("timeMs", "memoryBytes")
    ),
    case("microtask-storm", "function f() { queueMicrotask(f); } f();", limit("timeMs")),
    case("microtask-flood", "for (;;) queueMicrotask(() => 0);", limit("memoryBytes", "timeMs")),
    # -- memory ---------------------------------------------------------------------------------
    case("repeat-gib", '"x".repeat((1 << 30) - 1);', limit("memoryBytes")),
    case("repeat-over-heap", '"x".repeat(1 << 24);', limit("memoryBytes")),
    case("array-growth", "const a = []; for (;;) a.push({ k: a.length });", limit("memoryBytes")),
    case("nested-objects", "let o = {}; for (;;) o = { o };", limit("memoryBytes")),
    case(
        "map-growth",
        "const m = new Map(); for (let i = 0; ; i++) m.set(i, [i]);",
        limit("memoryBytes"),
    ),
    case("array-buffer-gib", "new ArrayBuffer(1 << 30);", limit("memoryBytes")),
    case("typed-array", "new Float64Array(1 << 24);", limit("memoryBytes")),
    case(
        "string-doubling",
        'let s = "x"; for (;;) s = s + s;',
        Refused("InternalError: string too long"),
    ),
    case(
        "memory-in-json",
        'const a = []; for (let i = 0; i < 15; i++) a.push("x".repeat(1 << 20));'
        'ctx.emit("out", a);',
        limit("memoryBytes"),
    ),
    # -- stack ----------------------------------------------------------------------------------
    case("recursion", "function f() { f(); } f();", limit("stackBytes")),
    case(
        "mutual-recursion", "function a() { b(); } function b() { a(); } a();", limit("stackBytes")
    ),
    case("async-recursion", "async function f() { await f(); } return f();", limit("stackBytes")),
    case(
        "tostring-recursion",
        "const o = { toString() { return String(o); } }; String(o);",
        limit("stackBytes"),
    ),
    case(
        "proxy-recursion",
        "const p = new Proxy({}, { get: (t, k) => p[k] }); p.x;",
        limit("stackBytes"),
    ),
    case(
        "json-parse-nesting",
        'JSON.parse("[".repeat(100000) + "]".repeat(100000));',
        limit("stackBytes"),
    ),
    case(
        "json-stringify-nesting",
        'let o = []; for (let i = 0; i < 100000; i++) o = [o]; ctx.emit("out", o);',
        limit("stackBytes"),
    ),
    # -- emits ----------------------------------------------------------------------------------
    case("emit-loop", 'for (;;) ctx.emit("out", 1);', limit("emits")),
    case(
        "emit-limit-caught",
        'try { for (;;) ctx.emit("out", 1); } catch (e) {} ctx.emit("out", 3);',
        limit("emits"),
    ),
    case("emit-batch-huge", 'ctx.emitBatch("out", new Array(100000).fill(1));', limit("emits")),
    case("emit-giant-string", 'ctx.emit("out", "x".repeat(1 << 20));', limit("emitBytes")),
    case(
        "emit-bytes-caught",
        'try { ctx.emit("out", "x".repeat(1 << 20)); } catch (e) {} ctx.emit("out", 3);',
        limit("emitBytes"),
    ),
    case(
        "emit-unknown-port",
        'ctx.emit("nope", 1);',
        Refused('TypeError: ctx.emit: no output port "nope"'),
    ),
    case(
        "emit-error-port",
        'ctx.emit("error", 1);',
        Refused('TypeError: ctx.emit: no output port "error"'),
    ),
    case("emit-bigint", 'ctx.emit("out", 10n);', Refused(NOT_JSON)),
    case("emit-cycle", 'const c = {}; c.c = c; ctx.emit("out", c);', Refused(NOT_JSON)),
    case("emit-function", 'ctx.emit("out", () => globalThis);', Refused("a function " + NOT_JSON)),
    case("emit-symbol", 'ctx.emit("out", Symbol("s"));', Refused("a symbol " + NOT_JSON)),
    case(
        "emit-throwing-proxy",
        'ctx.emit("out", new Proxy({}, { ownKeys() { throw new Error("trap"); } }));',
        Refused(NOT_JSON + " (Error: trap)"),
    ),
    # -- state and logs -------------------------------------------------------------------------
    case("state-huge", 'ctx.setState("big", "x".repeat(1 << 20));', limit("stateBytes")),
    case(
        "state-many-keys", 'for (let i = 0; ; i++) ctx.setState("k" + i, i);', limit("stateBytes")
    ),
    case(
        "state-limit-caught",
        'try { ctx.setState("big", "x".repeat(1 << 20)); } catch (e) {} ctx.setState("leak", 1);',
        limit("stateBytes"),
    ),
    case("state-bigint", 'ctx.setState("n", 1n);', Refused(NOT_JSON)),
    case(
        "state-long-key",
        'ctx.setState("k".repeat(300), 1);',
        Refused("a key is a string of 1 to 256 characters"),
    ),
    case("log-storm", 'for (;;) ctx.log("info", "spam");', limit("logs")),
    case(
        "log-limit-caught",
        'try { for (;;) ctx.log("info", "spam"); } catch (e) {} ctx.emit("out", 3);',
        limit("logs"),
    ),
    # -- strange throws -------------------------------------------------------------------------
    case("throw-null", "throw null;", limit("memoryBytes")),
    case("reject-null", "return Promise.reject(null);", limit("memoryBytes")),
    case("throw-undefined", "throw undefined;", Refused("threw undefined")),
    case(
        "throw-throwing-tostring",
        'throw { toString() { throw new Error("no"); } };',
        Refused("threw {}"),
    ),
    case(
        "throw-throwing-getter",
        "throw Object.create(Error.prototype, { name: { get() { throw 1; } } });",
        Refused("threw a value that cannot be shown"),
    ),
    case(
        "reject-throwing-tostring",
        "return Promise.reject({ toString() { throw 1; } });",
        Refused("threw {}"),
    ),
    case(
        "thenable-settles-twice",
        'return { then(ok, bad) { bad(new Error("first")); ok(); } };',
        Refused("Error: first"),
    ),
    case(
        "atomics-wait",
        "Atomics.wait(new Int32Array(new SharedArrayBuffer(16)), 0, 0);",
        Refused("TypeError: cannot block"),
    ),
]


@dataclass
class Code:
    """The module's registry with code enabled, and fresh component ids."""

    registry: Registry
    host: CodeHost
    ids: Iterator[int]

    def add(self, source_text: str, **limits: int) -> str:
        """Register a component with ``source_text``; return its id."""
        component = f"hostile.case.c{next(self.ids)}"
        self.registry.add_code(
            {
                "id": component,
                "ports": {"inputs": [{"name": "in"}], "outputs": [{"name": "out"}]},
                "execution": {
                    "type": "javascript",
                    "source": source_text,
                    "limits": {**LIMITS, **limits},
                },
            }
        )
        return component

    def node(self, component: str) -> CodeNode:
        node = self.registry.create(component, {})
        assert isinstance(node, CodeNode)
        node.error_policy = "skip"
        return node


def feed(node: CodeNode, values: list[object]) -> tuple[list[object], list[ErrorRecord]]:
    """Run ``values`` through ``node``; return what the sink and the error port got."""
    graph, sink = line(source(values), node, errors=node.name())
    run(graph)
    return sink.payloads, collected(graph, "errors").payloads


@pytest.fixture(scope="module")
def code() -> Iterator[Code]:
    """One registry and isolate pool for the whole module, closed at its end."""
    registry = Registry()
    host = enable_code(registry)
    try:
        yield Code(registry, host, iter(range(1, 1_000_000)))
    finally:
        host.close()


@pytest.mark.parametrize(("attack", "expect"), CASES)
def test_an_attack_ends_in_a_limit_or_a_refusal_and_the_node_serves_on(
    code: Code, attack: str, expect: Limit | Refused | NotLoaded
) -> None:
    if isinstance(expect, NotLoaded):
        with pytest.raises(SpecError, match="execution.source") as refused:
            code.add(TEMPLATE % attack)
        assert expect.text in str(refused.value)
        return
    # A case that must end on memory gets time to spare: on a loaded machine a growth loop
    # would otherwise meet the 150 ms time limit first.
    spare = {"timeMs": MEMORY_CASE_TIME_MS} if expect == limit("memoryBytes") else {}
    node = code.node(code.add(TEMPLATE % attack, **spare))
    payloads, errors = feed(node, [1, "attack", 2])
    assert payloads == [2, 4]  # nothing of the attack leaked; the same node served on
    assert len(errors) == 1, errors
    record = errors[0]
    assert record.payload == "attack"
    if isinstance(expect, Limit):
        assert record.error_type == "LimitExceeded", record.error
        assert record.error.endswith(tuple(f"(limit {name})" for name in expect.names)), (
            record.error
        )
    else:
        assert record.error_type == "CodeError", record.error
        assert expect.text in record.error


# -- state -------------------------------------------------------------------------------------

COUNTER = """
return {
  process(ctx, port, value) {
    const n = (ctx.getState("n") ?? 0) + 1;
    ctx.setState("n", n);
    if (value === "fail") {
      ctx.emit("out", "dropped");
      throw new Error("failed after emitting and counting");
    }
    if (value === "hog") {
      ctx.emit("out", "dropped");
      for (;;) {}
    }
    ctx.emit("out", n);
  },
};
"""


def test_state_survives_invocations_and_a_failed_invocation_leaves_no_trace(code: Code) -> None:
    node = code.node(code.add(COUNTER))
    state = node.context.state
    payloads, errors = feed(node, [1, "fail", 2, "hog", 3])
    assert payloads == [1, 2, 3]
    assert [record.error_type for record in errors] == ["CodeError", "LimitExceeded"]
    assert "failed after emitting and counting" in errors[0].error
    assert errors[1].error.endswith("(limit timeMs)")
    assert state == {"n": 3}  # mirrored into the node's context.state as each call landed


def test_a_state_key_named_proto_is_kept_and_mirrored(code: Code) -> None:
    component = code.add(
        """
        return (ctx, port, value) => {
          if (value === 1) ctx.setState("__proto__", { x: 1 });
          ctx.emit("out", ctx.getState("__proto__") ?? null);
        };
        """
    )
    node = code.node(component)
    state = node.context.state
    payloads, errors = feed(node, [1, 2])
    assert errors == []
    assert payloads == [{"x": 1}, {"x": 1}]
    assert state == {"__proto__": {"x": 1}}


def test_a_thenable_that_settles_twice_counts_once_and_its_state_stays_consistent(
    code: Code,
) -> None:
    component = code.add(
        """
        return (ctx, port, value) => {
          if (value === "twice") {
            ctx.setState("k", "set");
            return { then(ok, bad) { ok(); bad(new Error("after it succeeded")); } };
          }
          ctx.emit("out", ctx.getState("k") ?? "unset");
        };
        """
    )
    node = code.node(component)
    state = node.context.state
    payloads, errors = feed(node, [1, "twice", 2])
    assert errors == []
    assert payloads == ["unset", "set"]
    assert state == {"k": "set"}  # what the code reads is what the runtime mirrors


def test_pollution_tried_by_one_node_is_invisible_to_it_later_and_to_another_node(
    code: Code,
) -> None:
    component = code.add(
        """
        return (ctx, port, value) => {
          if (value === "pollute") {
            for (const attempt of [
              () => { Object.prototype.polluted = 1; },
              () => { Array.prototype.polluted = 1; },
              () => { Object.defineProperty(Object.prototype, "polluted", { value: 1 }); },
              () => { ({}).__proto__.polluted = 1; },
              () => { globalThis.polluted = 1; },
            ]) {
              try { attempt(); } catch (e) { /* frozen */ }
            }
          }
          ctx.emit("out", [typeof ({}).polluted, typeof [].polluted, typeof globalThis.polluted]);
        };
        """
    )
    first, second = code.node(component), code.node(component)
    graph, sink = line(source(["pollute", "look"]), first, errors=first.name())
    graph.add_node(second, name="second")
    graph.add_node(Collect("other"))
    graph.connect(("src", "out"), ("second", "in"))
    graph.connect(("second", "out"), ("other", "in"))
    run(graph)
    clean = ["undefined"] * 3
    assert collected(graph, "errors").payloads == []
    assert sink.payloads == [clean, clean]
    assert collected(graph, "other").payloads == [clean, clean]


def test_work_left_behind_by_an_invocation_runs_in_it_and_not_in_the_next(code: Code) -> None:
    component = code.add(
        """
        return (ctx, port, value) => {
          if (value === "leave") {
            Promise.resolve().then(() => ctx.emit("out", "ghost"));
            return;
          }
          if (value === "grow") {
            function grow() { return Promise.resolve().then(grow); }
            grow();  // a chain that grows until memory runs out, which only breaks it
            return;
          }
          return Promise.resolve().then(() => ctx.emit("out", value * 2));
        };
        """,
        timeMs=2000,
        memoryBytes=8 << 20,
    )
    payloads, errors = feed(code.node(component), [1, "leave", 2, "grow", 3])
    assert [(record.payload, record.error) for record in errors] == []
    # "ghost" was emitted after "leave" had its outcome: dropped, not sent with 2's.
    assert payloads == [2, 4, 6]


def test_dates_and_performance_work(code: Code) -> None:
    component = code.add(
        """
        return (ctx, port, value) => {
          const t = performance.now();
          ctx.emit("out", [typeof Date.now(), new Date(0).toISOString(), typeof t]);
        };
        """
    )
    payloads, errors = feed(code.node(component), [1])
    assert errors == []
    assert payloads == [["number", "1970-01-01T00:00:00.000Z", "number"]]


# -- the runtime's process ---------------------------------------------------------------------

BOMBS = [
    '"x".repeat((1 << 30) - 1);',
    '"x".repeat(1 << 24);',
    "const a = []; for (;;) a.push({ k: a.length });",
    "let o = {}; for (;;) o = { o };",
    "new ArrayBuffer(1 << 30);",
    "new Float64Array(1 << 24);",
    "const m = new Map(); for (let i = 0; ; i++) m.set(i, [i]);",
    'const a = []; for (let i = 0; i < 15; i++) a.push("x".repeat(1 << 20)); ctx.emit("out", a);',
    'const a = []; for (;;) a.push("y".repeat(1 << 16));',
    "new Array(1 << 26).fill(0);",
]


def test_memory_bombs_do_not_grow_the_runtime_process(code: Code) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for bomb in BOMBS:
        bombed = code.add(TEMPLATE % bomb, timeMs=MEMORY_CASE_TIME_MS)
        payloads, errors = feed(code.node(bombed), [1, "attack", 2])
        assert payloads == [2, 4]
        assert [record.error_type for record in errors] == ["LimitExceeded"]
        assert errors[0].error.endswith("(limit memoryBytes)")
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < 100 << 10, f"the runtime's peak resident size grew by {grown} KiB"


HANG = """
return {
  process(ctx, port, value) {
    if (value === "hang") for (;;) {}
    const n = (ctx.getState("n") ?? 0) + value;
    ctx.setState("n", n);
    ctx.emit("out", n);
  },
};
"""


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_a_worker_killed_mid_call_fails_that_call_and_a_fresh_worker_serves_the_next(
    code: Code, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = code.node(code.add(HANG, timeMs=5000))
    node.concurrency = 1  # one call per frame, so only the hanging one is in flight
    pool = code.host.pool
    placed: list[Worker] = []
    place = pool.place

    def recording_place() -> Worker:
        worker = place()
        placed.append(worker)
        return worker

    monkeypatch.setattr(pool, "place", recording_place)
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + BOUND
        while len(placed) < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        pid = placed[0].pid
        start = _cpu_seconds(pid)
        # The hanging call burns CPU; loading and the first call take far less than this.
        while _cpu_seconds(pid) - start < 1.0 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        payloads, errors = feed(node, [1, "hang", 2])
        thread.join(BOUND)
        assert killed == [placed[0].pid]
        assert len(errors) == 1
        assert errors[0].payload == "hang"
        assert errors[0].error_type == "CodeError"
        assert "SIGKILL" in errors[0].error
        assert payloads == [1, 3]  # the state (n = 1) was carried to the fresh worker
        assert len(placed) == 2
        assert placed[1].pid != placed[0].pid
        assert not placed[0].alive
    finally:
        for worker in placed:
            if not worker.alive:
                worker.close()  # the pool forgets a dead worker without closing its pipes
