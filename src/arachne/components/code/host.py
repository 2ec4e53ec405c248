"""CodeHost: code components enabled for a registry, with the pool and the operator's ceilings.

``enable_code(registry)`` is what ``--allow-code`` (and the service's ``ARACHNE_ALLOW_CODE``)
does: it gives the registry a host, so :meth:`Registry.add_code` and a graph document's
``components`` section are accepted. Each definition is checked field by field, and its
source is built once in a worker (without running ``initialize``), so a syntax error is
reported when the component is added, not when a graph first runs it.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, Final

from arachne.components.code.component import read_definition
from arachne.components.code.isolates import WorkerCrashed
from arachne.components.code.limits import CEILINGS, CodeLimits
from arachne.components.code.pool import DEFAULT_POOL_SIZE, IsolatePool

if TYPE_CHECKING:
    from arachne.components.definition import ComponentDefinition
    from arachne.components.registry import Registry

__all__ = ["CEILINGS_VARIABLE", "POOL_SIZE_VARIABLE", "CodeHost", "enable_code"]

CEILINGS_VARIABLE: Final = "ARACHNE_CODE_CEILINGS"
"""An environment variable with a JSON object of ceilings (names as in ``execution.limits``)."""

POOL_SIZE_VARIABLE: Final = "ARACHNE_ISOLATE_POOL_SIZE"
"""An environment variable with the number of worker processes (the default is 10)."""

_CHECK_WAIT: Final = 60.0
"""Seconds to wait for a worker to build a new component's source."""


class CodeHost:
    """Reads code components' definitions for a registry and runs them in its pool."""

    def __init__(self, pool: IsolatePool | None = None, *, ceilings: CodeLimits = CEILINGS) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self.ceilings = ceilings

    @property
    def pool(self) -> IsolatePool:
        """The isolate pool (started at first use; its workers start as instances need them)."""
        with self._lock:
            if self._pool is None:
                self._pool = IsolatePool(_pool_size())
                atexit.register(self._pool.close)
            return self._pool

    def definition(self, data: object, *, where: str) -> ComponentDefinition:
        """Return the checked definition; ``ValueError`` names the field at fault."""
        component = read_definition(data, self.pool, ceilings=self.ceilings, where=where)
        spec = component.load_spec()
        spec["meta"].update(executionId="", nodeId="", instanceId="", config={})
        worker = self.pool.place()
        try:
            reply = worker.request(
                "load", instance="check", spec=dict(spec, state={}), check=True
            ).result(_CHECK_WAIT)
        except WorkerCrashed as exc:
            raise ValueError(
                f"{where}.execution.source: the worker died building it ({exc})"
            ) from None
        except FutureTimeout:
            raise ValueError(
                f"{where}.execution.source: no worker built it within {_CHECK_WAIT:g} s (the "
                "pool is busy); try again"
            ) from None
        finally:
            self.pool.leave(worker)
        if not reply["loaded"]:
            raise ValueError(f"{where}.execution.source: {reply['error']}")
        return component.definition()

    def close(self) -> None:
        """End the pool's workers."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


_shared: CodeHost | None = None
_shared_lock = threading.Lock()


def enable_code(registry: Registry, host: CodeHost | None = None) -> CodeHost:
    """Let ``registry`` take code components (``--allow-code``); return its host.

    Without ``host``, the process's shared one: one pool of workers for every registry, its
    ceilings from :data:`CEILINGS_VARIABLE` if set (else :data:`~.limits.CEILINGS`), read
    when it is first made.
    """
    global _shared
    if host is None:
        with _shared_lock:
            if _shared is None:
                _shared = CodeHost(ceilings=ceilings_from_environment())
            host = _shared
    registry.code = host
    return host


def ceilings_from_environment(environ: dict[str, str] | None = None) -> CodeLimits:
    """Return the ceilings :data:`CEILINGS_VARIABLE` sets over the built-in ones."""
    text = (os.environ if environ is None else environ).get(CEILINGS_VARIABLE)
    if not text:
        return CEILINGS
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{CEILINGS_VARIABLE} must be a JSON object of limits ({exc})") from None
    return CodeLimits.parse(data, where=CEILINGS_VARIABLE, base=CEILINGS)


def _pool_size() -> int:
    text = os.environ.get(POOL_SIZE_VARIABLE, "")
    if not text:
        return DEFAULT_POOL_SIZE
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"{POOL_SIZE_VARIABLE} must be a whole number of worker processes, got {text!r}"
        ) from None
