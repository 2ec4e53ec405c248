"""``arachne validate``, ``dot``, ``schema`` and ``components``: reports that run nothing."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.table import Table

from arachne.components import Registry
from arachne.spec import DOCUMENT_SCHEMA, analyze, build, read_document

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

__all__ = ["components", "dot", "schema", "validate"]


def validate(path: Path, console: Console, *, as_json: bool) -> None:
    """Check the document fully (format, components, config, ports) and print its topology."""
    doc = read_document(path)
    report = analyze(doc)
    build(doc, Registry.default())
    if as_json:
        console.print_json(json.dumps({"valid": True, "name": doc.name, **report.to_dict()}))
        return
    console.print(f"[green]valid[/]: {doc.name} ({len(doc.nodes)} nodes, {len(doc.edges)} edges)")
    for line in report.describe():
        console.print(line, highlight=False)


def dot(path: Path) -> str:
    """Return the document's graph in Graphviz DOT."""
    return build(read_document(path), Registry.default()).to_graph().to_dot()


def schema() -> str:
    """Return the JSON Schema of the graph document format."""
    return json.dumps(DOCUMENT_SCHEMA, indent=2)


def components(console: Console, *, as_json: bool, category: str | None) -> None:
    """List the registered components (built-ins and installed entry points)."""
    found = [d for d in Registry.default() if category is None or d.category == category]
    if as_json:
        console.print_json(json.dumps([d.to_dict() for d in found]))
        return
    if not console.is_terminal:  # piped: one tab-separated line each, never wrapped
        for d in found:
            ports = f"{','.join(p.name for p in d.inputs)}->{','.join(p.name for p in d.outputs)}"
            fields = (d.id, d.version, d.category, ports, ",".join(d.aliases))
            console.out("\t".join(fields), highlight=False)
        return
    table = Table(title=f"{len(found)} component(s)", title_justify="left")
    for column in ("id", "version", "category", "inputs", "outputs", "aliases"):
        table.add_column(column)
    for d in found:
        table.add_row(
            d.id,
            d.version,
            d.category,
            ", ".join(p.name for p in d.inputs),
            ", ".join(p.name for p in d.outputs),
            ", ".join(d.aliases),
        )
    console.print(table)
