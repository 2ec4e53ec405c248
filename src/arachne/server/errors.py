"""How the service answers errors: ``{"error": {"code", "message", ...}}`` with a status."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["Problem", "error_response"]


class Problem(Exception):
    """An error a route answers with ``status`` and a JSON body naming what and the fix."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """Return the JSON response for an error."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)
