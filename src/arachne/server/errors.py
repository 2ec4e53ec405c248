"""How the service answers errors: ``{"error": {"code", "message", ...}}`` with a status.

:func:`documented` gives the OpenAPI description of those answers, so the generated document
lists every status a route may answer with, each with this body's schema.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

__all__ = ["COMMON", "ErrorBody", "Problem", "documented", "error_response"]


class Problem(Exception):
    """An error a route answers with ``status`` and a JSON body naming what and the fix."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class FieldProblem(BaseModel):
    """One field a request got wrong."""

    field: str = Field(examples=["nodeId"])
    message: str = Field(examples=["String should have at least 1 character"])


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a message naming the field and the fix."""

    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["no execution 'exec-1'; GET /api/executions lists them"])
    fields: list[FieldProblem] | None = None
    issues: list[str] | None = None


class ErrorBody(BaseModel):
    """Every error the service answers has this body."""

    error: ErrorDetail


_MEANING: Final = {
    400: "The request is well formed but cannot be done as asked (the message says why)",
    401: "No credentials, or credentials the service does not know",
    403: "The caller's role may not do this, or (authentication off) the request is not local",
    404: "No such graph, execution, node or edge",
    405: "The route does not take this method",
    409: "The execution is not in a state that allows this",
    413: "The request body is over MAX_BODY_BYTES",
    422: "A field of the request is missing or invalid (the message names it)",
    429: "A limit is reached (executions, graphs, a full inject queue)",
    500: "The service failed; its log has the detail",
    503: "The service is at its limit of executions",
}

COMMON: Final = (401, 403, 413, 422, 500)
"""Statuses any route may answer: authentication, the body bound, validation, a failure."""


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI ``responses`` entry for ``statuses``, each with :class:`ErrorBody`."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]} for status in statuses}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """Return the JSON response for an error."""
    body = {"error": {"code": code, "message": message, **extra}}
    return JSONResponse(body, status_code=status, headers=headers)
