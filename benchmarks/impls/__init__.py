"""One module per implementation; each offers ``pipeline``, ``fanout``, ``latency`` and
``backpressure``, taking the message count and returning the sink's ``Tally``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Final

__all__ = ["BASELINE", "IMPLS", "load"]

BASELINE: Final = "loop"

IMPLS: Final[dict[str, str]] = {
    "loop": "loop",
    "asyncio": "asyncio_queues",
    "threads": "thread_queues",
    "streamz": "streamz_stream",
    "reactivex": "reactivex_pipe",
    "bytewax": "bytewax_items",
    "bytewax_batched": "bytewax_batches",
    "arachne": "arachne_graph",
    "arachne_nobus": "arachne_nobus",
    "arachne_fused": "arachne_fused",
    "arachne_checked": "arachne_checked",
    "arachne_classes": "arachne_classes",
    "arachne_classes_nobus": "arachne_classes_nobus",
}
"""Implementation name -> module under ``benchmarks.impls``."""


def load(impl: str) -> ModuleType:
    """Import and return the module of implementation ``impl``."""
    return importlib.import_module(f"{__name__}.{IMPLS[impl]}")
