"""The dashboard of one ``arachne run`` (``--dashboard``): the service's page over the run.

``RunDashboard`` serves the service's application, dashboard included, on 127.0.0.1 in a
thread of its own, over the run's own runtime and execution (``RuntimeService.adopt``): the
same page as ``arachne serve``'s, showing and steering the run as it goes. It is local only:
loopback, no credentials (the service's local guard refuses pages and hosts of elsewhere),
whatever the environment says of keys. Closing it stops the server, not the run.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Final

import uvicorn

from arachne.server.app import create_app
from arachne.server.service import RuntimeService
from arachne.server.settings import ServerSettings

if TYPE_CHECKING:
    from arachne.components.registry import Registry
    from arachne.runtime import Execution, Runtime
    from arachne.spec import GraphDocument

__all__ = ["STARTUP", "RunDashboard"]

STARTUP: Final = 10.0
"""Seconds the server may take to listen before the run goes on without it."""


class RunDashboard:
    """The dashboard of one run, on ``http://127.0.0.1:PORT``; ``url`` opens its execution."""

    def __init__(
        self,
        runtime: Runtime,
        ex: Execution,
        document: GraphDocument,
        registry: Registry,
        *,
        port: int = 0,
    ) -> None:
        settings = ServerSettings(
            host="127.0.0.1", port=port, api_keys=None, jwt_secret=None, jwt_public_key=None
        )
        service = RuntimeService(settings, registry, runtime=runtime)
        service.adopt(ex, document)
        app = create_app(settings, service=service)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="arachne-dashboard", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise OSError(f"the dashboard could not listen on 127.0.0.1:{port}")
            time.sleep(0.01)
        bound = self._server.servers[0].sockets[0].getsockname()[1]
        self.port: int = bound
        self.url = f"http://127.0.0.1:{bound}/#/executions/{ex.id}"

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving (open pages lose their stream); the run is left as it is."""
        self._server.should_exit = True
        self._thread.join(timeout)
