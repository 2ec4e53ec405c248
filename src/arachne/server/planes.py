"""One query plane per execution a service knows, kept while it knows the execution.

The rates of ``flow`` and ``load`` are over the interval between two snapshots of one plane,
so whoever asks for an execution's snapshots (the MCP tools, say) must ask the same plane
each time: :class:`QueryPlanes` makes it on first use and closes the planes of executions the
service has forgotten. ``arachne.server.query`` keeps its planes the same way.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from arachne.observability.query import QueryPlane

if TYPE_CHECKING:
    from arachne.runtime import Execution
    from arachne.server.service import RuntimeService

__all__ = ["QueryPlanes"]


class QueryPlanes:
    """The query plane of each of ``service``'s executions; safe from any thread."""

    def __init__(self, service: RuntimeService) -> None:
        self.service = service
        self._planes: dict[str, QueryPlane] = {}
        self._lock = threading.Lock()

    def of(self, ex: Execution) -> QueryPlane:
        """Return ``ex``'s plane, made on first use; the planes of forgotten executions go."""
        with self._lock:
            known = {kept.id for kept in self.service.executions()}
            for gone in [plane_id for plane_id in self._planes if plane_id not in known]:
                self._planes.pop(gone).close()
            plane = self._planes.get(ex.id)
            if plane is None or plane.execution is not ex:
                plane = self._planes[ex.id] = QueryPlane(ex, registry=self.service.registry)
            return plane

    def close(self) -> None:
        """Close every plane (they stop listening for their executions' commits)."""
        with self._lock:
            planes, self._planes = list(self._planes.values()), {}
        for plane in planes:
            plane.close()
