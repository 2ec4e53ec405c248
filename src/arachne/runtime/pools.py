"""Worker pools for nodes in thread and process mode, created on first use."""

from __future__ import annotations

import os
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["Pools"]


class Pools:
    """A thread pool and a process pool shared by the nodes of one execution.

    Processes are started with ``spawn``: the loop thread makes ``fork`` unsafe, and a spawned
    worker imports the node's module by name, so process-mode functions live at module level.
    """

    def __init__(self, threads: int, processes: int, name: str) -> None:
        self._thread_workers = max(1, threads)
        self._process_workers = max(1, min(processes, os.cpu_count() or 1))
        self._name = name
        self._threads: ThreadPoolExecutor | None = None
        self._processes: ProcessPoolExecutor | None = None

    def threads(self) -> Executor:
        """Return the thread pool (one worker per unit of thread-mode concurrency)."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self._thread_workers, f"{self._name}-worker")
        return self._threads

    def processes(self) -> Executor:
        """Return the process pool (at most one worker per CPU)."""
        if self._processes is None:
            # Imported here: multiprocessing costs about 0.6 MB of memory, paid only when used.
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._processes = ProcessPoolExecutor(
                self._process_workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._processes

    def close(self) -> None:
        """Shut both pools down, dropping calls not yet started and waiting for running ones."""
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)
        if self._processes is not None:
            self._processes.shutdown(wait=True, cancel_futures=True)
