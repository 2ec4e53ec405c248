"""Decoding YAML text with ``yaml.safe_load``, after a check of the composed node tree.

PyYAML's ``safe_load`` silently keeps the last of repeated keys, expands aliases without
limit and recurses once per nesting level; composing first (parsing to nodes, constructing
nothing) lets every repeated key be named with its lines, and alias bombs and deep nesting
be refused before anything is built. That costs a second parse: pure-Python PyYAML reads
roughly 100-150 KB/s (less when flow collections nest deep), hence the lower size and flow
depth limits for YAML. libyaml's loader is not used: its composer recurses in C and crashes
the process (SIGSEGV) on input nested 100,000 levels deep, which 4 MiB of text can be.
"""

from __future__ import annotations

import re
from typing import Final

import yaml

from arachne.model.errors import SpecError
from arachne.spec._problems import Problems
from arachne.spec._values import too_many_values
from arachne.spec.limits import MAX_DEPTH, MAX_FLOW_DEPTH, MAX_VALUES

__all__ = ["decode_yaml"]

_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_BRACKETS: Final = re.compile(r"[\[\]{}]")
_TOO_DEEP: Final = f"nested too deeply (documents may nest {MAX_DEPTH} levels); flatten it"


def decode_yaml(text: str) -> object:
    """Return the value of YAML ``text`` as ``yaml.safe_load`` reads it, or raise SpecError."""
    if _bracket_depth(text) > MAX_FLOW_DEPTH:
        raise SpecError(
            f"YAML: brackets nest more than {MAX_FLOW_DEPTH} levels deep (counting those "
            "inside strings); use block style or flatten the document"
        )
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is None:
            return None
        _check_tree(root)
        return yaml.safe_load(text)
    except SpecError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = ", ".join(part for part in (exc.context, exc.problem) if part)
        raise SpecError(f"YAML syntax error{where}: {what}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}") from None
    except RecursionError:
        raise SpecError(f"YAML: {_TOO_DEEP}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. an integer past the limit
        raise SpecError(f"YAML: {exc}; quote values YAML cannot read as numbers") from None


def _bracket_depth(text: str) -> int:
    """Return how deep ``[`` and ``{`` nest in ``text``, strings and comments included.

    PyYAML's scanner does work proportional to the flow depth for every token, so deep
    flow nesting repeated through a large text would take minutes; this bound keeps it
    linear. Counting inside strings too keeps the check simple and impossible to fool.
    """
    depth = deepest = 0
    for char in _BRACKETS.findall(text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    return deepest


def _check_tree(root: yaml.Node) -> None:
    """Raise ``SpecError`` for repeated keys, nesting past the limit or too many values."""
    problems = Problems()
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str, int]] = [(root, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if depth > MAX_DEPTH:
            problems.add(path, f"nested deeper than {MAX_DEPTH} levels; flatten it", "too-deep")
            continue
        children: list[tuple[yaml.Node, str, int]] = []
        if isinstance(node, yaml.MappingNode):
            lines: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                label = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
                if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                    line, ident = key.start_mark.line + 1, (key.tag, label)
                    if ident in lines:
                        both = (
                            f"line {line}"
                            if lines[ident] == line
                            else (f"lines {lines[ident]} and {line}")
                        )
                        problems.add(
                            path or "document",
                            f"key {label!r} appears more than once ({both}); keep one",
                            "duplicate-key",
                        )
                    lines.setdefault(ident, line)
                children.append((value, f"{path}.{label}" if path else label, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node.value)]
        stack.extend(reversed(children))
    problems.check()
    if _expanded_size(root) > MAX_VALUES:
        raise too_many_values()


def _expanded_size(root: yaml.Node) -> int:
    """Return how many values ``root`` holds with aliases expanded, capped past the limit.

    Each node is sized once (post-order, memoised), so an alias bomb is measured without
    being expanded; a node that contains itself counts as too many.
    """
    too_many = MAX_VALUES + 1
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        children = _children(node)
        if expanded:
            total = 1 + sum(sizes.get(id(child), too_many) for child in children)
            sizes[id(node)] = min(total, too_many)
        elif id(node) not in sizes:
            sizes[id(node)] = too_many  # until its children are sized: a loop back is too many
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
