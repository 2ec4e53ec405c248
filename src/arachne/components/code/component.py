"""A code component's definition, read and checked: ports, config and the code to run.

:func:`read_definition` takes the Runtime Service's JSON definition (``id``, ``name``,
``version``, ``ports``, ``execution: {type, entrypoint, source}``) and returns a
:class:`CodeComponent`, or raises ``ValueError`` naming the field at fault and the fix. The
component builds :class:`~.node.CodeNode`s through its :class:`ComponentDefinition`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from arachne.components.code._js import check_entrypoint, source_function
from arachne.components.code.limits import CEILINGS, DEFAULTS, CodeLimits
from arachne.components.code.node import CodeNode
from arachne.components.code.pool import Instance
from arachne.components.definition import CATEGORIES, ComponentDefinition, PortDoc
from arachne.model.port import PortSpec

if TYPE_CHECKING:
    from arachne.components.code.pool import IsolatePool
    from arachne.model.node import Node

__all__ = ["KINDS", "CodeComponent", "read_definition"]

KINDS: Final = ("javascript", "wasm")
"""The ``execution.type`` values a code component may have."""

_PORT_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")

_KEYS: Final = frozenset(
    {"id", "name", "version", "description", "category", "ports", "config", "execution"}
)
_EXECUTION_KEYS: Final = frozenset({"type", "entrypoint", "source", "encoding", "limits"})


@dataclass(frozen=True, slots=True)
class CodeComponent:
    """A checked code component: what it is, its ports, and the code with its limits."""

    id: str
    kind: str
    source: str
    pool: IsolatePool = field(repr=False, compare=False)
    name: str = ""
    version: str = "1.0.0"
    description: str = ""
    category: str = "custom"
    entrypoint: str = "handler"
    encoding: str = "text"
    inputs: tuple[PortDoc, ...] = ()
    outputs: tuple[PortDoc, ...] = ()
    config_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    limits: CodeLimits = field(default_factory=CodeLimits)
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def digest(self) -> str:
        """Return the SHA-256 of the definition's canonical JSON (its first 16 hex digits)."""
        canonical = json.dumps(self.document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def input_specs(self) -> dict[str, PortSpec]:
        """Return the declared inputs as ports (checked by their JSON type)."""
        return {port.name: _spec(port) for port in self.inputs}

    def output_specs(self) -> dict[str, PortSpec]:
        """Return the declared outputs as ports (checked by their JSON type)."""
        return {port.name: _spec(port) for port in self.outputs}

    def load_spec(self) -> dict[str, Any]:
        """Return what a worker needs to build an instance (``meta`` filled per node)."""
        spec: dict[str, Any] = {
            "kind": self.kind,
            "limits": self.limits.to_dict(),
            "meta": {
                "component": self.id,
                "entrypoint": self.entrypoint,
                "outputs": [port.name for port in self.outputs],
            },
        }
        if self.kind == "wasm":
            spec.update(source=self.source, binary=self.encoding == "base64")
        else:
            spec["function"] = source_function(self.source, self.entrypoint)
        limits = spec["limits"]
        # The worker's own names: time in seconds, and the JavaScript engine's sizes.
        limits.update(time=self.limits.timeMs / 1000, memory=self.limits.memoryBytes)
        limits.update(stack=self.limits.stackBytes)
        return spec

    def instance(self, meta: Mapping[str, Any], state: dict[str, Any]) -> Instance:
        """Return a new instance in the pool for one node (not loaded until opened)."""
        spec = self.load_spec()
        spec["meta"] = dict(spec["meta"], **meta)
        return Instance(self.pool, spec, state)

    def definition(self) -> ComponentDefinition:
        """Return the registry's definition, whose factory builds a ``CodeNode``."""
        return ComponentDefinition(
            id=self.id,
            factory=self._build,
            name=self.name,
            version=self.version,
            category=self.category,
            description=self.description or f"{self.kind} code component",
            inputs=self.inputs,
            outputs=self.outputs,
            config_schema=self.config_schema,
            document=self.document,
        )

    def _build(self, config: Mapping[str, Any]) -> Node:
        return CodeNode(self, dict(config))


def read_definition(
    data: object,
    pool: IsolatePool,
    *,
    ceilings: CodeLimits = CEILINGS,
    where: str = "component",
) -> CodeComponent:
    """Return the code component ``data`` defines; raise ``ValueError`` naming what is wrong."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a JSON object (a component definition)")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ValueError(
            f"{where}: unknown field {unknown[0]!r}; a definition has {', '.join(sorted(_KEYS))}"
        )
    component_id = data.get("id")
    if not isinstance(component_id, str):
        raise ValueError(f"{where}.id must be a namespaced id such as 'custom.math.square'")
    try:
        ComponentDefinition(id=component_id, factory=_nothing)  # checks the id's form
    except ValueError as exc:
        raise ValueError(f"{where}.id: {exc}") from None
    execution = data.get("execution")
    if not isinstance(execution, Mapping):
        raise ValueError(
            f"{where}.execution must be an object: "
            '{"type": "javascript", "entrypoint": "handler", "source": "..."}'
        )
    where_exec = f"{where}.execution"
    unknown = sorted(set(execution) - _EXECUTION_KEYS)
    if unknown:
        raise ValueError(
            f"{where_exec}: unknown field {unknown[0]!r}; it has "
            f"{', '.join(sorted(_EXECUTION_KEYS))}"
        )
    kind = execution.get("type")
    if kind == "typescript":
        raise ValueError(
            f"{where_exec}.type: 'typescript' is not run as such; compile it to JavaScript "
            "and give type 'javascript'"
        )
    if kind not in KINDS:
        raise ValueError(f"{where_exec}.type must be one of {', '.join(KINDS)}, got {kind!r}")
    limits = CodeLimits.parse(
        execution.get("limits"), where=f"{where_exec}.limits", base=DEFAULTS.capped(ceilings)
    )
    limits.within(ceilings, where=f"{where_exec}.limits")
    source = execution.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"{where_exec}.source must be the component's code, as text")
    size = len(source.encode("utf-8"))
    if size > limits.sourceBytes:
        raise ValueError(
            f"{where_exec}.source is {size:,} bytes, over execution.limits.sourceBytes "
            f"({limits.sourceBytes:,}); shorten it or raise the limit"
        )
    encoding = execution.get("encoding", "text")
    if encoding not in ("text", "base64") or (encoding == "base64" and kind != "wasm"):
        raise ValueError(
            f"{where_exec}.encoding must be 'text' (JavaScript, or WebAssembly text) or "
            f"'base64' (a binary WebAssembly module), got {encoding!r}"
        )
    if encoding == "base64":
        try:
            base64.b64decode(source, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"{where_exec}.source is not base64 ({exc})") from None
    entrypoint = execution.get("entrypoint", "handler")
    try:
        check_entrypoint(entrypoint)
    except ValueError as exc:
        raise ValueError(f"{where}.{exc}") from None
    inputs, outputs = _ports(data.get("ports"), f"{where}.ports")
    config = data.get("config", {"type": "object"})
    if not isinstance(config, Mapping):
        raise ValueError(f"{where}.config must be a JSON Schema object for the node's config")
    try:
        validator_for(config).check_schema(dict(config))
    except SchemaError as exc:
        raise ValueError(f"{where}.config is not a valid JSON Schema: {exc.message}") from None
    category = data.get("category", "custom")
    if category not in CATEGORIES:
        raise ValueError(f"{where}.category must be one of {', '.join(CATEGORIES)}")
    texts = {}
    for key in ("name", "version", "description"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise ValueError(f"{where}.{key} must be text, got {type(value).__name__}")
        texts[key] = value
    return CodeComponent(
        id=component_id,
        kind=kind,
        source=source,
        pool=pool,
        name=texts["name"],
        version=texts["version"] or "1.0.0",
        description=texts["description"],
        category=category,
        entrypoint=entrypoint,
        encoding=encoding,
        inputs=inputs,
        outputs=outputs,
        config_schema=dict(config),
        limits=limits,
        document=dict(data),
    )


_JSON_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "number": (int, float),
    "integer": (int,),
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def _spec(port: PortDoc) -> PortSpec:
    """Return the port with its JSON Schema's ``type`` as Python classes (none: any value)."""
    kind = port.schema.get("type")
    names = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else []
    classes: list[type] = []
    for name in names:
        if name not in _JSON_TYPES:
            raise ValueError(
                f"schema type {name!r} is not a JSON Schema type ({', '.join(_JSON_TYPES)})"
            )
        classes.extend(_JSON_TYPES[name])
    if not classes:
        return PortSpec(port.name, None, port.description)
    schema: object = classes[0]
    for cls in classes[1:]:
        schema = schema | cls  # a union of classes
    return PortSpec(port.name, schema, port.description)


def _nothing(config: Mapping[str, Any]) -> Node:
    raise NotImplementedError


def _ports(data: object, where: str) -> tuple[tuple[PortDoc, ...], tuple[PortDoc, ...]]:
    if data is None:
        data = {"inputs": [{"name": "in"}], "outputs": [{"name": "out"}]}
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be an object with 'inputs' and 'outputs' lists")
    sides = []
    for side in ("inputs", "outputs"):
        items = data.get(side, [])
        if not isinstance(items, list):
            raise ValueError(f"{where}.{side} must be a list of {{name, schema}} objects")
        docs = []
        for index, item in enumerate(items):
            at = f"{where}.{side}[{index}]"
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise ValueError(f"{at} must be an object with a 'name' (and a 'schema')")
            if not _PORT_NAME.fullmatch(item["name"]):
                raise ValueError(
                    f"{at}.name {item['name']!r} must be a letter or '_' then letters, digits, "
                    "'_' or '-' (at most 64), e.g. 'in' or 'out_2'"
                )
            schema = item.get("schema", {})
            if not isinstance(schema, Mapping):
                raise ValueError(f"{at}.schema must be a JSON Schema object")
            if schema.get("type") == "any":  # the Runtime Service's way to say anything
                schema = {key: value for key, value in schema.items() if key != "type"}
            doc = PortDoc(item["name"], dict(schema), str(item.get("description", "")))
            try:
                _spec(doc)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{at}: {exc}") from None
            docs.append(doc)
        names = [doc.name for doc in docs]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}.{side} names a port twice")
        if side == "outputs" and "error" in names:
            raise ValueError(
                f"{where}.outputs: 'error' is every node's implicit error port; do not declare it"
            )
        sides.append(tuple(docs))
    if not sides[0]:
        raise ValueError(f"{where}.inputs must name at least one input port")
    return sides[0], sides[1]
