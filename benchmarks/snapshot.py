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


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Where the copy lives, the environment that imports it, and which version it is."""

    path: Path
    env: dict[str, str]
    commit: str
    hash: str

    def describe(self) -> str:
        return f"commit {self.commit}, src {self.hash} (frozen copy at start)"


@contextmanager
def open_snapshot(root: Path) -> Iterator[Snapshot]:
    """Copy ``root/src`` to a temporary directory for the duration of the block."""
    with tempfile.TemporaryDirectory(prefix="arachne-bench-") as tmp:
        commit = git_head(root)
        copy = Path(tmp) / "src"
        shutil.copytree(root / "src", copy, ignore=shutil.ignore_patterns("__pycache__"))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(copy), env.get("PYTHONPATH")) if p)
        yield Snapshot(copy, env, commit, fingerprint(copy))
