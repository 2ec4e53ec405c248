"""Graphviz DOT export of a graph."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.model.policies import overflow_name

if TYPE_CHECKING:
    from arachne.model.specs import GraphView

__all__ = ["graph_to_dot"]


def graph_to_dot(graph: GraphView) -> str:
    """Return ``graph`` as a DOT digraph: control links dashed red, each link labelled."""
    lines = [
        f"digraph {_quote(graph.name or 'arachne')} {{",
        "  rankdir=LR;",
        "  node [shape=box];",
    ]
    for spec in graph.nodes.values():
        label = f"{spec.id}\n({spec.kind})"
        lines.append(f"  {_quote(spec.id)} [label={_quote(label)}];")
    for link in graph.links.values():
        label = f"{link.source.port}->{link.target.port} [{link.capacity}"
        label += "" if link.overflow == "block" else f", {overflow_name(link.overflow)}"
        label += "" if not link.priority else f", p{link.priority}"
        label += "]"
        style = ", style=dashed, color=red" if link.control else ""
        lines.append(
            f"  {_quote(link.source.node)} -> {_quote(link.target.node)} "
            f"[label={_quote(label)}{style}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
