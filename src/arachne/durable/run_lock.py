"""Which process runs a run: a lock file per run beside the store, held while the run is open.

Two processes must never write one run's checkpoints and sinks at once: the second would
resume from the first's checkpoints while the first goes on writing the same files. Each run
takes an exclusive ``flock`` on its own file in ``<store>.locks/`` when it is opened; a
process that ends (``kill -9`` included) lets go of it with its descriptors, so a crashed run
is never locked out. Within one process a run may be opened again (the lock is counted), so
threads and tests that reopen a run do not trip over their own lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path
from typing import Final

try:
    import fcntl

    _LOCKS: bool = True
except ImportError:  # pragma: no cover  # (Windows: no lock, one process per run by hand)
    _LOCKS = False

__all__ = ["RunBusy", "RunLock"]

_HELD: Final[dict[str, list[int]]] = {}  # lock file -> [descriptor, opens] in this process
_GUARD: Final = threading.Lock()


class RunBusy(ValueError):
    """Another process has the run open (and is running it)."""


class RunLock:
    """Holds run ``name`` of the store at ``store_path`` for this process until released."""

    def __init__(self, store_path: Path, name: str) -> None:
        folder = Path(f"{store_path}.locks")
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        self.path = str(folder / f"{digest}.lock")
        self.name = name
        self._held = False
        if not _LOCKS:
            return
        with _GUARD:
            held = _HELD.get(self.path)
            if held is not None:
                held[1] += 1
                self._held = True
                return
            folder.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise RunBusy(
                    f"run {name!r} is being run by another process on {str(store_path)!r}; "
                    "wait for it to end (or stop it) before running it again"
                ) from None
            _HELD[self.path] = [fd, 1]
            self._held = True

    def release(self) -> None:
        """Let go (the last release in this process unlocks the run for others)."""
        if not self._held:
            return
        self._held = False
        with _GUARD:
            held = _HELD.get(self.path)
            if held is None:
                return
            held[1] -= 1
            if held[1] == 0:
                del _HELD[self.path]
                with contextlib.suppress(OSError):
                    os.close(held[0])
