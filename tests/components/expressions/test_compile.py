"""Compiling and calling expressions: the seed examples, conversions, errors, the interface."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from arachne.components.expressions import (
    Expression,
    ExpressionEngine,
    Limits,
    QuickJSEngine,
    compile,
)
from arachne.model.errors import ArachneError, ExpressionError


@pytest.mark.parametrize(
    ("source", "value", "expected"),
    [
        ("value > 10", 12, True),
        ("value > 10", 3, False),
        ("value.data.items", {"data": {"items": [1, {"a": 2}]}}, [1, {"a": 2}]),
        ("value * 2", 21, 42),
        ("value.status === 'active'", {"status": "active"}, True),
        ("value.status === 'active'", {"status": "idle"}, False),
    ],
)
def test_seed_examples(source: str, value: object, expected: object) -> None:
    assert compile(source)(value) == expected


def test_compiled_once_called_many_times() -> None:
    double = compile("value * 2")
    assert [double(n) for n in range(5)] == [0, 2, 4, 6, 8]
    assert double.source == "value * 2"
    assert double.limits == Limits()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("undefined", None),
        ("-5", -5),
        ("-(2 ** 31) * 4", -(2**33)),
        ("1 / 3", 1 / 3),
        ("false", False),
        ("null", None),
        ("true", True),
        ("'text'", "text"),
        ("'h\\u00e9llo \\u{1F600}'", "h\u00e9llo \U0001f600"),
        ("1.5", 1.5),
        ("2 ** 53 - 1", 2**53 - 1),
        ("-(2 ** 53) + 1", -(2**53) + 1),
        ("2 ** 53", 2.0**53),
        ("-(2 ** 64)", -(2.0**64)),
        ("[1e300]", [1e300]),
        ("0.1 + 0.2", 0.1 + 0.2),
        ("-0", 0),
        ("1e21", 1e21),
        ("[1, 'a', null, undefined, [true]]", [1, "a", None, None, [True]]),
        ("({a: {b: [1, 2]}, c: undefined})", {"a": {"b": [1, 2]}, "c": None}),
        ("new Date(0)", "1970-01-01T00:00:00.000Z"),
        ("({toJSON() { return 7; }})", 7),
        ("new Number(3)", 3),
        ("'\\ud800'", "\ud800"),
        ("({['__proto__']: 1})", {"__proto__": 1}),
        ("'ab'.repeat(2) + 'c'.repeat(3000)", "abab" + "c" * 3000),
        ("['x'.repeat(600) + 'y'.repeat(600)]", ["x" * 600 + "y" * 600]),
    ],
)
def test_results_convert_to_python(source: str, expected: object) -> None:
    result = compile(source)(None)
    assert result == expected
    assert type(result) is type(expected)


def test_non_finite_numbers_come_back_as_floats() -> None:
    result = compile("[NaN, Infinity, -Infinity, {x: NaN}, 0 / 0]")(None)
    assert isinstance(result, list)
    assert math.isnan(result[0])
    assert result[1:3] == [math.inf, -math.inf]
    assert math.isnan(result[3]["x"])
    assert math.isnan(compile("NaN")(None))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "source", "expected"),
    [
        (2**40, "value * 2", 2**41),
        (-7, "value - 1", -8),
        (True, "value === true", True),
        (None, "value === null", True),
        ('quote " and \\ slash', "value.length", 19),
        (-(2**53) + 1, "value", -(2**53) + 1),
        ((1, 2), "Array.isArray(value) && value.length", 2),
        ({1: "a"}, "Object.keys(value)", ["1"]),
        ({"x": [math.inf, -math.inf]}, "value.x[0] > 1e308 && value.x[1] < -1e308", True),
        ({"x": math.nan}, "Number.isNaN(value.x)", True),
        (math.nan, "Number.isNaN(value)", True),
        ("\ud800", "value.length", 1),
        ("\x00", "value.charCodeAt(0)", 0),
        ({"__proto__": {"x": 1}}, "value.x === undefined && value.__proto__.x", 1),
        ("a\u2028b", "value", "a\u2028b"),
    ],
)
def test_values_convert_to_javascript(value: object, source: str, expected: object) -> None:
    assert compile(source)(value) == expected


def test_integers_beyond_53_bits_come_back_as_the_nearest_float() -> None:
    result = compile("value")(2**64 + 1)
    assert result == 2.0**64
    assert isinstance(result, float)


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, b"bytes", {("a", 1): 1}, {"x": 1j}],
    ids=["object", "set", "bytes", "tuple-key", "complex"],
)
def test_values_that_are_not_json_like_are_refused(value: object) -> None:
    with pytest.raises(ExpressionError, match="cannot receive a value of type .*JSON-like"):
        compile("value")(value)


def test_cyclic_and_too_deep_values_are_refused() -> None:
    cyclic: list[object] = []
    cyclic.append(cyclic)
    with pytest.raises(ExpressionError, match="Circular reference"):
        compile("value")(cyclic)
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile("value")(deep)


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("x => x", "a function"),
        ("[Math.max]", "a function"),
        ("Symbol('s')", "a symbol"),
        ("({k: 10n})", "a BigInt"),
        ("new Map([[1, 2]])", "a Map object"),
        ("new Set()", "a Set object"),
        ("new Uint8Array(2)", "a Uint8Array object"),
        ("Promise.resolve(1)", "a Promise object"),
        ("/re/", "a RegExp object"),
        ("new Error('e')", "a Error object"),
    ],
)
def test_results_without_a_json_form_are_refused(source: str, what: str) -> None:
    with pytest.raises(ExpressionError, match=f"returned {what}, which has no JSON-like form"):
        compile(source)(None)


def test_cyclic_result_is_refused() -> None:
    with pytest.raises(ExpressionError, match="contains itself"):
        compile("(() => { const a = [value]; a.push(a); return a; })()")(1)


def test_throwing_getter_in_result_is_reported() -> None:
    with pytest.raises(ExpressionError, match="failed to convert .*Error: boom"):
        compile("({get x() { throw new Error('boom'); }})")(1)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("value.data.items", "raised TypeError: cannot read property 'items' of undefined"),
        ("value.nope()", "raised TypeError: not a function"),
        ("missing + 1", "raised ReferenceError: missing is not defined"),
        ("(() => { throw new RangeError('bad') })()", "raised RangeError: bad"),
        ("(() => { throw 'plain' })()", 'raised threw the string "plain"'),
        ("(() => { throw {code: 1} })()", r"raised threw \[object Object\]"),
        (
            "(() => { throw new Error('e'.repeat(2000) + 'f'.repeat(2000)) })()",
            r"raised Error: e+\.\.\.",
        ),
    ],
)
def test_runtime_errors_name_the_failure(source: str, message: str) -> None:
    expression = compile(source)
    with pytest.raises(ExpressionError, match=message) as caught:
        expression({})
    assert caught.value.expression == source
    assert isinstance(caught.value, ArachneError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("value >", "the expression is empty or ends too early"),
        ("", "the expression is empty or ends too early"),
        ("   ", "the expression is empty or ends too early"),
        ("value +* 2", "at column 8"),
        ("value +\n* 2", "at line 2, column 1"),
        ("1,,2", "at column 3"),
        ("let x = 1", "is not valid JavaScript"),
        ("return 1", "is not valid JavaScript"),
        ("typeof import.meta", "is not valid JavaScript"),
    ],
)
def test_syntax_errors_are_raised_at_compile_time(source: str, where: str) -> None:
    with pytest.raises(ExpressionError, match="is not valid JavaScript") as caught:
        compile(source)
    assert where in str(caught.value)
    assert "value > 10" in str(caught.value)  # the fix shows an example


def test_overlong_and_unreadable_text_is_refused() -> None:
    with pytest.raises(ExpressionError, match="is 4097 characters long, over the limit of 4096"):
        compile("1" * 4097)
    with pytest.raises(ExpressionError, match="is 11 characters long, over the limit of 10"):
        compile("value + 100", limits=Limits(max_length=10))
    for text in ("value\x00", "'\ud800'"):
        with pytest.raises(ExpressionError, match="NUL character or an unpaired surrogate"):
            compile(text)
    with pytest.raises(ExpressionError, match="must be a str, got int"):
        compile(42)  # type: ignore[arg-type]


def test_error_messages_shorten_long_expressions() -> None:
    source = "value.a + " * 100 + "*"
    with pytest.raises(ExpressionError) as caught:
        compile(source)
    assert len(caught.value.expression) == 80
    assert caught.value.expression.endswith("...")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"time_limit": 0},
        {"time_limit": -1.0},
        {"memory_limit": 1024},
        {"memory_limit": True},
        {"max_stack_size": 1024},
        {"max_length": 0},
        {"max_length": 2.5},
    ],
)
def test_limits_reject_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Limits\\."):
        Limits(**kwargs)  # type: ignore[arg-type]


def test_limits_defaults() -> None:
    limits = Limits()
    assert (limits.time_limit, limits.memory_limit) == (0.1, 32 * 1024 * 1024)
    assert (limits.max_stack_size, limits.max_length) == (256 * 1024, 4096)


def test_engine_interface_and_a_second_engine() -> None:
    engine: ExpressionEngine = QuickJSEngine()
    assert engine.name == "quickjs"
    compiled = engine.compile("value + 1", limits=Limits())
    assert isinstance(compiled, Expression)
    assert compiled(1) == 2
    assert repr(compiled) == "QuickJSExpression('value + 1')"

    @dataclass(frozen=True)
    class Constant:
        source: str
        limits: Limits

        def __call__(self, value: object) -> object:
            return self.source

    class ConstantEngine:
        name = "constant"

        def compile(self, expression: str, *, limits: Limits) -> Expression:
            return Constant(expression, limits)

    result = compile("anything", engine=ConstantEngine(), limits=Limits(max_length=9))
    assert result(None) == "anything"
    assert result.limits.max_length == 9


def test_each_thread_gets_a_working_context() -> None:
    recurse = compile("(function r(n) { return n ? r(n - 1) + 1 : 0; })(value)")
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(recurse, [50] * 16)) == [50] * 16
    assert recurse(50) == 50


def test_results_nested_deeper_than_python_allows_are_refused() -> None:
    source = "(() => { let a = []; for (let i = 0; i < 1500; i++) a = [a]; return a; })()"
    roomy = Limits(max_stack_size=2 * 1024 * 1024)  # the engine manages, Python's json cannot
    with pytest.raises(ExpressionError, match="nested too deeply to convert"):
        compile(source, limits=roomy)(None)


def test_a_failing_binding_becomes_an_expression_error_and_a_fresh_context() -> None:
    expression = compile("value + 1")
    assert repr(QuickJSEngine()) == "QuickJSEngine()"

    def broken(*args: object) -> object:
        raise UnicodeDecodeError("utf-8", b"\xed", 0, 1, "invalid continuation byte")

    sandbox = expression._local.sandbox  # type: ignore[attr-defined]
    sandbox.run = broken
    with pytest.raises(ExpressionError, match="failed inside the JavaScript engine"):
        expression(1)
    assert expression(1) == 2  # the broken context was dropped and rebuilt
    sandbox = expression._local.sandbox  # type: ignore[attr-defined]
    sandbox.run = lambda *args: 42
    with pytest.raises(ExpressionError, match="unexpected reply 42"):
        expression(1)
    assert expression(1) == 2
