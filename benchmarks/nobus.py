"""A build of the runtime with its event bus cut out: the baseline of the bus-overhead case.

Every place the runtime would publish an event is written ``if Kind in bus.wanted:`` followed
by the publishing; this removes each such ``if`` (and its body) from a copy of the sources, so
the copy runs exactly the same code minus the checks. Comparing a graph run on the copy with
the same graph run on the real build (nobody subscribed) measures what the cached check costs.
"""

from __future__ import annotations

import ast
from pathlib import Path


class _StripEventSites(ast.NodeTransformer):
    def __init__(self) -> None:
        self.removed = 0

    def visit_If(self, node: ast.If) -> ast.AST | list[ast.stmt]:
        self.generic_visit(node)
        test = node.test
        if (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.In)
            and isinstance(test.comparators[0], ast.Attribute)
            and test.comparators[0].attr == "wanted"
        ):
            self.removed += 1
            return node.orelse or [ast.Pass()]
        return node


def strip_event_sites(package: Path) -> int:
    """Remove every event-firing site from the ``.py`` files under ``package``; return how many."""
    removed = 0
    for path in sorted(package.rglob("*.py")):
        if path.name == "events.py":  # the bus itself stays: subscribing must still work
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        stripper = _StripEventSites()
        tree = stripper.visit(tree)
        if stripper.removed:
            path.write_text(ast.unparse(ast.fix_missing_locations(tree)) + "\n", encoding="utf-8")
            removed += stripper.removed
    return removed
