"""The JavaScript that locks a fresh context down and runs one expression inside it.

Only trusted text built here is evaluated as a script. The user's expression is placed inside a
strict function, and only after a check proves it cannot close that function early (see
:func:`check_source`).
"""

from __future__ import annotations

from typing import Final

__all__ = ["CHECK_MARK", "LOCKDOWN", "check_source", "function_source"]

CHECK_MARK: Final = "arachne:syntax-ok"
"""What the check script throws when the expression parsed."""

# Evaluated first in every fresh context. It captures the intrinsics the runner needs, disables
# every way to turn a string into code (eval and the four Function constructors), then freezes
# everything reachable from globalThis plus the intrinsics that are reachable only through
# syntax (generator, async and iterator prototypes). After it, an evaluation cannot leave state
# behind for the next one: assignments to shared objects throw a TypeError in strict code.
# It returns install(fn, nonce) -> run(text, revived), which returns the result as JSON text, or
# a [tag, text] pair: I input unreadable, E the expression threw, U the result holds something
# JSON cannot carry, C converting the result failed. A result is never built by concatenation:
# the binding cannot read the rope strings quickjs-ng makes for long concatenated strings, while
# JSON.stringify always returns a flat one.
LOCKDOWN: Final = r"""
(function () {
  "use strict";
  const G = globalThis;
  const getProto = Object.getPrototypeOf;
  const defineProperty = Object.defineProperty;
  const freeze = Object.freeze;
  const ownKeys = Reflect.ownKeys;
  const getDescriptor = Reflect.getOwnPropertyDescriptor;
  const apply = Reflect.apply;
  const parse = JSON.parse;
  const stringify = JSON.stringify;
  const isArray = Array.isArray;
  const isFinite = Number.isFinite;
  const objectToString = Object.prototype.toString;
  const toWellFormed = String.prototype.toWellFormed;
  const ErrorType = Error;
  const TypeErrorType = TypeError;
  const StringType = String;

  function disabled(name) {
    const stub = function () {
      throw new TypeErrorType(name + " is disabled in this sandbox; write the code inline");
    };
    defineProperty(stub, "name", { value: name });
    return stub;
  }
  const functionPrototypes = [
    ["Function", Function.prototype],
    ["GeneratorFunction", getProto(function* () {})],
    ["AsyncFunction", getProto(async function () {})],
    ["AsyncGeneratorFunction", getProto(async function* () {})],
  ];
  for (const [name, proto] of functionPrototypes) {
    const stub = disabled(name);
    defineProperty(stub, "prototype", { value: proto });
    defineProperty(proto, "constructor", { value: stub });
    if (name === "Function") defineProperty(G, "Function", { value: stub });
  }
  defineProperty(G, "eval", { value: disabled("eval") });
  // These two are accessors over per-context engine state, which freezing would not protect.
  for (const key of ["stackTraceLimit", "prepareStackTrace"]) {
    const d = getDescriptor(ErrorType, key);
    if (d !== undefined && d.get !== undefined) {
      defineProperty(ErrorType, key, { value: apply(d.get, ErrorType, []), writable: false });
    }
  }

  const roots = [G];
  for (const [, proto] of functionPrototypes) roots.push(proto);
  const makers = [
    () => [][Symbol.iterator](),
    () => new Map()[Symbol.iterator](),
    () => new Set()[Symbol.iterator](),
    () => ""[Symbol.iterator](),
    () => /a/g[Symbol.matchAll](""),
    () => (function* () {})(),
    () => (async function* () {})(),
    () => [].values().map((x) => x),
    () => Iterator.from({ next() { return { done: true }; } }),
    () => Iterator.concat([]),
    () => Iterator.zip([]),
  ];
  for (const make of makers) {
    try { roots.push(getProto(make())); } catch (_) { /* not in this engine version */ }
  }
  const seen = new Set();
  const todo = roots;
  while (todo.length > 0) {
    const item = todo.pop();
    if (item === null || (typeof item !== "object" && typeof item !== "function")) continue;
    if (seen.has(item)) continue;
    seen.add(item);
    todo.push(getProto(item));
    for (const key of ownKeys(item)) {
      const d = getDescriptor(item, key);
      if (d === undefined) continue;
      if ("value" in d) todo.push(d.value); else todo.push(d.get, d.set);
    }
  }
  for (const item of seen) freeze(item);

  function clean(text) {
    if (text.length > 500) text = text.slice(0, 500) + "...";
    return apply(toWellFormed, text, []);
  }
  function describe(e) {
    try {
      if (e instanceof ErrorType) return clean(StringType(e.name) + ": " + StringType(e.message));
      if (typeof e === "string") return clean("threw the string " + stringify(e));
      return clean("threw " + StringType(e));
    } catch (_) {
      return "threw a value that cannot be shown";
    }
  }
  function kind(v) {
    const tag = apply(objectToString, v, []);
    return tag.slice(8, -1);
  }

  return function install(fn, nonce) {
    const nonFinite = { __proto__: null };
    nonFinite[nonce + "NaN"] = NaN;
    nonFinite[nonce + "Infinity"] = Infinity;
    nonFinite[nonce + "-Infinity"] = -Infinity;
    function revive(key, v) {
      return typeof v === "string" && v in nonFinite ? nonFinite[v] : v;
    }
    let unconvertible = null;
    function refuse(what) {
      unconvertible = what;
      throw new TypeErrorType("cannot convert " + what);
    }
    function convert(key, v) {
      switch (typeof v) {
        case "string":
        case "boolean":
          return v;
        case "number": {
          if (v <= 9007199254740991 && v >= -9007199254740991) return v;
          // NaN, the infinities and numbers past 2**53, which Python must read as floats.
          const text = StringType(v);
          return nonce + (v === v && isFinite(v) && !text.includes("e") ? text + ".0" : text);
        }
        case "undefined":
          return null;
        case "object": {
          if (v === null || isArray(v)) return v;
          const k = kind(v);
          if (k === "Object" || k === "Number" || k === "String" || k === "Boolean") return v;
          return refuse("a " + k + " object");
        }
        default:
          return refuse(typeof v === "bigint" ? "a BigInt" : "a " + typeof v);
      }
    }
    return function run(text, revived) {
      let value, result, out;
      try {
        value = revived ? parse(text, revive) : parse(text);
      } catch (e) {
        return ["I", describe(e)];
      }
      try {
        result = fn(value);
      } catch (e) {
        return ["E", describe(e)];
      }
      // Fast paths for the common results of filters and maps; the strings are flat.
      switch (typeof result) {
        case "boolean":
          return result ? "true" : "false";
        case "undefined":
          return "null";
        case "number":
          if (result <= 9007199254740991 && result >= -9007199254740991) {
            return StringType(result);
          }
      }
      try {
        out = stringify(result, convert);
      } catch (e) {
        if (unconvertible === null) return ["C", describe(e)];
        const what = unconvertible;
        unconvertible = null;
        return ["U", what];
      }
      return out === undefined ? "null" : out;
    };
  };
})()
"""

_OPEN: Final = '(function (value) { "use strict"; return '


def function_source(expression: str) -> str:
    """Return the script whose value is the expression as a strict function of ``value``.

    The expression starts on line 2, column 1, so engine positions map back by one line.
    """
    return f"{_OPEN}(\n{expression}\n); }})"


def check_source(expression: str) -> str:
    """Return a script that only parses: it throws :data:`CHECK_MARK` before running anything.

    It wraps the expression in ``[...]`` where :func:`function_source` uses ``(...)``. Text that
    closes the parenthesis of the real wrapper (``1); globalThis.x = (1``) hits ``]`` here
    instead and fails to parse, and text that closes the bracket here fails in the real wrapper.
    So when both parse, the expression is balanced and stays inside its function. The leading
    ``throw`` keeps any code in the check script from running.
    """
    return f'throw "{CHECK_MARK}"; {_OPEN}[\n{expression}\n]; }});'
