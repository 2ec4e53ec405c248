"""The web dashboard: one page and its static files, served by the service at ``/``.

The page (``static/index.html`` with ``dashboard.js`` and ``dashboard.css``) draws the running
graph and steers executions through the service's own REST routes and its ``/ws`` event
socket, with the caller's credentials; it holds no data of its own, so the files are served
to anyone and every call they make is checked as any other. Third-party scripts are vendored
under ``static/vendor`` at pinned versions (``scripts/vendor-js``), so the page works with
nothing but the browser and the service: no build step, no CDN. Every answer carries a
Content-Security-Policy that lets the page load scripts and styles from the service only.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final

from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import Receive, Scope, Send

__all__ = ["POLICY", "STATIC", "install_dashboard"]

STATIC: Final = Path(str(resources.files("arachne.server") / "static"))
"""The folder of the dashboard's files, inside the package."""

CYTOSCAPE_STYLE: Final = "'sha256-pgvDUBa4IjFA2yuSJ2cqcyxmNYJMborsd0ORcRv9vw8='"
"""The hash of the one ``<style>`` Cytoscape.js adds (its container's position), let in by name."""

POLICY: Final = (
    f"default-src 'none'; script-src 'self'; style-src 'self' {CYTOSCAPE_STYLE}; "
    "img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""The page's Content-Security-Policy: its own scripts, styles and sockets, nothing else."""

_HEADERS: Final = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _Assets(StaticFiles):
    """The dashboard's static files, each with the page's security headers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))  # type: ignore[call-overload]
                headers += [(k.lower().encode(), v.encode()) for k, v in _HEADERS.items()]
                message["headers"] = headers
            await send(message)

        await super().__call__(scope, receive, with_headers)  # type: ignore[arg-type]


def install_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` and its files under ``/ui/`` (outside the API's schema)."""

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        return FileResponse(STATIC / "index.html", headers=_HEADERS)

    @app.get("/ui", include_in_schema=False)
    def ui() -> Response:
        return RedirectResponse("/")

    app.mount("/ui", _Assets(directory=STATIC), name="dashboard")
