"""The Runtime Service: ``arachne serve``, a REST API over graphs and their executions.

``create_app(settings)`` makes the FastAPI application; ``serve(settings)`` runs it under
uvicorn until SIGINT or SIGTERM, then stops every execution gracefully.
"""

from __future__ import annotations

from arachne.server.app import create_app
from arachne.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "serve"]


def serve(settings: ServerSettings | None = None) -> None:
    """Run the service until interrupted (SIGINT, SIGTERM): requests stop, executions drain."""
    import uvicorn

    from arachne.server.access_log import log_config

    settings = settings if settings is not None else ServerSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=log_config(),  # (an event socket's ?token= is never written out)
        timeout_graceful_shutdown=10,
    )
