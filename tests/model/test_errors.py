from __future__ import annotations

import pytest

from arachne.model.errors import (
    ArachneError,
    EdgeFull,
    ExecutionError,
    GraphError,
    NodeFailed,
    SpecError,
)
from arachne.model.validation import Issue, errors_in


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (GraphError, (ArachneError, ValueError)),
        (SpecError, (GraphError, ArachneError, ValueError)),
        (ExecutionError, (ArachneError, RuntimeError)),
        (NodeFailed, (ExecutionError, ArachneError, RuntimeError)),
        (EdgeFull, (ExecutionError, ArachneError, RuntimeError)),
    ],
)
def test_error_tree_keeps_builtin_bases(cls: type[Exception], bases: tuple[type, ...]) -> None:
    for base in bases:
        assert issubclass(cls, base)


def test_graph_error_caught_as_value_error() -> None:
    with pytest.raises(ValueError, match="bad wiring"):
        raise GraphError("bad wiring")


def test_graph_error_without_issues_has_empty_tuple() -> None:
    assert GraphError("x").issues == ()


def test_graph_error_keeps_issues_as_tuple() -> None:
    issues = [Issue("error", "cycle", "cycle a -> a")]
    err = GraphError("boom", issues)
    assert err.issues == (issues[0],)
    issues.append(Issue("error", "unknown-node", "later"))
    assert len(err.issues) == 1


def test_graph_error_from_issues_lists_every_issue_one_per_line() -> None:
    issues = [
        Issue("error", "unknown-node", "unknown node 'x'", "x"),
        Issue("error", "cycle", "cycle a -> b -> a", "a"),
    ]
    err = GraphError.from_issues(issues)
    assert err.issues == tuple(issues)
    assert str(err).splitlines() == [
        "graph has 2 problem(s):",
        "  - error: unknown node 'x'",
        "  - error: cycle a -> b -> a",
    ]


def test_spec_error_from_issues_builds_a_spec_error() -> None:
    err = SpecError.from_issues([Issue("error", "x", "y")])
    assert type(err) is SpecError


def test_node_failed_keeps_node_id_and_names_it() -> None:
    err = NodeFailed("etl/parse", "ZeroDivisionError: division by zero")
    assert err.node_id == "etl/parse"
    assert str(err) == "node 'etl/parse' failed: ZeroDivisionError: division by zero"


def test_edge_full_names_edge_capacity_and_fix() -> None:
    err = EdgeFull("a.out->b.in", 8)
    assert err.edge_id == "a.out->b.in"
    message = str(err)
    assert "'a.out->b.in'" in message
    assert "8 messages" in message
    assert "'fail'" in message
    assert "raise its capacity" in message


def test_issue_str_shows_severity_and_message() -> None:
    assert str(Issue("warning", "unconnected-input", "port 'in' idle")) == (
        "warning: port 'in' idle"
    )


def test_errors_in_keeps_only_errors_in_order() -> None:
    a = Issue("error", "cycle", "a")
    b = Issue("warning", "unconnected-input", "b")
    c = Issue("error", "unknown-node", "c")
    assert errors_in([a, b, c]) == [a, c]
