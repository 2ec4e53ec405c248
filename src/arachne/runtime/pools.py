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

    def __init__(self, name: str, threads: int = 1, processes: int = 1) -> None:
        self._name = name
        self._thread_workers = 1
        self._process_workers = 1
        self._threads: ThreadPoolExecutor | None = None
        self._processes: ProcessPoolExecutor | None = None
        self._retired: list[Executor] = []
        self.size(threads, processes)

    def size(self, threads: int, processes: int) -> None:
        """Set the workers wanted: one per unit of thread-mode concurrency, processes per CPU.

        A pool already started that is now too small is replaced for new calls; the old one
        finishes the calls it has and is shut down with the rest.
        """
        threads = max(1, threads)
        processes = max(1, min(processes, os.cpu_count() or 1))
        if self._threads is not None and threads > self._thread_workers:
            self._retired.append(self._threads)
            self._threads = None
        if self._processes is not None and processes > self._process_workers:
            self._retired.append(self._processes)
            self._processes = None
        self._thread_workers = max(threads, self._thread_workers if self._threads else 0)
        self._process_workers = max(processes, self._process_workers if self._processes else 0)

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

    @property
    def started(self) -> bool:
        """Whether any pool was started (and so has workers to wait for)."""
        return bool(self._retired) or self._threads is not None or self._processes is not None

    def close(self) -> None:
        """Shut every pool down, dropping calls not yet started and waiting for running ones."""
        for pool in (*self._retired, self._threads, self._processes):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._retired.clear()
