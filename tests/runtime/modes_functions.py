"""Module-level functions for the execution-mode tests: worker processes import them by name."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from arachne import node

MODES = ("inline", "async", "thread", "process")


def _square(x: int) -> int | None:
    return x * x if x % 5 else None


@node(name="square")
def square_inline(x: int) -> int | None:
    return _square(x)


@node(name="square", mode="thread", concurrency=4)
def square_thread(x: int) -> int | None:
    return _square(x)


@node(name="square", mode="process", concurrency=2)
def square_process(x: int) -> int | None:
    return _square(x)


@node(name="square", concurrency=4)
async def square_async(x: int) -> int | None:
    await asyncio.sleep(0)
    return _square(x)


def square_in(mode: str) -> Any:
    """Return the square node class for ``mode``."""
    return {
        "inline": square_inline,
        "async": square_async,
        "thread": square_thread,
        "process": square_process,
    }[mode]


@node(name="hang", mode="process")
def hang_process(x: int) -> int:
    """Block for an hour: a call that only a cancel ends."""
    time.sleep(3600)
    return x
