"""``arachne validate``, ``dot``, ``schema`` and ``components``: reports that run nothing."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

from arachne.components import Registry
from arachne.model.manifest import Manifest, ManifestDiff
from arachne.spec import DOCUMENT_SCHEMA, analyze, build, document_manifest, read_document

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from rich.console import Console

    from arachne.components import ComponentDefinition

__all__ = [
    "components",
    "diff",
    "dot",
    "load_registry",
    "manifest",
    "read_manifest",
    "schema",
    "validate",
]


def load_registry(modules: Sequence[str] = (), *, allow_code: bool = False) -> Registry:
    """Return the default registry plus the node classes of ``modules`` (``--components``).

    The working directory goes on ``sys.path`` first, as ``python -m`` would put it, so a
    module beside the document is found. The code components added with ``arachne
    components add`` are registered too; they run only with ``allow_code`` (``--allow-code``),
    which also lets a document define its own.
    """
    from arachne.cli.code import load_stored  # lazy: it starts no worker until code is used

    registry = Registry.default()
    load_stored(registry, allow_code=allow_code)
    if modules and "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in modules:
        registry.load_module(module)
    return registry


def validate(
    path: Path,
    console: Console,
    *,
    as_json: bool,
    modules: Sequence[str] = (),
    allow_code: bool = False,
) -> None:
    """Check the document fully (format, components, config, ports) and print its topology."""
    doc = read_document(path)
    report = analyze(doc)
    build(doc, load_registry(modules, allow_code=allow_code))
    if as_json:
        console.print_json(json.dumps({"valid": True, "name": doc.name, **report.to_dict()}))
        return
    console.print(f"[green]valid[/]: {doc.name} ({len(doc.nodes)} nodes, {len(doc.edges)} edges)")
    for line in report.describe():
        console.print(line, highlight=False)


def dot(path: Path, modules: Sequence[str] = (), *, allow_code: bool = False) -> str:
    """Return the document's graph in Graphviz DOT."""
    registry = load_registry(modules, allow_code=allow_code)
    return build(read_document(path), registry).to_graph().to_dot()


def manifest(
    path: Path, modules: Sequence[str] = (), *, allow_code: bool = False, digest: bool = False
) -> str:
    """Return the document's graph manifest as indented, sorted JSON (or its SHA-256)."""
    registry = load_registry(modules, allow_code=allow_code)
    made = document_manifest(read_document(path), registry)
    if digest:
        return made.digest
    return json.dumps(made.to_dict(), indent=2, sort_keys=True, ensure_ascii=False)


def read_manifest(path: Path, registry: Registry) -> Manifest:
    """Return the manifest in ``path``: one ``arachne manifest`` wrote, or a graph document's."""
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            data = None  # (read_document reports it, naming the file)
        if isinstance(data, dict) and "manifest" in data:
            return Manifest.from_dict(data)
    return document_manifest(read_document(path), registry)


def diff(
    old: Path, new: Path, modules: Sequence[str] = (), *, allow_code: bool = False
) -> ManifestDiff:
    """Return what changed from graph (or manifest) ``old`` to ``new``."""
    registry = load_registry(modules, allow_code=allow_code)
    return read_manifest(old, registry).diff(read_manifest(new, registry))


def schema() -> str:
    """Return the JSON Schema of the graph document format."""
    return json.dumps(DOCUMENT_SCHEMA, indent=2)


def components(
    console: Console,
    *,
    as_json: bool,
    category: str | None,
    component: str | None = None,
    modules: Sequence[str] = (),
    allow_code: bool = False,
) -> None:
    """List the registered components (built-ins and installed entry points), or show one.

    ``ValueError`` (exit 2) for a category no component has, or an unknown id, naming the
    ones there are.
    """
    registry = load_registry(modules, allow_code=allow_code)
    if component is not None:
        definition = registry.resolve(component)
        if as_json:
            console.print_json(json.dumps(definition.to_dict()))
        else:
            _show(console, definition)
        return
    found = [d for d in registry if category is None or d.category == category]
    if not found:
        known = ", ".join(sorted({d.category for d in registry}))
        raise ValueError(f"no component has category {category!r}; the categories: {known}")
    if as_json:
        console.print_json(json.dumps([d.to_dict() for d in found]))
        return
    if not console.is_terminal:  # piped: one tab-separated line each, never wrapped
        for d in found:
            ports = f"{','.join(p.name for p in d.inputs)}->{','.join(p.name for p in d.outputs)}"
            fields = (d.id, d.version, d.category, ports, ",".join(d.aliases))
            console.out("\t".join(fields), highlight=False)
        return
    # Ids are what a user copies into a document: never cut. Version and aliases only when
    # the terminal is wide enough to keep every id whole beside them.
    wide = console.width >= 110
    table = Table(title=f"{len(found)} component(s)", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("ports")
    if wide:
        table.add_column("version", no_wrap=True)
        table.add_column("aliases")
    for d in found:
        ports = f"{', '.join(p.name for p in d.inputs) or '-'} -> " + ", ".join(
            p.name for p in d.outputs
        )
        row = [d.id, ports] + ([d.version, ", ".join(d.aliases)] if wide else [])
        table.add_row(*row)
    console.print(table)
    console.print("[dim]arachne components ID shows one: its ports and config options[/]")


def _show(console: Console, d: ComponentDefinition) -> None:
    """Print one component: what it does, its ports and its config options."""
    console.print(f"[bold]{d.id}[/] {d.version} ({d.category})", highlight=False)
    if d.name or d.description:
        console.print(" - ".join(part for part in (d.name, d.description) if part))
    if d.aliases:
        console.print(f"aliases: {', '.join(d.aliases)}", highlight=False)
    for title, ports in (("inputs", d.inputs), ("outputs", d.outputs)):
        console.print(f"\n[bold]{title}[/]")
        if not ports:
            console.print("  (none)")
        for port in ports:
            kind = _schema_type(port.schema)
            console.print(f"  {port.name} ({kind}): {port.description}", highlight=False)
    console.print("\n[bold]config[/]")
    properties = d.config_schema.get("properties", {})
    required = set(d.config_schema.get("required", ()))
    if not properties:
        console.print("  (none)")
    for key, spec in properties.items():
        notes = [_schema_type(spec)]
        if key in required:
            notes.append("required")
        if "default" in spec:
            notes.append(f"default {json.dumps(spec['default'])}")
        text = spec.get("description", "")
        console.print(f"  {key} ({', '.join(notes)}): {text}", highlight=False)


def _schema_type(schema: Mapping[str, Any]) -> str:
    """Return a short name for a JSON Schema's type ("any" when it says nothing)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind is None and "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    return str(kind) if kind is not None else "any"
