"""Issues: what ``Subgraph.validate()`` reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Issue", "errors_in"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a graph.

    ``code`` is stable for programs (``unknown-node``, ``unknown-port``, ``incompatible-schema``,
    ``cycle``, ``duplicate-node``, ``unconnected-input``, ``unconnected-output``); ``message``
    names the node or port and the fix; ``where`` is the node, port or link it concerns.
    """

    severity: Literal["error", "warning"]
    code: str
    message: str
    where: str = ""

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


def errors_in(issues: list[Issue]) -> list[Issue]:
    """Return only the issues that stop a graph from running."""
    return [issue for issue in issues if issue.severity == "error"]
