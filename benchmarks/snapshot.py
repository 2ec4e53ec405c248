"""A frozen copy of ``src/`` for the children to import, so one run measures one version.

Other work may edit or commit ``src/`` while a long run is going; the children import the
copy taken when the run started (it comes first on ``PYTHONPATH``, ahead of the editable
install), and the run names that version: commit and a hash of the files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.nobus import strip_event_sites


def fingerprint(src: Path) -> str:
    """Return a short hash of every ``.py`` file under ``src`` (paths and contents)."""
    digest = hashlib.sha256()
    for path in sorted(src.rglob("*.py")):
        digest.update(path.relative_to(src).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def git_head(root: Path) -> str:
    """Return the short commit checked out in ``root``, or 'unknown'."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607  # git from PATH
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


NO_BUS_SUFFIX = "_nobus"
"""Implementations whose name ends so import the copy with the event sites cut out."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Where the copy lives, the environments that import it, and which version it is.

    ``nobus_env`` imports a second copy with every event-firing site removed (see
    ``benchmarks/nobus.py``); ``event_sites`` says how many were.
    """

    path: Path
    env: dict[str, str]
    commit: str
    hash: str
    nobus_env: dict[str, str]
    event_sites: int

    def describe(self) -> str:
        return (
            f"commit {self.commit}, src {self.hash} (frozen copy at start); "
            f"*{NO_BUS_SUFFIX}: the same with {self.event_sites} event sites cut out"
        )

    def env_for(self, impl: str) -> dict[str, str]:
        """Return the environment an implementation's child process imports Arachne with."""
        return self.nobus_env if impl.endswith(NO_BUS_SUFFIX) else self.env


@contextmanager
def open_snapshot(root: Path) -> Iterator[Snapshot]:
    """Copy ``root/src`` to a temporary directory for the duration of the block."""
    with tempfile.TemporaryDirectory(prefix="arachne-bench-") as tmp:
        commit = git_head(root)
        copy = Path(tmp) / "src"
        shutil.copytree(root / "src", copy, ignore=shutil.ignore_patterns("__pycache__"))
        nobus = Path(tmp) / "src-nobus"
        shutil.copytree(copy, nobus)
        sites = strip_event_sites(nobus / "arachne" / "runtime")
        yield Snapshot(copy, _env(copy), commit, fingerprint(copy), _env(nobus), sites)


def _env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH")) if p)
    return env
