"""The JavaScript that hosts one code component inside a locked-down QuickJS context.

The worker evaluates :data:`~arachne.components.expressions._harness.LOCKDOWN` first (no
``eval``, no ``Function``, every shared object frozen), then :data:`RUNTIME`, whose value is
``make(factory, meta)``. ``make`` calls the component's source (wrapped by
:func:`source_function`) to get its handler, builds the ExecutionContext the Runtime Service
hands every handler, and returns the instance's entry function (or a string: why the source
could not load). The entry function takes an operation and its arguments:

- ``entry("call", port, valueText)``: one invocation of ``process``. It returns the outcome as
  JSON text, or ``0`` while a promise it returned is unsettled (the worker then runs the job
  queue and asks for the outcome with ``entry("collect")``).
- ``entry("hook", name)``: ``initialize`` or ``cleanup``, if the handler has it; the same
  replies.
- ``entry("collect")``: the outcome of the invocation that was pending.

An outcome is ``{"e": [[port, json], ...], "l": [[level, message, metaJson], ...],
"s": {key: json | null}, "x": null | {"limit": name | null, "message": text}}``: what it
emitted, logged and changed in its state, or why it failed. A failed invocation leaves no
trace: its emits and state changes are dropped. A limit the code caught (emits, bytes, logs,
state) still fails the invocation.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["RUNTIME", "check_entrypoint", "source_function"]

RUNTIME: Final = r"""
(function () {
  "use strict";
  const parse = JSON.parse;
  const stringify = JSON.stringify;
  const freeze = Object.freeze;
  const isFrozen = Object.isFrozen;
  const ownKeys = Reflect.ownKeys;
  const isArray = Array.isArray;
  const apply = Reflect.apply;
  const toWellFormed = String.prototype.toWellFormed;
  const ErrorType = Error;
  const TypeErrorType = TypeError;
  const RangeErrorType = RangeError;
  const StringType = String;
  const MapType = Map;
  const NONE = freeze({});  // finish(NONE): the invocation threw nothing
  const ENGINE_LIMITS = [
    ["InternalError: interrupted", "time"],
    ["InternalError: out of memory", "memory"],
    ["InternalError: stack overflow", "stack"],
    ["RangeError: Maximum call stack size exceeded", "stack"],
  ];

  function clip(text, most) {
    text = StringType(text);
    if (text.length > most) text = text.slice(0, most) + "...";
    return apply(toWellFormed, text, []);
  }
  // Frames of this runtime, skipped when looking for where in the component's source an
  // error was thrown (every script here is "<input>"; the source starts on line 2 of its own).
  const OWN_FRAMES = new Set([
    "emitOne", "emit", "emitBatch", "getState", "setState", "log", "asJson", "limit",
    "usable", "key", "stateText", "invoke", "settle", "finish", "entry", "describe", "where",
  ]);
  const FRAME = /^\s*at (?:(\S+) \()?<input>:(\d+):(\d+)/;
  function where(e) {
    const stack = e.stack;
    if (typeof stack !== "string") return "";
    for (const line of stack.split("\n")) {
      const m = FRAME.exec(line);
      if (m === null || (m[1] !== undefined && OWN_FRAMES.has(m[1]))) continue;
      const row = +m[2] - 1;
      return row >= 1 ? " (line " + row + ", column " + m[3] + " of the source)" : "";
    }
    return "";
  }
  function describe(e, unplaced) {
    try {
      if (e instanceof ErrorType) {
        const text = clip(StringType(e.name) + ": " + StringType(e.message), 500);
        // Out of time, memory or stack: no searching the stack (it would need memory).
        return unplaced || engineLimit(text) !== null ? text : text + where(e);
      }
      if (typeof e === "string") return clip("threw the string " + stringify(e), 500);
      if (e !== null && typeof e === "object") {
        const text = stringify(e);
        if (text !== undefined) return clip("threw " + text, 500);
      }
      return clip("threw " + StringType(e), 500);
    } catch (_) {
      return "threw a value that cannot be shown";
    }
  }
  function engineLimit(text) {
    for (const [prefix, name] of ENGINE_LIMITS) if (text.startsWith(prefix)) return name;
    return null;
  }
  // What an invocation that ran out of memory while settling comes to: made beforehand.
  const OUT_OF_MEMORY = stringify({
    e: [], l: [], s: {}, x: { limit: "memory", message: "InternalError: out of memory" },
  });
  function deepFreeze(v) {
    if (v !== null && typeof v === "object" && !isFrozen(v)) {
      freeze(v);
      for (const key of ownKeys(v)) deepFreeze(v[key]);
    }
    return v;
  }

  return function make(factory, metaText) {
    const meta = parse(metaText);
    const limits = meta.limits;
    const outputs = new MapType();
    for (const name of meta.outputs) outputs.set(name, true);
    const committed = new MapType();
    let stateBytes = 0;
    for (const key of ownKeys(meta.state)) {
      const text = stringify(meta.state[key]);
      committed.set(key, text);
      stateBytes += key.length + text.length;
    }

    let emits = [], logs = [], staged = new MapType(), bytes = 0, stagedBytes = 0;
    let failed = null, outcome = null, active = false, late = 0, returned = false;

    function begin() {
      emits = []; logs = []; staged = new MapType(); bytes = 0; stagedBytes = stateBytes;
      failed = null; outcome = null; active = true;
      if (late > 0) {
        logs.push(["warn", late + " value(s) emitted after their call had ended were dropped: " +
          "return (or await) the promise that emits them", "null"]);
        late = 0;
      }
    }
    function noteReturned(value) {
      if (value !== undefined && !returned) {
        returned = true;  // said once per instance
        logs.push(["warn", "process returned a value, which is not sent anywhere: send " +
          "values with ctx.emit(port, value)", "null"]);
      }
    }
    function limit(name, message) {
      if (failed === null) failed = { limit: name, message: message };
      throw new RangeErrorType(message);
    }
    function usable() {
      if (failed !== null) throw new RangeErrorType(failed.message);
    }
    function asJson(value, what) {
      let text;
      try {
        text = stringify(value);
      } catch (e) {
        // Out of time, memory or stack while converting: that limit, not a conversion error.
        if (e === null || engineLimit(describe(e)) !== null) throw e;
        throw new TypeErrorType(
          what + ": the value cannot be sent as JSON (" + describe(e, true) + ")");
      }
      if (text === undefined && value !== undefined) {
        throw new TypeErrorType(what + ": a " + typeof value + " cannot be sent as JSON");
      }
      return text === undefined ? "null" : text;
    }
    function emitOne(port, value) {
      if (!active) {  // from a promise left running after its call ended
        late += 1;
        return;
      }
      usable();
      if (typeof port !== "string" || !outputs.has(port)) {
        throw new TypeErrorType(
          "ctx.emit: no output port " + clip(stringify(port), 60) + "; the outputs are " +
          stringify(meta.outputs));
      }
      if (emits.length >= limits.emits) {
        limit("emits", "emitted more than " + limits.emits + " values in one call");
      }
      const text = asJson(value, "ctx.emit");
      bytes += text.length;
      if (bytes > limits.emitBytes) {
        limit("emit-bytes", "emitted more than " + limits.emitBytes + " bytes of JSON in one call");
      }
      emits.push([port, text]);
    }
    function key(k, what) {
      if (typeof k !== "string" || k.length === 0 || k.length > 256) {
        throw new TypeErrorType(what + ": a key is a string of 1 to 256 characters");
      }
      return k;
    }
    function stateText(k) {
      return staged.has(k) ? staged.get(k) : committed.get(k);
    }

    const ctx = freeze({
      executionId: meta.executionId,
      nodeId: meta.nodeId,
      instanceId: meta.instanceId,
      config: deepFreeze(meta.config),
      emit(port, value) {
        emitOne(port, value);
      },
      emitBatch(port, values) {
        if (!isArray(values)) throw new TypeErrorType("ctx.emitBatch: values must be an array");
        const n = values.length;
        for (let i = 0; i < n; i++) emitOne(port, values[i]);
      },
      getState(k) {
        const text = stateText(key(k, "ctx.getState"));
        return text === undefined ? undefined : parse(text);
      },
      setState(k, value) {
        usable();
        key(k, "ctx.setState");
        const old = stateText(k);
        const text = value === undefined ? undefined : asJson(value, "ctx.setState");
        stagedBytes += (text === undefined ? 0 : k.length + text.length) -
          (old === undefined ? 0 : k.length + old.length);
        staged.set(k, text);
        if (stagedBytes > limits.stateBytes) {
          limit("state-bytes", "kept more than " + limits.stateBytes + " bytes of state");
        }
      },
      log(level, message, meta) {
        usable();
        if (logs.length >= limits.logs) {
          limit("logs", "logged more than " + limits.logs + " lines in one call");
        }
        const lvl = typeof level === "string" ? level.slice(0, 16).toLowerCase() : "";
        let extra = meta === undefined ? "null" : asJson(meta, "ctx.log");
        if (extra.length > 4096) extra = stringify(clip(extra, 4096));  // cut: as a string
        logs.push([lvl, clip(message, 4096), extra]);
      },
    });

    let handler;
    try {
      handler = factory();
    } catch (e) {
      return "the source failed as it loaded: " + describe(e);
    }
    if (typeof handler === "function") handler = { process: handler };
    if (handler === null || typeof handler !== "object" || typeof handler.process !== "function") {
      return "the source must return { process: (ctx, port, value) => ... } or define " +
        "a function named " + meta.entrypoint + " (the entrypoint)";
    }

    // error is what was thrown, or NONE when nothing was: a thrown null is the engine out of
    // memory (it throws null when it cannot build the error), or code that threw null itself.
    function finish(error) {
      active = false;
      if (failed === null && error === null) {
        failed = { limit: "memory", message: "InternalError: out of memory (or threw null)" };
      } else if (failed === null && error !== NONE) {
        const text = describe(error);
        failed = { limit: engineLimit(text), message: text };
      }
      if (failed !== null) {
        return stringify({ e: [], l: logs, s: {}, x: failed });
      }
      const changes = { __proto__: null };  // a key may be "__proto__"
      for (const [k, text] of staged) {
        if (text === undefined) committed.delete(k); else committed.set(k, text);
        changes[k] = text === undefined ? null : text;
      }
      stateBytes = stagedBytes;
      return stringify({ e: emits, l: logs, s: changes, x: null });
    }
    function settle(result, isProcess) {
      if (result !== null && (typeof result === "object" || typeof result === "function") &&
          typeof result.then === "function") {
        let settled = false;  // a thenable may call back more than once: the first counts
        result.then(
          function (value) {
            if (settled) return;
            settled = true;
            try {
              if (isProcess) noteReturned(value);
              outcome = finish(NONE);
            } catch (_) {
              outcome = OUT_OF_MEMORY;  // finishing itself failed: only memory does that
            }
          },
          function (e) {
            if (settled) return;
            settled = true;
            try {
              outcome = finish(e === undefined ? new ErrorType("rejected with undefined") : e);
            } catch (_) {
              outcome = OUT_OF_MEMORY;
            }
          });
        return 0;
      }
      if (isProcess) noteReturned(result);
      return finish(NONE);
    }
    function invoke(fn, args, isProcess) {
      begin();
      let result;
      try {
        result = apply(fn, handler, args);
      } catch (e) {
        return finish(e);
      }
      try {
        return settle(result, isProcess);
      } catch (e) {
        return finish(e);
      }
    }

    // One entry point, since the binding cannot read properties: "call" runs process on
    // (port, valueText), "hook" runs initialize or cleanup (named by port), "collect" reads
    // the outcome of the pending invocation.
    return function entry(op, a, b) {
      if (op === "call") return invoke(handler.process, [ctx, a, parse(b)], true);
      if (op === "hook") {
        const fn = handler[a];
        if (typeof fn !== "function") { begin(); return finish(NONE); }
        return invoke(fn, [ctx], false);
      }
      if (outcome !== null) return outcome;
      return finish(new ErrorType(
        "the promise it returned never settled (there are no timers: await only " +
        "promises that settle by themselves)"));
    };
  };
})()
"""

_IDENTIFIER: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_RESERVED: Final = frozenset(
    [
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "enum",
        "export",
        "extends",
        "false",
        "finally",
        "for",
        "function",
        "if",
        "import",
        "in",
        "instanceof",
        "new",
        "null",
        "return",
        "super",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "typeof",
        "var",
        "void",
        "while",
        "with",
        "yield",
        "let",
        "static",
        "implements",
        "interface",
        "package",
        "private",
        "protected",
        "public",
        "await",
        "arguments",
        "eval",
    ]
)


def check_entrypoint(name: str) -> str:
    """Return ``name`` if it is a JavaScript identifier a source may define, else raise."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name) or name in _RESERVED:
        raise ValueError(
            f"execution.entrypoint {name!r} must be a JavaScript identifier such as 'handler'"
        )
    return name


def source_function(source: str, entrypoint: str) -> str:
    """Return the script whose value is the source as a strict function of no arguments.

    The function returns what the source returns, or else what it defines as ``entrypoint``
    (a function is taken as ``process``). The source starts on line 2.
    """
    check_entrypoint(entrypoint)
    return (
        '(function () { "use strict";\n'
        f"{source}\n"
        f";return typeof {entrypoint} === 'undefined' ? undefined : {entrypoint};\n}})"
    )
