"""Hostile expressions end with a clear ExpressionError, within their limits, and change nothing.

Elapsed time is measured only to check that a limit was honoured, against a generous bound.
"""

from __future__ import annotations

import time

import pytest

from arachne.components.expressions import Limits, compile
from arachne.model.errors import ExpressionError

LIMITS = Limits(time_limit=0.05)
BOUND = LIMITS.time_limit + 1.0


def assert_responsive() -> None:
    """A fresh expression still compiles and runs normally."""
    assert compile("value.n * 2", limits=LIMITS)({"n": 21}) == 42


def run_hostile(source: str, match: str, limits: Limits = LIMITS) -> None:
    """Compile and call ``source``; it must fail with ``match`` inside the time bound."""
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match=match):
        compile(source, limits=limits)(True)
    assert time.perf_counter() - start < limits.time_limit + 1.0
    assert_responsive()


@pytest.mark.parametrize(
    "source",
    [
        "(() => { while (true) {} })()",
        "(() => { for (;;) {} })()",
        "(function f() { try { while (true) {} } finally { f(); } })()",
        "(() => { try { while (true) {} } catch (e) { while (true) {} } })()",
        "Array.from({length: 1e5}).map(() => Array.from({length: 1e5}).map(() => 1))",
        "/(a+)+$/.test('a'.repeat(40) + 'b')",
        "[...Array(1e4).keys()].sort(() => { while (true) {} })",
        "({get x() { while (true) {} }})",
        "({toJSON() { while (true) {} }})",
    ],
)
def test_busy_loops_are_stopped_at_the_time_limit(source: str) -> None:
    run_hostile(source, "ran longer than its time limit of 0.05 s")


@pytest.mark.parametrize(
    "source",
    [
        "'x'.repeat(1e9)",
        "new Array(1e9).fill(0)",
        "new ArrayBuffer(1e9)",
        "(() => { const a = []; while (true) a.push({x: a.length}); })()",
        "(() => { const a = []; while (true) a.push('y'.repeat(1e4) + a.length); })()",
        "(() => { let s = 'x'; while (true) s = s + s; })()",
        "Array(3e6).fill('xx')",
    ],
)
def test_huge_allocations_are_stopped_at_the_memory_limit(source: str) -> None:
    # A small heap and a long time limit, so that memory is what runs out.
    limits = Limits(time_limit=2.0, memory_limit=8 * 1024 * 1024)
    run_hostile(source, r"ran out of memory \(limit 8 MiB\)|string too long", limits)


@pytest.mark.parametrize(
    "source",
    [
        "(function f() { return f(); })()",
        "(() => { let a = []; for (let i = 0; i < 1e5; i++) a = [a]; return a; })()",
        "JSON.parse('['.repeat(1e5) + ']'.repeat(1e5))",
        "(() => { const o = {toString() { return String(o); }}; return String(o); })()",
    ],
)
def test_deep_recursion_is_stopped_at_the_stack_limit(source: str) -> None:
    run_hostile(source, "nested or recursed too deeply for its stack limit of 256 KiB")


def test_deep_input_is_refused_cleanly() -> None:
    deep: list[object] = []
    for _ in range(900):  # within Python's recursion limit, past a 64 KiB engine stack
        deep = [deep]
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match="nested or recursed too deeply"):
        compile("value", limits=Limits(max_stack_size=64 * 1024))(deep)
    assert time.perf_counter() - start < BOUND
    assert_responsive()


@pytest.mark.parametrize(
    "source",
    [
        "(" * 2000 + "value" + ")" * 2000,
        "[" * 2000 + "]" * 2000,
        "{a:" * 1000 + "1" + "}" * 1000,
        "-" * 4000 + "1",
        "!" * 4000 + "1",
        "value" + ".a" * 2000,
    ],
    ids=["parens", "arrays", "objects", "minus", "not", "members"],
)
def test_deeply_nested_text_fails_to_compile_cleanly(source: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match="too deeply|is not valid JavaScript|raised"):
        compile(source, limits=LIMITS)(None)
    assert time.perf_counter() - start < BOUND
    assert_responsive()


@pytest.mark.parametrize(
    ("name", "limited"),
    [
        ("time", "value ? (() => { while (true) {} })() : 'ok'"),
        ("memory", "value ? 'x'.repeat(1e9) : 'ok'"),
        ("memory-null", "value ? (() => { const a = []; while (true) a.push([a]); })() : 'ok'"),
        ("stack", "value ? (function f() { return f(); })() : 'ok'"),
    ],
)
def test_the_same_expression_still_works_after_a_limit(name: str, limited: str) -> None:
    expression = compile(limited, limits=LIMITS)
    for _ in range(3):
        with pytest.raises(ExpressionError):
            expression(True)
        assert expression(False) == "ok"


@pytest.mark.parametrize(
    "source",
    [
        "Object.prototype.polluted = 1",
        "Array.prototype.push = null",
        "value.__proto__.polluted = 1",
        "Object.getPrototypeOf([].values()).next = null",
        "Object.getPrototypeOf(function* () {}).prototype.x = 1",
        "(globalThis.leak = 1)",
        "(Math.random = () => 4)",
        "Object.defineProperty(JSON, 'parse', {value: () => 1})",
        "delete Array.prototype.map",
        "(Error.stackTraceLimit = 0)",
        "(Error.prepareStackTrace = () => 'hooked')",
        "(Iterator.prototype.constructor = 1)",
    ],
)
def test_shared_objects_cannot_be_changed(source: str) -> None:
    polluter = compile(source, limits=LIMITS)
    for _ in range(2):
        with pytest.raises(ExpressionError, match="raised TypeError.*build a new object"):
            polluter({})
    probe = compile(
        "[({}).polluted, typeof leak, [].push === Array.prototype.push, "
        "typeof Array.prototype.map, Math.random() < 1, JSON.parse('2'), "
        "Error.stackTraceLimit, typeof new Error('e').stack]",
        limits=LIMITS,
    )
    assert probe({}) == [None, "undefined", True, "function", True, 2, 10, "string"]


AUDIT = """(() => {
  const names = new Map([
    [Function.prototype, "Function.prototype"], [Object.prototype, "Object.prototype"],
    [Iterator.prototype, "Iterator.prototype"], [Error.prototype, "Error.prototype"],
  ]);
  const getProto = Object.getPrototypeOf;
  const todo = [globalThis, getProto(function* () {}), getProto(async function () {}),
    getProto(async function* () {}), getProto([].values()), getProto(new Map().keys()),
    getProto(new Set().keys()), getProto(""[Symbol.iterator]()), getProto("".matchAll(/a/g)),
    getProto([].values().map((x) => x))];
  const seen = new Set();
  const found = [];
  const frozen = [];
  while (todo.length > 0) {
    const item = todo.pop();
    if (item === null || (typeof item !== "object" && typeof item !== "function")) continue;
    if (seen.has(item)) continue;
    seen.add(item);
    if (!Object.isFrozen(item)) frozen.push(String(item));
    todo.push(getProto(item));
    for (const key of Reflect.ownKeys(item)) {
      const d = Reflect.getOwnPropertyDescriptor(item, key);
      if ("value" in d) { todo.push(d.value); continue; }
      todo.push(d.get, d.set);
      if (d.set !== undefined) found.push((names.get(item) || "?") + "." + String(key));
    }
  }
  return [[...new Set(found)].sort(), frozen, seen.size > 500];
})()"""


def test_every_shared_object_is_frozen_and_no_setter_keeps_state() -> None:
    setters, unfrozen, walked = compile(AUDIT, limits=Limits(max_length=3000))(None)  # type: ignore[misc]
    assert unfrozen == []
    assert walked is True
    # Each remaining setter acts on its receiver only, and refuses a frozen one.
    assert setters == [
        "Error.prototype.stack",
        "Function.prototype.arguments",
        "Function.prototype.caller",
        "Iterator.prototype.Symbol(Symbol.toStringTag)",
        "Iterator.prototype.constructor",
        "Object.prototype.__proto__",
    ]


def test_an_expression_keeps_no_state_between_calls() -> None:
    stash = compile(
        "(() => { const holders = [globalThis, Object.prototype, Array.prototype]; "
        "let seen = 0; for (const h of holders) { try { h.count = (h.count || 0) + 1; } "
        "catch (e) { seen++; } } return [seen, [].count, globalThis.count]; })()",
        limits=LIMITS,
    )
    assert stash(None) == [3, None, None]
    assert stash(None) == [3, None, None]
    mutate = compile("(value.list.push(1), value.list.length)", limits=LIMITS)
    assert [mutate({"list": []}) for _ in range(3)] == [1, 1, 1]


@pytest.mark.parametrize(
    "source",
    [
        "constructor.constructor('return this')()",
        "(() => {}).constructor('return globalThis')()",
        "Function('return 1')()",
        "eval('1 + 1')",
        "(0, eval)('1')",
        "(function* () {}).constructor('yield 1')",
        "(async () => {}).constructor('return 1')",
        "(async function* () {}).constructor('')",
        "Reflect.construct(Function, ['return 1'])",
    ],
)
def test_code_from_strings_is_disabled(source: str) -> None:
    with pytest.raises(ExpressionError, match="is disabled in this sandbox"):
        compile(source, limits=LIMITS)(None)


def test_nothing_of_the_host_is_reachable() -> None:
    names = [
        "require",
        "process",
        "std",
        "os",
        "print",
        "console",
        "module",
        "exports",
        "Deno",
        "Bun",
        "__import__",
        "setTimeout",
        "fetch",
        "XMLHttpRequest",
        "WebAssembly",
        "scriptArgs",
        "load",
    ]
    probe = compile("value.map((name) => typeof globalThis[name])", limits=LIMITS)
    assert probe(names) == ["undefined"] * len(names)
    with pytest.raises(ExpressionError, match="returned a Promise object"):
        compile("import('os')", limits=LIMITS)(None)
    with pytest.raises(ExpressionError, match="is not valid JavaScript"):
        compile("import.meta", limits=LIMITS)
    listed = compile("Object.getOwnPropertyNames(globalThis)", limits=LIMITS)(None)
    assert isinstance(listed, list)
    assert {"Object", "JSON", "Math"} <= set(listed)
    assert not {"require", "std", "os", "print"} & set(listed)


@pytest.mark.parametrize(
    "source",
    [
        "1); globalThis.x = (1",
        "1)}); (() => { while (true) {} })(); ((function (value) { return (1",
        "1]}); (() => { while (true) {} })(); ((function (value) { return [1",
        "1]}); function f() {} ((function (value) { return [1",
        "1]}); let JSON = 1; ((function (value) { return [1",
        "1)}) + (function (value) { return (1",
        "value\n); }); (() => { while (true) {} })(); (function () { return (",
        "value /*",
        "`${value}",
        "value }",
        "value ]",
    ],
)
def test_text_cannot_break_out_of_its_function(source: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match="is not valid JavaScript") as caught:
        compile(source, limits=LIMITS)
    # The payloads loop forever: a fast syntax error proves none of them ran.
    assert time.perf_counter() - start < LIMITS.time_limit
    assert "ran longer" not in str(caught.value)
    assert_responsive()


def test_comments_and_html_comments_stay_inside() -> None:
    assert compile("value // trailing comment", limits=LIMITS)(3) == 3
    assert compile("value //", limits=LIMITS)(3) == 3
    assert compile("value /* ) } ] */ + 1", limits=LIMITS)(3) == 4
    assert compile("value\n--> closes nothing", limits=LIMITS)(3) == 3
    assert compile("'); }); ('", limits=LIMITS)(None) == "'); }); ('"[1:-1]


def test_promise_jobs_never_run_and_their_queue_cannot_grow_forever() -> None:
    limits = Limits(time_limit=0.05, memory_limit=2 * 1024 * 1024)
    source = "(Promise.resolve().then(() => { while (true) {} }), import('os'), value)"
    expression = compile(source, limits=limits)
    results: list[object] = []
    messages: list[str] = []
    start = time.perf_counter()
    for n in range(3000):
        try:
            results.append(expression(n))
        except ExpressionError as exc:
            messages.append(str(exc))
    failures = len(messages)
    assert all("ran out of memory" in message for message in messages)
    # No job ever ran (each would loop until stopped); the queue fills the heap now and then,
    # which fails that one call and gives the expression a fresh context.
    assert time.perf_counter() - start < 3000 * limits.time_limit / 10
    assert 0 < failures < 30
    assert len(results) == 3000 - failures
    assert expression(-1) == -1
