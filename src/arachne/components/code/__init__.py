"""Components that carry code (issue 17): run in worker processes, never in the runtime's.

``isolates`` holds the worker processes and the framing between them and the runtime; the
worker itself (``_worker.py``) is a stand-alone script, run by path, importing nothing of
Arachne. The JavaScript and WebAssembly engines, their limits and the nodes that use them
come next; nothing here is registered as a component yet.
"""

from __future__ import annotations

from arachne.components.code.isolates import Worker, WorkerCrashed

__all__ = ["Worker", "WorkerCrashed"]
