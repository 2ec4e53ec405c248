"""Response bodies of the http-request component: decoding, and the errors about them."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["clip", "decode_body", "too_large"]


def decode_body(content: bytes, content_type: str, label: str = "response") -> Any:
    """Return a body as JSON data (for a JSON content type) or as text.

    An empty JSON body is ``None``; text is decoded by the declared charset (UTF-8 if none),
    undecodable bytes replaced.
    """
    media, _, rest = content_type.partition(";")
    media = media.strip().lower()
    if media == "application/json" or media.endswith("+json"):
        if not content.strip():
            return None
        try:
            return json.loads(content)
        except ValueError as exc:
            raise ValueError(
                f"{label}: content-type is {media} but the body is not JSON: {exc}"
            ) from None
    charset = "utf-8"
    for param in rest.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val.strip():
            charset = val.strip().strip('"')
    try:
        return content.decode(charset, errors="replace")
    except LookupError:
        return content.decode("utf-8", errors="replace")


def too_large(label: str, max_bytes: int, detail: str) -> ValueError:
    """Return the error for a body past ``max_response_bytes``."""
    return ValueError(
        f"{label}: response body exceeds max_response_bytes={max_bytes} "
        f"({detail}); raise the limit or ask for less"
    )


def clip(content: bytes, limit: int = 200) -> str:
    """Return the start of a body as a quoted string, for an error message."""
    text = content.decode("utf-8", errors="replace").strip()
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
