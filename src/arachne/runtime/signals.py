"""SIGINT/SIGTERM handling for a run started from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator

__all__ = ["graceful_signals"]

log = logging.getLogger("arachne.runtime")


@contextlib.contextmanager
def graceful_signals(
    loop: asyncio.AbstractEventLoop, stop: Callable[[], None], cancel: Callable[[], None]
) -> Iterator[None]:
    """Within the block, the first SIGINT/SIGTERM calls ``stop`` and the next calls ``cancel``.

    Installed only in the main thread (the only place Python delivers signals); elsewhere the
    block runs with the process's handlers untouched. Previous handlers are restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = 0

    def on_signal(signum: int) -> None:
        nonlocal received
        received += 1
        name = signal.Signals(signum).name
        if received == 1:
            log.warning("%s received: stopping gracefully (send it again to cancel)", name)
            stop()
        else:
            log.warning("%s received again: cancelling", name)
            cancel()

    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, int(sig))
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover  # Windows
            continue
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
