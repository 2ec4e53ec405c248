"""Code components on the command line: ``components add`` / ``remove`` and ``--allow-code``.

``arachne components add FILE --allow-code`` checks a JSON definition (every field, and its
source built once in a confined worker) and keeps a copy in the components folder:
``.arachne/components`` under the working directory, or ``ARACHNE_COMPONENTS_DIR``. Every
command that reads documents registers what that folder holds; with ``--allow-code`` they run,
without it a graph naming one is refused with the fix.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from arachne.components.code import IsolatePool, enable_code, read_definition
from arachne.components.definition import ComponentDefinition
from arachne.components.registry import CODE_REFUSED
from arachne.model.errors import SpecError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from arachne.components.registry import Registry
    from arachne.model.node import Node

__all__ = ["FOLDER_VARIABLE", "add_component", "components_folder", "load_stored", "remove"]

FOLDER_VARIABLE: Final = "ARACHNE_COMPONENTS_DIR"
"""An environment variable naming the folder of added code components."""

_MAX_FILE: Final = 8 << 20

_NO_POOL: Final = IsolatePool(1)
"""Stand-ins are read, never run: no worker of this pool is ever started."""


def components_folder() -> Path:
    """Return the folder added code components are kept in (it may not exist yet)."""
    named = os.environ.get(FOLDER_VARIABLE)
    return Path(named) if named else Path.cwd() / ".arachne" / "components"


def add_component(registry: Registry, path: Path) -> tuple[str, Path, bool]:
    """Check the definition in ``path`` and keep it in the folder.

    Returns its id, the copy's path, and whether it replaced one added before.
    """
    data = _read(path)
    stored = _is_stored(data)
    definition = registry.add_code(data, where=str(path), replace=stored)
    folder = components_folder()
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{definition.id}.json"
    copy.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return definition.id, copy, stored


def remove(component_id: str) -> Path:
    """Remove an added code component's copy; return the path it had."""
    if not component_id or Path(component_id).name != component_id or component_id[0] == ".":
        raise ValueError(f"{component_id!r} is not a component id such as custom.math.square")
    copy = components_folder() / f"{component_id}.json"
    if not copy.is_file():
        there = sorted(p.stem for p in components_folder().glob("*.json"))
        raise ValueError(
            f"no added code component {component_id!r} in {components_folder()}; "
            f"there are: {', '.join(there) or 'none'}"
        )
    copy.unlink()
    return copy


def load_stored(registry: Registry, *, allow_code: bool) -> list[str]:
    """Register the folder's code components (refusing placeholders without ``allow_code``)."""
    if allow_code:
        enable_code(registry)
    folder = components_folder()
    if not folder.is_dir():
        return []
    ids = []
    for path in sorted(folder.glob("*.json")):
        data = _read(path)
        if allow_code:
            ids.append(registry.add_code(data, where=str(path)).id)
            continue
        component_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(component_id, str):
            raise SpecError(f"{path}: a component definition needs an id; remove the file")
        registry.register(_refused(component_id, data, path))
        ids.append(component_id)
    return ids


def _refused(component_id: str, data: Mapping[str, Any], path: Path) -> ComponentDefinition:
    """Return a stand-in that names the fix when a graph uses the component without code.

    It shows the component's ports and config as its definition gives them (read, not run).
    """

    def refuse(config: Mapping[str, Any]) -> Node:
        raise SpecError(f"component {component_id!r} (from {path}): {CODE_REFUSED}")

    try:
        shown = read_definition(data, _NO_POOL, where=str(path)).definition()
    except ValueError as exc:
        raise SpecError(f"{exc}; fix the file or remove it") from None
    return replace(shown, factory=refuse, description="a code component; it runs with --allow-code")


def _is_stored(data: object) -> bool:
    component_id = data.get("id") if isinstance(data, dict) else None
    return (
        isinstance(component_id, str) and (components_folder() / f"{component_id}.json").is_file()
    )


def _read(path: Path) -> Any:
    if path.stat().st_size > _MAX_FILE:
        raise ValueError(f"{path}: a component definition of over {_MAX_FILE:,} bytes")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not a JSON component definition ({exc})") from None
