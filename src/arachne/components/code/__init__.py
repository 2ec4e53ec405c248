"""Components that carry code: JavaScript and WebAssembly run in confined worker processes.

A code component is a JSON definition (the Runtime Service's ``POST /api/components`` body:
``id``, ``ports``, ``execution: {type, entrypoint, source}``). Its code runs in a pool of
worker processes (:class:`IsolatePool`), each confined (no network, no new processes or
files, bounded memory and CPU), one engine context per node instance, under the limits of
:class:`CodeLimits`. Code components are refused unless enabled (:func:`enable_code`,
``--allow-code``), since they run third-party code. See ``docs/code-components.md``.
"""

from arachne.components.code.component import CodeComponent, read_definition
from arachne.components.code.host import CodeHost, enable_code
from arachne.components.code.isolates import Worker, WorkerCrashed
from arachne.components.code.limits import CEILINGS, CodeLimits
from arachne.components.code.node import CodeNode
from arachne.components.code.outcome import CodeError, LimitExceeded
from arachne.components.code.pool import Instance, IsolatePool

__all__ = [
    "CEILINGS",
    "CodeComponent",
    "CodeError",
    "CodeHost",
    "CodeLimits",
    "CodeNode",
    "Instance",
    "IsolatePool",
    "LimitExceeded",
    "Worker",
    "WorkerCrashed",
    "enable_code",
    "read_definition",
]
