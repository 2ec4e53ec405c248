#!/usr/bin/env python3
"""Vendor the web dashboard's JavaScript from the npm registry, pinned and verified.

Run from anywhere (needs only ``npm`` on ``PATH`` and the standard library)::

    uv run python scripts/vendor_js.py            # (re)write src/arachne/server/static/vendor/
    uv run python scripts/vendor_js.py --check    # re-download; exit 1 if the tree differs

Each package in ``PACKAGES`` is fetched with ``npm pack NAME@VERSION`` and its tarball is
accepted only if its sha512 equals both the integrity pinned below and the registry's
``dist.integrity``, and its ``package.json`` names the pinned license. The listed files are
copied byte for byte, together with the license texts, into ``vendor/<dir>/``, and
``vendor/VERSIONS.json`` records what was taken from where. The script owns ``vendor/``
wholly: a file there that it did not produce is removed (or, under ``--check``, reported).
Output depends only on the pins, so two runs give identical files.

To bump a package, change its ``version`` and ``integrity`` (``npm view NAME@VERSION
dist.integrity``), run the script, and load the dashboard in a browser.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "src" / "arachne" / "server" / "static" / "vendor"
MANIFEST = "VERSIONS.json"


@dataclass(frozen=True)
class Package:
    """One pinned npm package and the files taken from it.

    ``files`` maps a path inside the tarball (without its top folder) to the file name under
    ``vendor/<dir>/``. The browser files are flattened on purpose: the repository's
    ``.gitignore`` ignores every folder named ``dist/``, so an upstream ``dist/`` layout would
    never be committed.
    """

    dir: str
    name: str
    version: str
    license: str
    integrity: str
    browser_global: str
    files: dict[str, str]

    @property
    def spec(self) -> str:
        """Return ``name@version`` as npm reads it."""
        return f"{self.name}@{self.version}"

    @property
    def tarball_url(self) -> str:
        """Return the tarball's address on the public registry, for the record."""
        basename = self.name.rsplit("/", 1)[-1]
        return f"https://registry.npmjs.org/{self.name}/-/{basename}-{self.version}.tgz"


# In <script> load order: the dagre extension reads the `dagre` and `cytoscape` globals.
PACKAGES = (
    Package(
        dir="cytoscape",
        name="cytoscape",
        version="3.34.4",
        license="MIT",
        integrity=(
            "sha512-msY99tMY8iWTg+sIPGfSqDcPNOt4xcj+v/K/7qUFaCUxxlqnMkUYLBjRUzn9W5CU"
            "/R2hrmtJa5+UtovrEM2ctg=="
        ),
        browser_global="cytoscape",
        files={"dist/cytoscape.min.js": "cytoscape.min.js", "LICENSE": "LICENSE"},
    ),
    # The maintained successor of `dagre` 0.8.5, which cytoscape-dagre 2.5.0 declares and which
    # works too: same `dagre` global and API (cytoscape-dagre 3.x moved to it), 49 KB instead
    # of 284 KB, and no bundled lodash 4.17.15 whose license text the old tarball lacks.
    Package(
        dir="dagre",
        name="@dagrejs/dagre",
        version="3.1.3",
        license="MIT",
        integrity=(
            "sha512-X4aUTwOReZvthaZWOVHqlJ52/ZdhZFEM4+Lh/uR4XooUSLE6p71bcy7MPGzYnNUcNh+n"
            "j+i/qJQpCMIdQnSmrg=="
        ),
        browser_global="dagre",
        files={
            "dist/dagre.min.js": "dagre.min.js",
            # dagre.min.js ends with "For license information please see dagre.min.js.LEGAL.txt".
            "dist/dagre.min.js.LEGAL.txt": "dagre.min.js.LEGAL.txt",
            "LICENSE": "LICENSE",
        },
    ),
    Package(
        dir="cytoscape-dagre",
        name="cytoscape-dagre",
        version="2.5.0",
        license="MIT",
        integrity=(
            "sha512-VG2Knemmshop4kh5fpLO27rYcyUaaDkRw+6PiX4bstpB+QFt0p2oauMrsjVbUamGWQ6YN"
            "avh7x2em2uZlzV44g=="
        ),
        browser_global="cytoscapeDagre",
        files={"cytoscape-dagre.js": "cytoscape-dagre.js", "LICENSE": "LICENSE"},
    ),
)


class VendorError(Exception):
    """A download, a checksum or a pin did not match; the message says which and what to do."""


def sri_sha512(data: bytes) -> str:
    """Return the Subresource-Integrity sha512 string of ``data``, as npm records it."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def run_npm(npm: str, args: list[str], cwd: Path) -> str:
    """Run npm with ``args`` in ``cwd`` and return its standard output."""
    # The arguments come from the pins above, never from the command line.
    done = subprocess.run(  # noqa: S603
        [npm, *args, "--loglevel=error"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise VendorError(f"`npm {' '.join(args)}` failed:\n{done.stderr.strip()}")
    return done.stdout


def fetch_tarball(npm: str, package: Package, workdir: Path) -> bytes:
    """Download ``package``'s tarball and return it once both checksums agree."""
    registry = json.loads(run_npm(npm, ["view", package.spec, "dist.integrity", "--json"], workdir))
    dest = workdir / package.dir
    dest.mkdir()
    run_npm(npm, ["pack", package.spec, "--pack-destination", str(dest), "--ignore-scripts"], dest)
    tarballs = list(dest.glob("*.tgz"))
    if len(tarballs) != 1:
        raise VendorError(f"`npm pack {package.spec}` left {len(tarballs)} tarballs, expected 1")
    data = tarballs[0].read_bytes()
    actual = sri_sha512(data)
    if actual != package.integrity:
        raise VendorError(
            f"{package.spec}: the tarball's integrity is {actual}, but {package.integrity} is "
            f"pinned in scripts/vendor_js.py (the registry says {registry}); "
            "if you changed the version, pin the registry's value"
        )
    if actual not in str(registry).split():
        raise VendorError(
            f"{package.spec}: the tarball matches the pin but the registry's dist.integrity is "
            f"{registry}; check your npm registry setting (`npm config get registry`)"
        )
    return data


def unpack(package: Package, data: bytes) -> dict[str, bytes]:
    """Return the wanted files of the tarball ``data``, keyed by their name under ``vendor/``."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = {
            # Tarballs hold one top folder, usually `package/`; some packages name it otherwise.
            member.name.split("/", 1)[1]: member
            for member in tar.getmembers()
            if member.isfile() and "/" in member.name
        }
        meta = json.loads(_read_member(tar, members, package, "package.json"))
        if meta.get("license") != package.license:
            raise VendorError(
                f"{package.spec}: package.json says license {meta.get('license')!r}, "
                f"{package.license!r} is pinned; review the new license before changing the pin"
            )
        return {
            f"{package.dir}/{target}": _read_member(tar, members, package, source)
            for source, target in package.files.items()
        }


def _read_member(
    tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], package: Package, path: str
) -> bytes:
    member = members.get(path)
    handle = tar.extractfile(member) if member is not None else None
    if handle is None:
        raise VendorError(
            f"{package.spec} has no file {path!r}; fix its `files` in scripts/vendor_js.py"
        )
    with handle:
        return handle.read()


def manifest(taken: dict[str, bytes]) -> bytes:
    """Return ``VERSIONS.json``: every package, its pins, and each file's source and sha256."""
    entries = [
        {
            "name": package.name,
            "version": package.version,
            "license": package.license,
            "integrity": package.integrity,
            "tarball": package.tarball_url,
            "dir": package.dir,
            "browser_global": package.browser_global,
            "files": {
                target: {
                    "from": source,
                    "sha256": hashlib.sha256(taken[f"{package.dir}/{target}"]).hexdigest(),
                }
                for source, target in package.files.items()
            },
        }
        for package in PACKAGES
    ]
    document = {
        "generated_by": "scripts/vendor_js.py; edit the pins there, never this file",
        "load_order": [f"{p.dir}/{_browser_file(p)}" for p in PACKAGES],
        "packages": entries,
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _browser_file(package: Package) -> str:
    return next(target for target in package.files.values() if target.endswith(".js"))


def expected_tree(npm: str) -> dict[str, bytes]:
    """Download every package and return the whole ``vendor/`` tree it should hold."""
    tree: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="arachne-vendor-js-") as tmp:
        for package in PACKAGES:
            tree.update(unpack(package, fetch_tarball(npm, package, Path(tmp))))
    tree[MANIFEST] = manifest(tree)
    return tree


def current_tree() -> dict[str, bytes]:
    """Return the files now under ``vendor/``, keyed by their POSIX path inside it."""
    if not VENDOR.is_dir():
        return {}
    return {
        path.relative_to(VENDOR).as_posix(): path.read_bytes()
        for path in sorted(VENDOR.rglob("*"))
        if path.is_file()
    }


def differences(
    expected: dict[str, bytes], current: dict[str, bytes], words: tuple[str, str, str]
) -> list[str]:
    """Return one line per file under ``vendor/`` that is new, changed or stale.

    ``words`` names those three cases in the report, as ``(new, changed, stale)``.
    """
    new, changed, stale = words
    width = max(map(len, words)) + 1
    lines = []
    for path in sorted(expected.keys() | current.keys()):
        if path not in current:
            lines.append(f"{new + ':':<{width}} {path}")
        elif path not in expected:
            lines.append(f"{stale + ':':<{width}} {path}")
        elif current[path] != expected[path]:
            lines.append(f"{changed + ':':<{width}} {path}")
    return lines


def write_tree(expected: dict[str, bytes], current: dict[str, bytes]) -> None:
    """Make ``vendor/`` hold exactly ``expected``, touching only files that change."""
    for path in sorted(current.keys() - expected.keys()):
        (VENDOR / path).unlink()
    for path, data in sorted(expected.items()):
        if current.get(path) != data:
            target = VENDOR / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    for folder in sorted(VENDOR.rglob("*"), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def main(argv: list[str] | None = None) -> int:
    """Vendor or check the pinned packages; return the process exit code."""
    parser = argparse.ArgumentParser(
        description="Vendor the dashboard's JavaScript from npm, pinned and verified."
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="re-download and exit 1 if vendor/ differs from what the pins produce",
    )
    args = parser.parse_args(argv)
    npm = shutil.which("npm")
    if npm is None:
        sys.stderr.write("vendor_js: npm not found on PATH; install Node.js (it ships npm)\n")
        return 2
    try:
        expected = expected_tree(npm)
    except (VendorError, subprocess.TimeoutExpired) as exc:
        sys.stderr.write(f"vendor_js: {exc}\n")
        return 1
    current = current_tree()
    shown = VENDOR.relative_to(ROOT).as_posix()
    if args.check:
        changes = differences(expected, current, ("missing", "differs", "unexpected"))
        if changes:
            sys.stderr.write(
                f"vendor_js: {shown} does not match the pins; run scripts/vendor_js.py:\n"
                + "".join(f"  {line}\n" for line in changes)
            )
            return 1
        sys.stderr.write(f"vendor_js: {shown} matches the pins ({len(expected)} files)\n")
        return 0
    changes = differences(expected, current, ("added", "changed", "removed"))
    write_tree(expected, current)
    sys.stderr.write(
        "".join(f"  {line}\n" for line in changes)
        + f"vendor_js: {shown} holds {len(expected)} files, {len(changes)} changed\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
