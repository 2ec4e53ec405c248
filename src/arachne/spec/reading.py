"""Reading documents from text and files: JSON or YAML, size-checked, then parsed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from arachne.model.errors import SpecError
from arachne.spec._json import decode_json
from arachne.spec._yaml import decode_yaml
from arachne.spec.limits import MAX_TEXT_SIZE, MAX_YAML_SIZE
from arachne.spec.parse import parse_document

if TYPE_CHECKING:
    import os

    from arachne.spec.document import GraphDocument

__all__ = ["SUFFIXES", "DocumentFormat", "decode_text", "loads_document", "read_document"]

DocumentFormat: TypeAlias = Literal["json", "yaml"]
"""The two text formats of a graph document."""

SUFFIXES: Final[dict[str, DocumentFormat]] = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}
"""File suffixes :func:`read_document` knows, and the format each one means."""


def loads_document(text: str, *, format: DocumentFormat | None = None) -> GraphDocument:
    """Return the document in ``text``, checked; raise ``SpecError`` naming every problem.

    ``format`` defaults to JSON when the text starts with ``{`` and YAML otherwise. YAML is
    read with ``yaml.safe_load`` only, so a document cannot construct Python objects. JSON
    text may be up to :data:`MAX_TEXT_SIZE` characters, YAML up to :data:`MAX_YAML_SIZE`.
    """
    return parse_document(decode_text(text, format=format))


def decode_text(text: str, *, format: DocumentFormat | None = None) -> object:
    """Return the data of a document's ``text`` (JSON or YAML), not yet checked as a document.

    As :func:`loads_document` reads it (the same format guess and size limits); ``SpecError``
    if the text is too long or not JSON or YAML.
    """
    if not isinstance(text, str):
        raise TypeError(f"the text takes str, got {type(text).__name__}; decode it first")
    if format is None:
        format = "json" if text.lstrip("\ufeff \t\r\n").startswith("{") else "yaml"
    if format not in ("json", "yaml"):
        raise ValueError(f"unknown format {format!r}; use 'json' or 'yaml'")
    limit = MAX_TEXT_SIZE if format == "json" else MAX_YAML_SIZE
    if len(text) > limit:
        raise SpecError(
            f"{format.upper()} document is {len(text):,} characters long; the limit is "
            f"{limit:,}, split the graph or move bulk data out of node config"
        )
    text = text.removeprefix("\ufeff")
    return decode_json(text) if format == "json" else decode_yaml(text)


def read_document(path: str | os.PathLike[str]) -> GraphDocument:
    """Return the document in the file at ``path``; its suffix (.json, .yaml, .yml) says how.

    Raises ``SpecError`` (prefixed with the path) for an invalid document, an unknown suffix,
    a file over the size limit or text that is not UTF-8; ``OSError`` if it cannot be read.
    """
    file = Path(path)
    kind = SUFFIXES.get(file.suffix.lower())
    if kind is None:
        known = ", ".join(SUFFIXES)
        raise SpecError(f"{file}: cannot tell the format from the suffix; name it {known}")
    with file.open("rb") as stream:
        raw = stream.read(MAX_TEXT_SIZE + 1)
    if len(raw) > MAX_TEXT_SIZE:
        raise SpecError(f"{file}: larger than {MAX_TEXT_SIZE:,} bytes; split the graph")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{file}: not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        return loads_document(text, format=kind)
    except SpecError as exc:
        raise SpecError(f"{file}: {exc}", exc.issues) from None
