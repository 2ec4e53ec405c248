"""What the service's request log may show: never a credential.

An event socket may carry its key or token in the URL (``/ws?token=...``: a browser cannot
set headers on a WebSocket), and uvicorn logs each request's path with its query string.
``RedactCredentials`` replaces the value of every ``token`` parameter with ``[secret]`` in
those lines; ``log_config()`` is uvicorn's logging configuration with it on every handler.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any, Final
from urllib.parse import unquote_plus

__all__ = ["REDACTED", "RedactCredentials", "log_config"]

REDACTED: Final = "[secret]"

_PARAMETER = re.compile(r"([?&])([^=&\s\"'?#]+)=([^&\s\"'#]*)")


def redact(text: str) -> str:
    """Return ``text`` with the value of every ``token`` query parameter replaced.

    The name is compared as the server reads it (percent-decoded, any case): ``%74oken=`` is a
    ``token`` too.
    """

    def hide(match: re.Match[str]) -> str:
        if unquote_plus(match[2]).lower() != "token":
            return match[0]
        return f"{match[1]}{match[2]}={REDACTED}"

    return _PARAMETER.sub(hide, text)


class RedactCredentials(logging.Filter):
    """Rewrites a record's message arguments (and message) so no ``token=`` value shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always let it through."""
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and "=" in record.msg:
            record.msg = redact(record.msg)
        return True


def log_config() -> dict[str, Any]:
    """Return uvicorn's default logging configuration with the redaction on every handler."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_credentials"] = {"()": RedactCredentials}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).append("redact_credentials")
    return config
