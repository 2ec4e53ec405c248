"""Fuzzing: any text compiles and runs to a result or an ExpressionError, never anything else."""

from __future__ import annotations

import contextlib
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arachne.components.expressions import Limits, compile
from arachne.model.errors import ExpressionError

# Short limits keep the examples that loop or allocate cheap.
LIMITS = Limits(time_limit=0.02, memory_limit=8 * 1024 * 1024)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def words(text: str) -> list[str]:
    return text.split()


TOKENS = [
    *words("value x a b 0 1 2 1e9 -1 .5 0x10 1n NaN Infinity true false null undefined this"),
    *words("( ) [ ] { } , ; : ? . ?. ... => = == === ! !== + - * / % ** ++ -- && || ?? & | ^ ~"),
    *words("< > <= >= << >> >>> += in instanceof typeof void delete new"),
    *words("function return while for do if else try catch finally throw let const var class"),
    *words("yield await async import export super extends static get set of with debugger"),
    *words("constructor __proto__ prototype globalThis eval Function Object Array JSON Math"),
    *words("Symbol Proxy Reflect Promise Map BigInt Error .repeat(1e9) .fill(0) .map(x=>x)"),
    "'s'", '"s"', "'", '"', "`", "`t${", "${", "\\", "/", "/a+/g", "//", "/*", "*/",
    "\n", "\u2028", "-->", "<!--", "#x", "@", "\x00", "\ud800", "é", "\U0001f600",
    "(()=>{while(1){}})()", "value.items", "Object.prototype.x=1", "constructor.constructor",
    "}", "})", "}));", ")}", "]}", "(function(value){return [", "(function(value){return (",
]  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)

INPUTS = [None, 0, "text", [1, 2], {"a": {"b": 1}, "items": [1, 2]}]


def compile_and_run(source: str) -> None:
    """Compile ``source`` and run it on a few inputs; only ExpressionError may escape."""
    try:
        expression = compile(source, limits=LIMITS)
    except ExpressionError as exc:
        failure = str(exc)
    else:
        failure = ""
    # Compiling only parses: the looping payloads among the tokens never run there, even when
    # the text tries to close its wrapper and call them at the top level.
    assert "ran longer" not in failure
    if failure:
        return
    for value in INPUTS:
        with contextlib.suppress(ExpressionError):
            expression(value)


@FUZZ
@given(st.text(max_size=120))
def test_random_text_fails_only_with_expression_error(source: str) -> None:
    compile_and_run(source)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join))
def test_token_soup_fails_only_with_expression_error(source: str) -> None:
    compile_and_run(source)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join))
def test_glued_token_soup_fails_only_with_expression_error(source: str) -> None:
    compile_and_run(source)


IDENTITY = compile("value")


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_json_values_round_trip(value: object) -> None:
    assert IDENTITY(value) == value


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(), max_size=8))
def test_every_float_round_trips(values: list[float]) -> None:
    result = IDENTITY({"v": values})
    assert isinstance(result, dict)
    for sent, got in zip(values, result["v"], strict=True):
        assert (math.isnan(sent) and math.isnan(got)) or sent == got
