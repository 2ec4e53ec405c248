"""Python values to JSON text for the engine, and the engine's JSON text back to Python values.

Values cross as JSON text because it is the one path that is exact for the binding: it passes
Python ints beyond 32 bits wrongly and cannot carry lone surrogates either way.

JSON has no ``NaN`` or ``Infinity``, so non-finite floats travel as marker strings made with a
random :data:`NONCE` that no real text will contain. Results use the same markers for numbers
past 2**53, which come back as floats: JavaScript numbers are doubles, and a double that big is
better read as the float it is than as an int with made-up low digits. The common case pays for
one substring search only.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from typing import Final

__all__ = ["NONCE", "decode", "encode"]

NONCE: Final = f"arachne-{secrets.token_hex(8)}:"
"""Prefix of the marker strings for ``NaN``, ``Infinity``, ``-Infinity`` and floats past 2**53."""

_ENCODER: Final = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_encode_string: Final = json.encoder.encode_basestring_ascii
_MISSING: Final = object()
_CONSTANTS: Final[dict[str, object]] = {"true": True, "false": False, "null": None}
_MARKED: Final = re.compile(f'"{re.escape(NONCE)}([-+.0-9A-Za-z]+)"')


def encode(value: object) -> tuple[str, bool]:
    """Return ``value`` as JSON text, and whether it holds non-finite float markers.

    Raises ``TypeError`` for a value JSON cannot hold, ``ValueError`` for a cycle and
    ``RecursionError`` for nesting deeper than Python's recursion limit.
    """
    # Scalars skip the encoder, whose setup costs more than their encoding (measured 4x).
    if type(value) is int:
        return repr(value), False
    if type(value) is str:
        return _encode_string(value), False
    try:
        return _ENCODER.encode(value), False
    except ValueError as exc:
        if "Circular reference" in str(exc):
            raise
    return _ENCODER.encode(_mark_non_finite(value)), True


def decode(text: str) -> object:
    """Return the Python value of JSON text made by the engine, markers turned into floats.

    Raises ``RecursionError`` for nesting deeper than Python's recursion limit.
    """
    constant = _CONSTANTS.get(text, _MISSING)
    if constant is not _MISSING:
        return constant
    if text.isdigit() or (text[:1] == "-" and text[1:].isdigit()):  # ASCII: engine-made JSON
        return int(text)
    if NONCE in text:
        text = _MARKED.sub(r"\1", text)
    return json.loads(text)


def _mark_non_finite(value: object) -> object:
    """Return a copy of ``value`` with every non-finite float replaced by its marker string."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        if math.isnan(value):
            return f"{NONCE}NaN"
        return f"{NONCE}{'-' if value < 0 else ''}Infinity"
    if isinstance(value, dict):
        return {key: _mark_non_finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mark_non_finite(item) for item in value]
    return value
