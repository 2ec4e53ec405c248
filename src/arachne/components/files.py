"""Files that components touch, confined to a data root when graphs come from elsewhere.

A component marks each config field that names a file with ``"format": "file-path"`` in its
config schema (the JSON-lines source and sink do). A :class:`DataRoot` turns such a name into
a path inside one directory, or refuses it with a message naming the field and the fix:
an empty name, a NUL byte, a backslash, an absolute path, a ``..`` part, a percent-encoded
variant of any of these, standard input or output (``-``), and a name that leads out of the
root through a symbolic link are all refused. The Runtime Service confines every graph that
comes over its API (``DATA_ROOT``); a graph run from a local file is the user's own and is not.

A symbolic link inside the root that is replaced after a path was resolved is outside what
this can see: keep the data root writable only by those who may load graphs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

from arachne.model.errors import SpecError

__all__ = ["FILE_PATH", "DataRoot", "file_fields"]

FILE_PATH: Final = "file-path"
"""The config schema ``format`` of a field that names a file."""

_DECODINGS: Final = 4
"""Rounds of percent-decoding looked through (``%252e`` is ``%2e`` is ``.``)."""


def file_fields(schema: Mapping[str, Any]) -> list[str]:
    """Return the top-level config fields ``schema`` marks as file paths."""
    properties = schema.get("properties") or {}
    return [
        key
        for key, prop in properties.items()
        if isinstance(prop, Mapping) and prop.get("format") == FILE_PATH
    ]


class DataRoot:
    """One directory that file names resolve into; names that would leave it are refused."""

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        if root is None:
            self.root: Path | None = None  # no files at all
            return
        path = Path(root).expanduser()
        if not path.is_dir():
            raise ValueError(f"data root {str(path)!r} is not a directory; create it first")
        self.root = path.resolve()

    def resolve(self, name: object, *, where: str = "path") -> str:
        """Return the absolute path ``name`` names inside the root; ``SpecError`` if none."""
        if self.root is None:
            raise SpecError(
                f"{where}: this service gives graphs no files; its operator sets DATA_ROOT to "
                "the directory graphs may read and write"
            )
        if not isinstance(name, str) or not name:
            raise SpecError(f"{where}: expected a file name inside the data root")
        forms = [name]
        for _ in range(_DECODINGS):
            decoded = unquote(forms[-1])
            if decoded == forms[-1]:
                break
            forms.append(decoded)
        for form in forms:
            self._check_form(form, where)
        try:
            resolved = (self.root / name).resolve()
        except (OSError, RuntimeError) as exc:  # (a loop of links; a name the system refuses)
            raise SpecError(f"{where}: {name!r} cannot be resolved ({exc}); {self._fix}") from None
        try:
            resolved.stat()
        except FileNotFoundError:
            pass  # (a file to be made: its folders were resolved)
        except OSError as exc:  # (a loop of links, which some Pythons resolve without a word)
            raise SpecError(f"{where}: {name!r} cannot be resolved ({exc}); {self._fix}") from None
        if not resolved.is_relative_to(self.root):
            raise SpecError(
                f"{where}: {name!r} leads out of the data root through a symbolic link; "
                "name a file inside it"
            )
        if resolved.is_dir():
            raise SpecError(f"{where}: {name!r} is a folder; {self._fix}")
        return str(resolved)

    @property
    def _fix(self) -> str:
        # (the root's own path is the server's business: it is not told)
        return "name a file relative to the data root"

    def _check_form(self, form: str, where: str) -> None:
        fix = self._fix
        if "\x00" in form:
            raise SpecError(f"{where}: the name holds a NUL byte; {fix}")
        if "\\" in form:
            raise SpecError(f"{where}: the name holds a backslash; use '/' between folders")
        if form == "-":
            raise SpecError(
                f"{where}: standard input and output are not files of the data root; {fix}"
            )
        if form.startswith(("/", "~")) or Path(form).is_absolute():
            raise SpecError(f"{where}: {form!r} is an absolute path; {fix}")
        if ".." in form.split("/"):
            raise SpecError(f"{where}: {form!r} climbs out with '..'; {fix}")

    def confine(
        self, schema: Mapping[str, Any], config: Mapping[str, Any], *, where: str
    ) -> dict[str, Any]:
        """Return ``config`` with each file field of ``schema`` resolved inside the root."""
        confined = dict(config)
        for key in file_fields(schema):
            if key in confined:
                confined[key] = self.resolve(confined[key], where=f"{where}.{key}")
        return confined

    def __repr__(self) -> str:
        return f"DataRoot({str(self.root) if self.root else None!r})"
