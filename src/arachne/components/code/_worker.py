"""An isolate worker: runs code components' instances, answering framed requests on stdin.

Run by path (``python -I _worker.py``), it imports only the standard library, its sibling
``_confine`` and the engines (``_quickjs``, and ``wasmtime`` when installed), so nothing of
the runtime's process comes into it. A frame is a 4-byte big-endian length and that many bytes
of UTF-8 JSON. A request is ``{"id": n, "op": ...}``; the reply carries the same ``id`` with
``ok`` and a ``result``, or ``error``. It exits when its input ends.

It starts by leaving the network (a namespace of its own, where the platform allows), imports
the engines, and then waits for ``hello``, which carries the trusted scripts and the address
space; it then confines itself (``_confine.confine``) and replies with what held. After that:

- ``load``: build an instance (one QuickJS context, or one wasmtime store) from a source,
  run its ``initialize`` and reply with the outcome;
- ``call``: run ``process`` for each ``[port, valueJson]`` of a batch, in order; the reply
  is the list of outcomes (see ``_js``), cut short once it holds 4 Mi characters. ``first``
  numbers the batch's first call: a batch that does not start where the instance stands
  (one sent behind a batch cut short) runs nothing and gets ``[]``; the host sends both
  remainders again, in order;
- ``unload``: run ``cleanup`` and drop the instance;
- ``ping`` and ``echo``, for the host's tests.

An instance that runs out of time, memory or stack is rebuilt from its source and its state
(its ``initialize`` runs again; what that emits is dropped), so the next call finds it fresh.
"""

from __future__ import annotations

import base64
import json
import os
import re
import struct
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for _confine only

import _confine  # type: ignore[import-not-found]  # a sibling, on the path now

NETWORK = _confine.enter_namespaces()  # first: it needs the process to have one thread

import importlib  # noqa: E402

import _quickjs  # type: ignore[import-not-found]  # noqa: E402  # the engine, before confining

wasmtime: Any
try:
    wasmtime = importlib.import_module("wasmtime")
except ImportError:  # an optional engine
    wasmtime = None

MAX_FRAME = 16 << 20  # bytes of one frame, either way
FULL_REPLY = 4 << 20  # bytes of outcomes after which a batch's reply ends early
MAX_OUTCOME = 11 << 20  # bytes of one call's outcome (a reply stays under MAX_FRAME)
NEVER_SETTLED = "the promise it returned never settled"
SETUP_TIME = 5.0  # CPU seconds for the trusted scripts of a new context
ENGINE_LIMITS = (
    ("InternalError: interrupted", "time"),
    ("InternalError: out of memory", "memory"),
    ("InternalError: stack overflow", "stack"),
    ("RangeError: Maximum call stack size exceeded", "stack"),
    ("null", "memory"),  # the engine could not even allocate the error
)
LEVELS = ("debug", "info", "warn", "error")


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read(fd: int) -> Any:
    head = _read_exactly(fd, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise ValueError(f"a frame of {size} bytes is over {MAX_FRAME}")
    body = _read_exactly(fd, size)
    if body is None:
        return None
    return json.loads(body.decode("utf-8"))


def _write(fd: int, body: bytes) -> None:
    data = struct.pack(">I", len(body)) + body
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _failure(message: str, limit: str | None = None) -> dict[str, Any]:
    return {"e": [], "l": [], "s": {}, "x": {"limit": limit, "message": message}}


def _engine_limit(text: str) -> str | None:
    for prefix, name in ENGINE_LIMITS:
        if text.startswith(prefix):
            return name
    return None


class LoadError(Exception):
    """The source could not be built into an instance (its text says why)."""


class JsInstance:
    """One code component instance: its own QuickJS context, rebuilt after a limit."""

    def __init__(self, spec: dict[str, Any], scripts: dict[str, str]) -> None:
        self.spec = spec
        self.limits = spec["limits"]
        self.scripts = scripts
        self.state: dict[str, Any] = dict(spec.get("state") or {})
        self.entry: Any = None
        self.context: Any = None
        self.build()

    def build(self) -> None:
        limits = self.limits
        context = _quickjs.Context()
        context.set_memory_limit(limits["memory"])
        context.set_max_stack_size(limits["stack"])
        context.set_time_limit(SETUP_TIME)
        context.eval(self.scripts["lockdown"])
        make = context.eval(self.scripts["runtime"])
        context.set_time_limit(limits["time"])
        try:
            factory = context.eval(self.spec["function"])
        except _quickjs.JSException as exc:
            raise LoadError(_located(str(exc))) from None
        meta = dict(self.spec["meta"], state=self.state, limits=limits)
        try:
            entry = make(factory, json.dumps(meta))
        except _quickjs.JSException as exc:
            raise LoadError(_first_line(str(exc))) from None
        if isinstance(entry, str):
            raise LoadError(entry)
        self.context, self.entry = context, entry

    def invoke(self, *args: Any) -> str:
        """Run one invocation; return its outcome as JSON text (rebuilt after a limit).

        After a time, memory or stack limit the context is built again, and what its
        ``initialize`` changed in the state travels with the failure (``s``).
        """
        outcome, broken, text = self.run(*args)
        if broken:
            outcome["s"] = self.rebuild()
            return json.dumps(outcome)
        return text

    def run(self, *args: Any) -> tuple[dict[str, Any], bool, str]:
        """Run one invocation: its outcome (and as text), whether to build the context again."""
        limit = self.limits["time"]
        start = time.process_time()
        try:
            reply = self.entry(*args)
            # Run the job queue until it is empty, promise or not: a job the invocation left
            # behind runs (and is charged) now, not inside the next invocation.
            context = self.context
            jobs = crowded = 0
            while context.execute_pending_job():
                if time.process_time() - start > limit:
                    raise _quickjs.JSException("InternalError: interrupted")
                jobs += 1
                if not jobs % 256:  # a storm of jobs: how near the memory limit it runs
                    crowded = max(crowded, context.memory()["malloc_size"])
            if reply == 0:  # a promise: its outcome is ready now
                reply = self.entry("collect")
                if crowded > 0.75 * self.limits["memory"] and NEVER_SETTLED in str(reply):
                    # A chain of promises that ran out of memory breaks without a word.
                    raise _quickjs.JSException("InternalError: out of memory")
        except (_quickjs.JSException, MemoryError) as exc:
            text = _first_line(str(exc)) or "null"
            name = _engine_limit(text) or ("memory" if isinstance(exc, MemoryError) else None)
            if name == "memory" and text == "null":  # it could not even build the error
                text = "InternalError: out of memory"
            return _failure(text, name), True, ""
        reply = str(reply)
        outcome = json.loads(reply)
        failure = outcome["x"]
        if failure is not None:
            return outcome, failure["limit"] in ("time", "memory", "stack"), reply
        try:
            changed = {k: None if t is None else json.loads(t) for k, t in outcome["s"].items()}
        except RecursionError:  # the context holds it, this mirror cannot: build it again
            return _failure("the state it kept nests too deeply", "stack"), True, ""
        for key, value in changed.items():
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
        return outcome, False, reply

    def rebuild(self) -> dict[str, Any]:
        """Build the context again and run ``initialize``; return its state changes."""
        self.context = self.entry = None
        try:
            self.build()
            outcome, broken, _ = self.run("hook", "initialize")
        except (LoadError, _quickjs.JSException):
            self.context = self.entry = None  # the next call tries again
            return {}
        if broken:
            self.context = self.entry = None
            return {}
        changes: dict[str, Any] = outcome["s"] if outcome["x"] is None else {}
        return changes

    def call(self, port: str, value: str) -> str:
        if self.entry is None:
            try:
                self.build()
            except (LoadError, _quickjs.JSException) as exc:
                return json.dumps(_failure(f"the instance could not be rebuilt: {exc}"))
        return self.invoke("call", port, value)

    def hook(self, name: str) -> str:
        if self.entry is None:
            return json.dumps(_failure("the instance is not built"))
        return self.invoke("hook", name)


class WasmInstance:
    """One WebAssembly instance in a store of its own, under fuel and memory limits.

    The module exports ``memory``, ``alloc(size) -> ptr`` and ``process(port_ptr, port_len,
    value_ptr, value_len)`` (``initialize()`` and ``cleanup()`` if it wants them), and may import
    from ``arachne``: ``emit(port_ptr, port_len, json_ptr, json_len)``, ``log(level, ptr,
    len)``, ``set_state(key_ptr, key_len, json_ptr, json_len)`` (length 0 deletes) and
    ``get_state(key_ptr, key_len) -> i64`` (``ptr << 32 | len`` of the JSON written through
    ``alloc``, or -1 when absent).
    """

    def __init__(self, spec: dict[str, Any], engine: Any) -> None:
        if wasmtime is None:
            raise LoadError("WebAssembly needs the wasmtime package (pip install 'arachne[wasm]')")
        self.spec = spec
        self.limits = spec["limits"]
        self.outputs = set(spec["meta"]["outputs"])
        self.state: dict[str, str | None] = {
            key: json.dumps(value) for key, value in (spec.get("state") or {}).items()
        }
        self.engine = engine
        self.emits: list[list[str]] = []
        self.logs: list[list[str]] = []
        self.staged: dict[str, str | None] = {}
        self.bytes = 0
        self.failed: dict[str, Any] | None = None
        try:
            source = spec["source"]
            if spec.get("binary"):
                self.module = wasmtime.Module(engine, base64.b64decode(source))
            else:
                self.module = wasmtime.Module(engine, source)
        except (wasmtime.WasmtimeError, ValueError) as exc:
            raise LoadError(f"the module did not compile: {_first_line(str(exc))}") from None
        self.build()

    def build(self) -> None:
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=self.limits["memory"])
        linker = wasmtime.Linker(self.engine)
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        linker.define_func(
            "arachne", "emit", wasmtime.FuncType([i32] * 4, []), self._emit, access_caller=True
        )
        linker.define_func(
            "arachne", "log", wasmtime.FuncType([i32] * 3, []), self._log, access_caller=True
        )
        linker.define_func(
            "arachne",
            "set_state",
            wasmtime.FuncType([i32] * 4, []),
            self._set_state,
            access_caller=True,
        )
        linker.define_func(
            "arachne",
            "get_state",
            wasmtime.FuncType([i32] * 2, [i64]),
            self._get_state,
            access_caller=True,
        )
        store.set_fuel(self.limits["fuel"])
        try:
            instance = linker.instantiate(store, self.module)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            raise LoadError(f"the module did not instantiate: {_first_line(str(exc))}") from None
        exports = instance.exports(store)
        for name in ("memory", "alloc", "process"):
            if name not in exports:
                raise LoadError(f"the module must export {name!r}")
        self.store, self.exports = store, exports

    # -- the context functions, called from inside the module ----------------------------------

    def _text(self, caller: Any, ptr: int, size: int, errors: str = "strict") -> str:
        memory = caller.get("memory")
        if size < 0 or ptr < 0 or ptr + size > memory.data_len(caller):
            raise wasmtime.Trap("a pointer and length outside the module's memory")
        return bytes(memory.read(caller, ptr, ptr + size)).decode("utf-8", errors)

    def _json(self, caller: Any, ptr: int, size: int, what: str) -> str:
        text = self._text(caller, ptr, size)
        try:
            json.loads(text)
        except ValueError:
            self._fail(None, f"{what}: the value is not JSON text")
        return text

    def _fail(self, limit: str | None, message: str) -> Any:
        if self.failed is None:
            self.failed = {"limit": limit, "message": message}
        raise wasmtime.Trap(message)

    def _emit(self, caller: Any, port_ptr: int, port_len: int, ptr: int, size: int) -> None:
        if self.failed is not None:
            raise wasmtime.Trap(str(self.failed["message"]))
        port = self._text(caller, port_ptr, port_len)
        if port not in self.outputs:
            self._fail(None, f"emit: no output port {port!r}")
        limits = self.limits
        if len(self.emits) >= limits["emits"]:
            self._fail("emits", f"emitted more than {limits['emits']} values in one call")
        self.bytes += size
        if self.bytes > limits["emitBytes"]:
            self._fail("emit-bytes", f"emitted more than {limits['emitBytes']} bytes in one call")
        self.emits.append([port, self._json(caller, ptr, size, "emit")])

    def _log(self, caller: Any, level: int, ptr: int, size: int) -> None:
        if len(self.logs) >= self.limits["logs"]:
            self._fail("logs", f"logged more than {self.limits['logs']} lines in one call")
        text = self._text(caller, ptr, min(size, 4096), "replace")  # cut anywhere: replaced
        self.logs.append([LEVELS[level] if 0 <= level < len(LEVELS) else "info", text, "null"])

    def _set_state(self, caller: Any, key_ptr: int, key_len: int, ptr: int, size: int) -> None:
        key = self._text(caller, key_ptr, min(key_len, 256))
        self.staged[key] = None if size == 0 else self._json(caller, ptr, size, "set_state")
        total = sum(len(k) + len(v or "") for k, v in self._merged().items())
        if total > self.limits["stateBytes"]:
            self._fail("state-bytes", f"kept more than {self.limits['stateBytes']} bytes of state")

    def _get_state(self, caller: Any, key_ptr: int, key_len: int) -> int:
        text = self._merged().get(self._text(caller, key_ptr, min(key_len, 256)))
        if text is None:
            return -1
        data = text.encode("utf-8")
        ptr = caller.get("alloc")(caller, len(data))
        caller.get("memory").write(caller, data, ptr)
        return int(ptr) << 32 | len(data)

    def _merged(self) -> dict[str, str | None]:
        merged = dict(self.state)
        for key, text in self.staged.items():
            if text is None:
                merged.pop(key, None)
            else:
                merged[key] = text
        return merged

    # -- invocations ---------------------------------------------------------------------------

    def invoke(self, name: str, args: tuple[bytes, ...]) -> str:
        self.emits, self.logs, self.staged, self.bytes, self.failed = [], [], {}, 0, None
        fn = self.exports.get(name) if name != "process" else self.exports["process"]
        if fn is None:
            return json.dumps({"e": [], "l": [], "s": {}, "x": None})
        store = self.store
        try:
            store.set_fuel(self.limits["fuel"])
            pointers: list[int] = []
            for data in args:
                ptr = self.exports["alloc"](store, len(data))
                self.exports["memory"].write(store, data, ptr)
                pointers += [ptr, len(data)]
            fn(store, *pointers)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            text = _trap_text(str(exc))
            if self.failed is None:
                fuel = "fuel consumed" in text or "out of fuel" in text
                self.failed = {"limit": "fuel" if fuel else _wasm_limit(text), "message": text}
            failure = self.failed
            self.build()  # a trap may leave the instance's memory half-changed
            return json.dumps({"e": [], "l": self.logs, "s": {}, "x": failure})
        changes: dict[str, str | None] = {}
        for key, staged in self.staged.items():
            if staged is None:
                self.state.pop(key, None)
            else:
                self.state[key] = staged
            changes[key] = staged
        return json.dumps({"e": self.emits, "l": self.logs, "s": changes, "x": None})

    def call(self, port: str, value: str) -> str:
        return self.invoke("process", (port.encode("utf-8"), value.encode("utf-8")))

    def hook(self, name: str) -> str:
        return self.invoke(name, ())


def _trap_text(text: str) -> str:
    """Return the line of wasmtime's report that says what happened (not the backtrace)."""
    for line in text.splitlines():
        if "wasm trap:" in line:
            return line.strip()[:500]
    return _first_line(text)


def _wasm_limit(text: str) -> str | None:
    if "stack overflow" in text or "call stack exhausted" in text:
        return "stack"
    if "memory" in text and ("grow" in text or "limit" in text):
        return "memory"
    return None


def _located(text: str) -> str:
    """Return the engine's first line, with where in the source (which starts on line 2)."""
    found = re.search(r"<input>:(\d+):(\d+)", text)
    first = _first_line(text)
    if found is None or int(found.group(1)) < 2:
        return first
    return f"{first} (line {int(found.group(1)) - 1}, column {found.group(2)} of the source)"


def _one_call(instance: JsInstance | WasmInstance, port: str, value: str) -> str:
    """Return one call's outcome; a failure of the worker's own is that call's alone."""
    try:
        return instance.call(port, value)
    except Exception as exc:  # never the whole batch, never the worker
        return json.dumps(_failure(f"the worker failed on this call: {type(exc).__name__}"))


def _bounded(text: str) -> bytes:
    """Return the outcome as UTF-8, or a failure if it is more than one reply may carry."""
    data = text.encode("utf-8")
    if len(data) <= MAX_OUTCOME:
        return data
    outcome = json.loads(text)
    failure = _failure(
        f"the call's outcome is {len(data):,} bytes of JSON, more than the {MAX_OUTCOME:,} "
        "one reply carries",
        "emit-bytes",
    )
    failure["s"] = outcome["s"] if outcome["x"] is None else {}  # kept: the code kept them
    return json.dumps(failure).encode("utf-8")


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0][:500]


class Worker:
    """The worker's instances and the answers to each request."""

    def __init__(self) -> None:
        self.instances: dict[str, JsInstance | WasmInstance] = {}
        self.next_call: dict[str, int] = {}  # per instance: the number of the call it runs next
        self.scripts: dict[str, str] = {}
        self.wasm_engine: Any = None

    def hello(self, request: dict[str, Any]) -> dict[str, Any]:
        self.scripts = {"lockdown": request["lockdown"], "runtime": request["runtime"]}
        if wasmtime is not None:
            config = wasmtime.Config()
            config.consume_fuel = True
            config.parallel_compilation = False  # no threads
            config.memory_init_cow = False  # no memfd: there are no new files
            config.memory_reservation = 64 << 20  # inside the address-space limit
            config.memory_guard_size = 64 << 10
            config.memory_reservation_for_growth = 16 << 20  # not the default 2 GiB
            config.max_wasm_stack = request.get("wasmStack", 512 << 10)
            self.wasm_engine = wasmtime.Engine(config)
        report = _confine.confine(request.get("addressSpace"))
        report["network"] = NETWORK
        engines = ["javascript"] + (["wasm"] if wasmtime is not None else [])
        return {"pid": os.getpid(), "confinement": report, "engines": engines}

    def load(self, request: dict[str, Any]) -> str:
        spec = request["spec"]
        _confine.cpu_budget(SETUP_TIME + 2 * spec["limits"].get("time", 1.0))
        try:
            if spec["kind"] == "wasm":
                instance: JsInstance | WasmInstance = WasmInstance(spec, self.wasm_engine)
            else:
                instance = JsInstance(spec, self.scripts)
        except LoadError as exc:
            return json.dumps({"loaded": False, "error": str(exc)})
        except _quickjs.JSException as exc:
            text = _first_line(str(exc))
            return json.dumps({"loaded": False, "error": text, "limit": _engine_limit(text)})
        if request.get("check"):  # built, and that is all that was asked
            return '{"loaded":true}'
        self.instances[request["instance"]] = instance
        self.next_call[request["instance"]] = 0
        return '{"loaded":true,"outcome":' + instance.hook("initialize") + "}"

    def call(self, request: dict[str, Any]) -> str | bytes:
        instance = self.instances.get(request["instance"])
        batch = request["batch"]
        if instance is None:
            return json.dumps([_failure("the instance is not loaded here")] * len(batch))
        name = request["instance"]
        if request.get("first", self.next_call[name]) != self.next_call[name]:
            return "[]"  # sent behind a batch that was cut short: the host sends it again
        budget = request.get("budget", 1.0)
        _confine.cpu_budget(2.0 + budget * len(batch))
        outcomes: list[bytes] = []
        size = 0
        for port, value in batch:
            outcomes.append(_bounded(_one_call(instance, port, value)))
            size += len(outcomes[-1])
            if size > FULL_REPLY:  # the host sends the rest again
                break
        self.next_call[name] += len(outcomes)
        return b"[" + b",".join(outcomes) + b"]"

    def unload(self, request: dict[str, Any]) -> str:
        instance = self.instances.pop(request["instance"], None)
        self.next_call.pop(request["instance"], None)
        if instance is None:
            return json.dumps({"e": [], "l": [], "s": {}, "x": None})
        _confine.cpu_budget(2.0 + request.get("budget", 1.0))
        return instance.hook("cleanup")

    def answer(self, request: Any) -> bytes:
        if not isinstance(request, dict) or "id" not in request:
            return _error(None, "a request is an object with an id")
        op, rid = request.get("op"), request["id"]
        try:
            if op == "call":
                return _ok(rid, self.call(request))
            if op == "load":
                return _ok(rid, self.load(request))
            if op == "unload":
                return _ok(rid, self.unload(request))
            if op == "hello":
                return _ok(rid, json.dumps(self.hello(request)))
            if op == "ping":
                return _ok(rid, json.dumps({"pid": os.getpid()}))
            if op == "echo":
                return _ok(rid, json.dumps(request.get("value")))
        except (KeyError, TypeError, ValueError) as exc:
            return _error(rid, f"a malformed {op} request: {type(exc).__name__}: {exc}")
        return _error(rid, f"unknown op {op!r}")


def _ok(rid: Any, result: str | bytes) -> bytes:
    data = result.encode("utf-8") if isinstance(result, str) else result
    return b'{"id":%d,"ok":true,"result":%s}' % (rid, data)


def _error(rid: Any, message: str) -> bytes:
    return json.dumps({"id": rid, "ok": False, "error": message}).encode("utf-8")


def main() -> None:
    """Serve requests until the input ends."""
    reader, writer = sys.stdin.fileno(), sys.stdout.fileno()
    worker = Worker()
    while True:
        request = _read(reader)
        if request is None:
            return
        _write(writer, worker.answer(request))


if __name__ == "__main__":
    main()
