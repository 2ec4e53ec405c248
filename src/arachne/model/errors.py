"""The exceptions Arachne raises.

Leaves also inherit the builtin they resemble, so ``except ValueError`` keeps working::

    ArachneError
      GraphError(ArachneError, ValueError)        wiring, cycles, port types
        SpecError(GraphError)                     invalid graph document
      ExpressionError(ArachneError, ValueError)   expression rejected, timed out or failed
      ExecutionError(ArachneError, RuntimeError)  illegal state change
        NodeFailed(ExecutionError)                node id kept, cause chained
        CommitFailed(ExecutionError)              a live change rolled back, cause chained
        EdgeFull(ExecutionError)                  emit on a full edge whose overflow is "fail"
      QueueFull(ArachneError, RuntimeError)       enqueue on a durable queue at its capacity
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from arachne.model.validation import Issue

__all__ = [
    "ArachneError",
    "CommitFailed",
    "EdgeFull",
    "ExecutionError",
    "ExpressionError",
    "GraphError",
    "NodeFailed",
    "QueueFull",
    "SpecError",
    "describe",
    "shown",
]


def describe(exc: BaseException) -> str:
    """Return ``Type: message`` for an exception, as error messages and events show it."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def shown(value: object) -> str:
    """Return ``repr(value)``, cut to 60 characters, as error messages quote a bad value."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class ArachneError(Exception):
    """Base of every error Arachne raises on purpose."""


class GraphError(ArachneError, ValueError):
    """A graph is wired wrongly: unknown nodes or ports, cycles, incompatible schemas.

    ``issues`` holds every problem found, not only the first, so a caller can show them all.
    """

    def __init__(self, message: str, issues: Sequence[Issue] = ()) -> None:
        super().__init__(message)
        self.issues: tuple[Issue, ...] = tuple(issues)

    @classmethod
    def from_issues(cls, issues: Sequence[Issue]) -> GraphError:
        """Build one error whose message lists every issue, one per line."""
        lines = [f"graph has {len(issues)} problem(s):"]
        lines.extend(f"  - {issue}" for issue in issues)
        return cls("\n".join(lines), issues)


class SpecError(GraphError):
    """A graph document is invalid; the message names the field and the fix."""


class ExpressionError(ArachneError, ValueError):
    """A user expression was rejected, ran out of time or memory, or raised while running.

    ``expression`` keeps the text (possibly shortened) so the message can show what failed.
    """

    def __init__(self, message: str, expression: str = "") -> None:
        super().__init__(message)
        self.expression = expression


class ExecutionError(ArachneError, RuntimeError):
    """An execution was asked to do something its state does not allow."""


class NodeFailed(ExecutionError):
    """A node raised and its error policy failed the run.

    The node's id is kept in ``node_id``; the original exception is chained as ``__cause__``.
    """

    def __init__(self, node_id: str, message: str) -> None:
        super().__init__(f"node {node_id!r} failed: {message}")
        self.node_id = node_id


class CommitFailed(ExecutionError):
    """A commit of graph changes failed part way and was rolled back.

    The running graph is as it was before the commit. ``node_id`` names the node whose hook
    failed (``on_start`` of an added node, ``on_config`` of a reconfigured one), if one did;
    the original exception is chained as ``__cause__``.
    """

    def __init__(self, message: str, node_id: str | None = None) -> None:
        super().__init__(message)
        self.node_id = node_id


class EdgeFull(ExecutionError):
    """A message was offered to a full edge whose overflow policy is ``"fail"``.

    Raised inside the producer's ``emit``; the producer's error policy decides what follows.
    """

    def __init__(self, edge_id: str, capacity: int) -> None:
        super().__init__(
            f"edge {edge_id!r} is full ({capacity} messages) and its overflow policy is 'fail'; "
            "raise its capacity or choose 'block', 'drop', 'latest' or Coalesce(fn)"
        )
        self.edge_id = edge_id


class QueueFull(ArachneError, RuntimeError):
    """A durable queue holds as many messages as its capacity allows; ack some first."""
