"""Problems found in a document, collected so one ``SpecError`` can report them all."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from arachne.model.errors import SpecError
from arachne.model.validation import Issue
from arachne.spec.limits import MAX_PROBLEMS

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Problems", "describe_value", "did_you_mean", "spec_error"]

_SHOWN: Final = 20  # problems listed in the message; all of them stay in ``issues``


class Problems:
    """An ordered list of issues, each ``path: what was found; the fix``."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, where: str, message: str, code: str = "invalid") -> None:
        """Record one problem at JSON path ``where`` (``""`` for the whole document).

        The message is prefixed with the path unless it starts with it already (a component's
        config check names ``nodes[0].config`` itself).
        """
        if len(self.issues) < MAX_PROBLEMS:
            text = f"{where}: {message}" if where and not message.startswith(where) else message
            self.issues.append(Issue("error", code, text, where))

    def extend(self, issues: Iterable[Issue]) -> None:
        """Record issues found elsewhere (by ``Subgraph.validate`` or a nested build)."""
        for issue in issues:
            if len(self.issues) < MAX_PROBLEMS:
                self.issues.append(issue)

    def __bool__(self) -> bool:
        return bool(self.issues)

    def check(self) -> None:
        """Raise one ``SpecError`` listing every problem, if there is any."""
        if self.issues:
            raise spec_error(self.issues)


def spec_error(issues: Sequence[Issue]) -> SpecError:
    """Return a ``SpecError`` whose message is the issue, or a list of all of them."""
    if len(issues) == 1:
        return SpecError(issues[0].message, issues)
    more = "" if len(issues) < MAX_PROBLEMS else " or more"
    lines = [f"graph document has {len(issues)}{more} problems:"]
    lines.extend(f"  - {issue.message}" for issue in issues[:_SHOWN])
    if len(issues) > _SHOWN:
        lines.append(f"  ... and {len(issues) - _SHOWN} more")
    return SpecError("\n".join(lines), issues)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` if none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def describe_value(value: object) -> str:
    """Return what a JSON value is, for ``found ...`` in messages: ``number 1.0``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        text = repr(value)
        return f"number {text if len(text) <= 30 else text[:27] + '...'}"
    if isinstance(value, str):
        text = repr(value)
        return f"string {text if len(text) <= 50 else text[:47] + '...'}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"
