"""``arachne query``: a running service's query plane, one snapshot as JSON on stdout.

The command asks the Runtime Service (``arachne serve``, or a run's ``--dashboard``) over its
REST routes, ``GET /api/executions/{id}/query/{kind}`` (docs/query-plane.md), and prints
the answer as it came, indented. ``executions`` lists the executions to ask about. A key, when
the service wants one, comes from an environment variable (``ARACHNE_API_KEY`` by default),
never from the command line, where other users could read it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

import httpx

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DEFAULT_KEY_ENV", "DEFAULT_URL", "KINDS", "query"]

KINDS: Final = (
    "executions",
    "topology",
    "flow",
    "load",
    "backpressure",
    "lineage",
    "taints",
    "primitives",
    "watermarks",
)
"""What ``arachne query`` may ask for: the executions, or one snapshot of one of them."""

DEFAULT_URL: Final = "http://127.0.0.1:5006"
"""Where ``arachne serve`` listens by default."""

DEFAULT_KEY_ENV: Final = "ARACHNE_API_KEY"
"""The environment variable the service's API key is read from."""

WAIT: Final = 10.0
"""Seconds a request may take."""


def query(
    kind: str,
    execution_id: str | None,
    *,
    url: str = DEFAULT_URL,
    node: str | None = None,
    last: int = 10,
    environ: Mapping[str, str],
    key_env: str = DEFAULT_KEY_ENV,
) -> str:
    """Return the service's answer for ``kind`` (of ``execution_id``) as indented JSON text.

    ``ValueError`` naming the fix for a bad request, one the service refused, or a service
    that does not answer.
    """
    if kind not in KINDS:
        raise ValueError(f"no query {kind!r}; ask for one of {', '.join(KINDS)}")
    if kind == "executions":
        if execution_id is not None:
            raise ValueError("'executions' lists them all; leave the execution id out")
        path = "/api/executions"
    else:
        if not execution_id:
            raise ValueError(
                f"'{kind}' is about one execution: give its id (arachne query executions "
                "lists them)"
            )
        path = f"/api/executions/{quote(execution_id, safe='')}/query/{kind}"
    params: dict[str, str | int] = {}
    if kind == "lineage":
        if not node:
            raise ValueError("'lineage' explains one node's outputs: add --node ID")
        params = {"node": node, "last": last}
    elif node is not None:
        raise ValueError(f"--node is for 'lineage', not '{kind}'")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--url {url!r}: give the service's address, e.g. {DEFAULT_URL}")
    headers = {}
    key = environ.get(key_env)
    if key:
        headers["X-API-Key"] = key
    try:
        answer = httpx.get(url.rstrip("/") + path, params=params, headers=headers, timeout=WAIT)
    except httpx.HTTPError as exc:
        raise ValueError(
            f"nothing answers at {url} ({exc}); start the service (arachne serve) or a run "
            "with --dashboard, and give its address with --url"
        ) from None
    if answer.status_code >= 400:
        raise ValueError(_refusal(answer, key_env))
    return json.dumps(answer.json(), indent=2)


def _refusal(answer: httpx.Response, key_env: str) -> str:
    try:
        message = str(answer.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = answer.text[:200] or answer.reason_phrase
    status = answer.status_code
    if status in (401, 403):
        message += f" (the key is read from the environment variable {key_env})"
    return f"the service answered {status}: {message}"
