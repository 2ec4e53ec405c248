"""Worker pools for nodes in thread and process mode, created on first use."""

from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from arachne.runtime.simulation import current as current_simulation

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["DaemonThreadPool", "Pools"]

P = ParamSpec("P")
T = TypeVar("T")

_Work = tuple["Future[Any]", "Callable[..., Any]", tuple[Any, ...], dict[str, Any]]


class DaemonThreadPool(Executor):
    """A thread pool whose workers never hold the interpreter open.

    ``ThreadPoolExecutor`` joins its workers when the interpreter exits, so one call blocked
    for ever (a read with no timeout, a lock never released) keeps the process alive after
    its execution was cancelled. These workers are daemon threads: a call abandoned by a
    cancel or a timeout goes on in the background until it returns, holding nothing up.
    Workers start as calls arrive, up to ``workers``, and are reused while idle.
    """

    def __init__(self, workers: int, name: str) -> None:
        self._workers = workers
        self._spares = workers  # workers that may still be added in place of lost ones
        self._name = name
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # workers waiting for a call
        self._queued = 0  # calls not yet taken by a worker
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue ``fn(*args, **kwargs)``; start a worker if none is idle and there is room."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the thread pool {self._name} is shut down")
            self._work.put((future, fn, args, kwargs))
            self._queued += 1
            self._grow()
        return future

    def write_off(self) -> None:
        """One worker runs a call given up for good: allow another in its place.

        At most as many as the pool started with, so calls that all hang cost a bounded
        number of threads; past that, new calls wait (and time out) behind the hung ones.
        """
        with self._lock:
            if self._spares:
                self._spares -= 1
                self._workers += 1
                self._grow()

    def _grow(self) -> None:
        """Start a worker if calls wait that no idle worker will take (under the lock)."""
        if self._queued > self._idle and len(self._threads) < self._workers:
            thread = threading.Thread(
                target=self._serve, name=f"{self._name}_{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _serve(self) -> None:
        with self._lock:
            self._idle += 1
        while True:
            work = self._work.get()
            with self._lock:
                self._idle -= 1
                if work is not None:
                    self._queued -= 1
            if work is None:
                self._work.put(None)  # the others stop too
                return
            future, fn, args, kwargs = work
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # the caller's to see, whatever it is
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                del future, fn, args, kwargs, work
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking calls; drop queued ones if asked; wait for running ones if asked."""
        with self._lock:
            self._closed = True
            if cancel_futures:
                while True:
                    try:
                        work = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if work is not None:
                        self._queued -= 1
                        work[0].cancel()
            self._work.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


class Pools:
    """A thread pool and a process pool shared by the nodes of one execution.

    Processes are started with ``spawn``: the loop thread makes ``fork`` unsafe, and a spawned
    worker imports the node's module by name, so process-mode functions live at module level.
    """

    def __init__(self, name: str, threads: int = 1, processes: int = 1) -> None:
        self._name = name
        self._thread_workers = 1
        self._process_workers = 1
        self._threads: DaemonThreadPool | None = None
        self._processes: ProcessPoolExecutor | None = None
        self._retired: list[Executor] = []
        self.abandoned = False  # a call was given up (timed out) while it still ran
        self._process_spares = 1  # process pools that may be replaced after a hung call
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
        """Return the thread pool (one worker per unit of thread-mode concurrency).

        Under simulation, the simulation's executor: calls run on the loop, in virtual time.
        """
        simulation = current_simulation()
        if simulation is not None:
            return simulation.executor()
        if self._threads is None:
            self._threads = DaemonThreadPool(self._thread_workers, f"{self._name}-worker")
        return self._threads

    def processes(self) -> Executor:
        """Return the process pool (at most one worker per CPU); the simulation's under one."""
        simulation = current_simulation()
        if simulation is not None:
            return simulation.executor()
        if self._processes is None:
            # Imported here: multiprocessing costs about 0.6 MB of memory, paid only when used.
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._processes = ProcessPoolExecutor(
                self._process_workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._processes

    def write_off(self, mode: str) -> None:
        """Keep the worker of a call given up while it runs (in ``mode``) out of the way.

        A thread pool gets a worker in its place; a process pool is retired (its calls still
        land; its workers are terminated at the end) and the next call starts a fresh one,
        once: a second hung process call waits behind the first.
        """
        self.abandoned = True
        if mode == "thread" and self._threads is not None:
            self._threads.write_off()
        elif mode == "process" and self._processes is not None and self._process_spares:
            self._process_spares -= 1
            self._retired.append(self._processes)
            self._processes = None

    @property
    def started(self) -> bool:
        """Whether any pool was started (and so has workers to wait for)."""
        return bool(self._retired) or self._threads is not None or self._processes is not None

    def close(self, *, abandon: bool = False) -> None:
        """Shut every pool down, dropping calls not yet started.

        Running calls are waited for, unless ``abandon`` (a cancel, a failure, a call that
        timed out): then thread workers are left to end by themselves (they are daemons) and
        process workers are terminated, so a call blocked for ever holds nothing up.
        """
        for pool in (*self._retired, self._threads, self._processes):
            if pool is None:
                continue
            # The process pool has no public way to stop a busy worker (3.14 adds
            # terminate_workers); its table of processes, read before shutdown clears it, is.
            workers = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=not abandon, cancel_futures=True)
            if abandon:
                for process in workers:
                    process.terminate()
        self._retired.clear()
